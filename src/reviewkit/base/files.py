"""Writing files atomically: readers (and a crash) see the old file or the new one, whole.

Content goes to a temporary file beside the target, is flushed to disk (``fsync``), then renamed
over the target (``os.replace``), and the folder is flushed so the rename survives a power loss.

>>> atomic_write({Path("report.html"): page, Path("report.json"): snapshot})
>>> with replacing(Path("table.parquet")) as tmp:
...     pq.write_table(table, tmp)

Temporary files are named ``.<name>.<pid>.<random>.tmp`` (:data:`TEMPORARY`): a process killed
midway leaves only such dot files, which a later run can tell are left over and remove.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from reviewkit.base.errors import ReviewkitError, permission_denied, shown_path

__all__ = ["NO_SPACE", "TEMPORARY", "atomic_write", "cannot_write", "relative", "replacing"]

#: a temporary file of this module: ``.<name>.<pid>.<random>.tmp``, the pid as group 1
TEMPORARY = re.compile(r"\..+\.(\d+)\.\w+\.tmp\Z")
#: errors of a write that did not fit: the disk (or the user's quota) is full, or the file is
#: larger than the process may write
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` for the caller to write (a writer that streams,
    such as DuckDB or Chromium); if the block succeeds, it is flushed to disk and moved over
    ``target``, else removed and ``target`` is untouched."""
    with _temporary(target) as tmp:
        yield tmp
        _sync(tmp)
        _publish([(tmp, target)])


def atomic_write(files: Mapping[Path, bytes]) -> None:
    """Write each path's bytes so that readers see all the old files or all the new ones, whole:
    every file is written in full and flushed first, and only then are they all renamed into
    place. A disk that fills up gives a clear :class:`ReviewkitError`, the old files untouched."""
    with contextlib.ExitStack() as stack:
        staged = []
        for path, data in files.items():
            try:
                tmp = stack.enter_context(_temporary(path))
                _stage(tmp, data)
            except OSError as exc:
                if exc.errno in NO_SPACE or isinstance(exc, PermissionError):
                    raise cannot_write(exc, path) from None
                raise
            staged.append((tmp, path))
        _publish(staged)


def cannot_write(exc: OSError, path: Path) -> ReviewkitError:
    """A clear error for a write that failed: for a full disk or a folder this user may not
    write, where and what to do."""
    if isinstance(exc, PermissionError):
        return permission_denied(exc, path)
    shown = shown_path(path)
    if exc.errno in NO_SPACE:
        return ReviewkitError(
            f"cannot write {shown}: no space left (disk full: {exc.strerror}); free some space "
            "on that disk and run the report again (the reviews published before are untouched)"
        )
    return ReviewkitError(
        f"cannot write {shown}: {exc.strerror or exc}; make the folder writable and run the "
        "report again"
    )


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[Path]:
    """An empty temporary file beside ``path`` (its folder created if need be), removed unless
    the block moved it away. It is created as any file the user writes is, mode 0666 less the
    umask (``mkstemp``'s 0600 would publish reports that the web server or the colleagues
    sharing the folder cannot read)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


def _stage(tmp: Path, data: bytes) -> None:
    """Write ``data`` to ``tmp`` and flush it to disk, so a rename publishes whole content."""
    with tmp.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _sync(path: Path) -> None:
    """Flush ``path`` (a file, or a folder's entries) to disk. Opened anew: a writer may have
    replaced the file the temporary path first named."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(staged: Sequence[tuple[Path, Path]]) -> None:
    """Rename each flushed temporary file over its target, then flush their folders so the
    renames are on disk too."""
    for tmp, target in staged:
        tmp.replace(target)
    for folder in dict.fromkeys(target.parent for _, target in staged):
        try:
            _sync(folder)
        except OSError as exc:
            if exc.errno not in _FOLDER_SYNC_UNSUPPORTED:
                raise


#: what a filesystem that cannot flush a folder (some network and FUSE mounts) answers; the
#: renames are done and the files themselves flushed, so that is no reason to fail the write
_FOLDER_SYNC_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})


def relative(path: Path, root: Path) -> str:
    """``path`` as a snapshot records it: relative to the project ``root``, else absolute."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())
