"""The archive of what the reviews read, and the views of the project the kernels read.

Before the kernels of a run start, the content of every file a review reads (the exports, the
config and the notebook) is archived under ``<project>/.reviewkit/frozen/<sha256>`` unless that
content is archived already, so a review can be re-run later with exactly those files
(:mod:`reviewkit.publish.report.snapshots`). The archive holds copies, not hard links: an export
refreshed in place (``cp``, ``curl -o``, a shell ``>``, an editor) keeps its inode, and a hard
link would change with it. The kernels read those archived copies through a view of the project
kept under ``.reviewkit/views`` (:func:`frozen_view`) and run the archived notebook, so every
review of a run reads exactly what its snapshot records, even when an export is rewritten while
the run goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reviewkit.base.errors import ReviewkitError, shown_path
from reviewkit.base.files import relative, replacing
from reviewkit.inputs import config_files
from reviewkit.project import Project
from reviewkit.sources.cache import SourceCache
from reviewkit.sources.loading import source_files

#: where the content of every file a published review read is archived, under the project
FROZEN = Path(".reviewkit") / "frozen"
#: where the runs' views of the project (what the kernels read) are kept, under the project
VIEWS = Path(".reviewkit") / "views"

#: what a snapshot records of a review's inputs, all a reproduction needs besides period and team
INPUT_KEYS = ("exports", "config", "notebook_sha256", "store_last_event_id")
_CHUNK = 1 << 20


def freeze(root: Path, files: Mapping[Path, str]) -> None:
    """Archive each file's content (its SHA-256 just read) as ``root/.reviewkit/frozen/<hash>``
    unless that content is archived already: copied (hashing as it goes, so the archive holds
    exactly that content), flushed, read-only, with the file's modification time, then renamed
    into place. Raises :class:`ReviewkitError` when a file changed since it was hashed."""
    archive = root / FROZEN
    for path, digest in files.items():
        target = archive / digest
        if target.is_file():
            continue
        with replacing(target) as tmp:
            try:
                copied = _copy_hashing(path, tmp)
            except OSError as exc:
                raise ReviewkitError(
                    f"cannot archive {shown_path(path)} in {shown_path(archive)} for "
                    f"reproducing the review later: {exc.strerror or exc}; free some space or "
                    "make the folder writable"
                ) from None
            if copied != digest:
                raise ReviewkitError(
                    f"{shown_path(path)} changed while the review was starting; run the "
                    "report again once it is written"
                )
            shutil.copystat(path, tmp)
            tmp.chmod(0o444)


def _copy_hashing(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target``; the SHA-256 of what was copied."""
    digest = hashlib.sha256()
    with source.open("rb") as reader, target.open("wb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
    return digest.hexdigest()


def view_layout(project: Project, inputs: Mapping[str, Any]) -> dict[str, str] | None:
    """Each export and config file by its path relative to the project as the kernel reaches it
    (symbolic links not followed), with the content hash its snapshot records; None when a file
    is reached by a relative path that leaves the project (``../shared/x.csv``), which a view
    cannot mirror. Exports given by an absolute path are left out: they are read where they
    are."""
    root = project.root
    recorded = {**inputs["exports"], **inputs["config"]}
    files = [
        path
        for source in project.config.sources.values()
        if not Path(source.path).is_absolute()
        for path in source_files(project.config, source)
    ]
    files += [path for path in config_files(project.config) if path.is_relative_to(root)]
    store = project.config.store_location  # a file: root / the configured path
    if (
        isinstance(store, Path)
        and store.is_relative_to(root)
        and ".." in Path(os.path.relpath(store, root)).parts
    ):
        return None
    layout = {}
    for path in files:
        reached = Path(os.path.relpath(path, root))
        if ".." in reached.parts:
            return None
        layout[reached.as_posix()] = recorded[relative(path, root)]
    return layout


def frozen_view(
    root: Path,
    cache: SourceCache,
    layout: Mapping[str, str],
    notebook_sha256: str,
    store: Path | str,
    notebook: Path,
    scratch: Path,
) -> tuple[Path, Path]:
    """The project and the notebook as the kernels read them: every export and config file of
    ``layout`` (see :func:`view_layout`) at its path in a copy of the project folder, as a hard
    link to its archived copy under :data:`FROZEN` (read-only, content fixed; a copy where hard
    links are not possible), with the parsed-export cache and the store of the project; beside
    it, the archived notebook under its own name. Every review of a run thus reads exactly the
    exports, config and notebook its snapshot records, even when an export is rewritten while
    the run goes on.

    The view is kept under :data:`VIEWS`, named after what it holds and whose it is (the
    project's absolute path and store): runs on the same inputs share it (their pages come out
    the same, and its files are hashed once, here), and an executed notebook's ``project_dir``
    parameter stays a folder with what it read. A view that is not whole or not this project's
    (a project copied with its ``.reviewkit``, a view left half-built) is built again in
    ``scratch`` and renamed into place, so it is whole or absent."""
    shared = [(root / ".reviewkit" / "cache", Path(".reviewkit") / "cache")]
    if isinstance(store, Path):  # a PostgreSQL store is reached where it is
        relative_store = Path(os.path.relpath(store, root))
        if ".." not in relative_store.parts:  # the store: the project's own, not a copy
            shared.append((store, relative_store))
    links = {link.as_posix(): str(target.resolve()) for target, link in shared}
    held = json.dumps(
        {"files": layout, "notebook": notebook_sha256, "root": str(root.resolve()), "links": links},
        sort_keys=True,
    )
    final = root / VIEWS / hashlib.sha256(held.encode("utf-8")).hexdigest()[:20]
    view, frozen_notebook = final / root.name, final / notebook.name
    if not _whole(view, frozen_notebook, links):
        building = scratch / "view"
        copy = building / root.name
        copy.mkdir(parents=True)
        for reached, digest in layout.items():
            place(root / FROZEN / digest, copy / reached)
        # papermill wants the notebook's name to end in .ipynb
        place(root / FROZEN / notebook_sha256, building / notebook.name)
        for link, target in links.items():
            (copy / link).parent.mkdir(parents=True, exist_ok=True)
            (copy / link).symlink_to(target)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists() and not _whole(view, frozen_notebook, links):
            # not whole, or not this project's: out of the way, into scratch (a whole one is a
            # concurrent run's, whose kernels may be reading it)
            with contextlib.suppress(FileNotFoundError):  # a concurrent run moved it
                final.rename(scratch / "stale-view")
        try:
            building.rename(final)
        except OSError:
            if not _whole(view, frozen_notebook, links):  # else a concurrent run was faster
                raise
    for reached, digest in layout.items():
        if cache.digest(view / reached) != digest:
            raise ReviewkitError(
                f"the archived copy of {reached} ({(FROZEN / digest).as_posix()}) no longer has "
                f"the content it was archived with; delete it and {VIEWS.as_posix()}, and run "
                "the report again"
            )
    return view, frozen_notebook


def _whole(view: Path, notebook: Path, links: Mapping[str, str]) -> bool:
    """Whether a kept view has its notebook and links to this project's cache and store."""
    return notebook.is_file() and all(
        (view / link).is_symlink() and str((view / link).readlink()) == target
        for link, target in links.items()
    )


def find_recorded(
    root: Path, cache: SourceCache, current: Path, shown: str, digest: str, snapshot_path: Path
) -> Path:
    """Where the content ``digest`` the review read from ``current`` (``shown`` in messages)
    is now: that file when unchanged, else its archived copy (checked); a clear error when
    neither has it."""
    if current.is_file() and cache.digest(current) == digest:
        return current
    archived = root / FROZEN / digest
    where = (FROZEN / digest).as_posix()
    if not archived.is_file():
        now = "has other content now" if current.is_file() else "is gone"
        raise ReviewkitError(
            f"cannot reproduce {shown_path(snapshot_path)}: {shown} as the review read it "
            f"(sha256 {digest}) {now} and is not archived as {where} (the review was "
            "published before reviewkit archived its inputs, or the archive was deleted); put "
            f"that version of {shown} back (from a backup or version control), or copy it to "
            f"{where}, and run again"
        )
    if cache.digest(archived) != digest:
        raise ReviewkitError(
            f"cannot reproduce {shown_path(snapshot_path)}: the archived copy of {shown} "
            f"({where}) no longer has the content it was archived with; restore that version "
            f"of {shown} from a backup or version control and copy it there"
        )
    return archived


def place(source: Path, target: Path) -> None:
    """``target`` with ``source``'s content and times, for a view or a reproduction to read: a
    hard link (nothing writes to it), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.hardlink_to(source.resolve())
    except OSError:
        shutil.copy2(source, target)
