"""`reviewkit init`: a new review project from the scaffold under ``templates/``."""

from __future__ import annotations

import shutil
from pathlib import Path

from reviewkit.base.errors import ReviewkitError, shown_path
from reviewkit.base.resources import templates_dir
from reviewkit.config import CONFIG_FILE

__all__ = ["init_project"]


def init_project(directory: Path, *, example: bool = False) -> list[Path]:
    """Create a project in ``directory`` (which may exist, but must not be a project yet).

    Every project gets ``templates/project/`` (its .gitignore). Then, by default, the starter
    (``templates/starter/``): a commented reviewkit.yaml with one example of each part, a tiny
    example of each export it reads and a links file; with ``example``, the sample company
    instead (its config and generated exports). Files already there are kept. Returns the
    files written.
    """
    target = directory / CONFIG_FILE
    if target.exists():
        raise ReviewkitError(
            f"{shown_path(target)} already exists; choose an empty directory or edit that file"
        )
    written = _copy_tree(templates_dir() / "project", directory)
    if not example:
        return written + _copy_tree(templates_dir() / "starter", directory)
    from reviewkit.scaffold.sample import generate  # noqa: PLC0415 (numpy-heavy, only for --example)

    shutil.copyfile(templates_dir() / "example" / CONFIG_FILE, target)
    return [*written, target, *generate(directory)]


def _copy_tree(scaffold: Path, directory: Path) -> list[Path]:
    """Copy the files under ``scaffold`` into ``directory``, keeping any already there."""
    written = []
    for source in sorted(scaffold.rglob("*")):
        destination = directory / source.relative_to(scaffold)
        if source.is_dir() or destination.exists():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)
        written.append(destination)
    return written
