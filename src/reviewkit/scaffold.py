"""`reviewkit init`: a new review project from the scaffold under ``templates/``."""

from __future__ import annotations

import shutil
from pathlib import Path

from reviewkit.config import CONFIG_FILE
from reviewkit.errors import ReviewkitError, shown_path

__all__ = ["init_project", "notebooks_dir", "templates_dir"]


def templates_dir() -> Path:
    """``templates/`` of a source checkout, or the copy packed into the wheel."""
    packed = Path(__file__).parent / "_templates"
    if packed.is_dir():
        return packed
    return Path(__file__).resolve().parents[2] / "templates"


def notebooks_dir() -> Path:
    """``notebooks/`` of a source checkout, or the copy packed into the wheel."""
    packed = Path(__file__).parent / "_notebooks"
    if packed.is_dir():
        return packed
    return Path(__file__).resolve().parents[2] / "notebooks"


def init_project(directory: Path, *, example: bool = False) -> list[Path]:
    """Create a project in ``directory`` (which may exist, but must not be a project yet).

    With ``example``, the project is the sample company: its config and generated exports.
    Returns the files written.
    """
    target = directory / CONFIG_FILE
    if target.exists():
        raise ReviewkitError(
            f"{shown_path(target)} already exists; choose an empty directory or edit that file"
        )
    written = []
    scaffold = templates_dir() / "project"
    for source in sorted(scaffold.rglob("*")):
        destination = directory / source.relative_to(scaffold)
        if source.is_dir() or destination.exists():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        written.append(destination)
    if example:
        from reviewkit.sample import generate  # noqa: PLC0415 (numpy-heavy, only for --example)

        shutil.copyfile(templates_dir() / "example" / CONFIG_FILE, target)
        written += generate(directory)
    return written
