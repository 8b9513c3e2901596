"""Where the notebooks and templates reviewkit ships are: ``notebooks/`` and ``templates/`` of a
source checkout, or the copies packed into the wheel (``reviewkit/_notebooks``, ``_templates``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["notebooks_dir", "templates_dir"]

_PACKAGE = Path(__file__).resolve().parents[1]


def _shipped(name: str) -> Path:
    packed = _PACKAGE / f"_{name}"
    if packed.is_dir():
        return packed
    return _PACKAGE.parents[1] / name


def templates_dir() -> Path:
    """``templates/`` of a source checkout, or the copy packed into the wheel."""
    return _shipped("templates")


def notebooks_dir() -> Path:
    """``notebooks/`` of a source checkout, or the copy packed into the wheel."""
    return _shipped("notebooks")
