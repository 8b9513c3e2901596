"""Shared fixtures: the sample company generated once per session, and small projects on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reviewkit.sample import generate
from reviewkit.scaffold import templates_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the sample project (config and generated exports), shared read-only."""
    root = tmp_path_factory.mktemp("northwind")
    shutil.copyfile(templates_dir() / "example" / "reviewkit.yaml", root / "reviewkit.yaml")
    generate(root)
    return root


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write ``reviewkit.yaml`` text into a temp project (the cwd, so paths print relative)."""
    monkeypatch.chdir(tmp_path)

    def write(text: str) -> Path:
        (tmp_path / "reviewkit.yaml").write_text(text, encoding="utf-8")
        return tmp_path

    return write
