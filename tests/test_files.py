"""reviewkit.base.files: every atomic write in the package goes through here, so pin what it promises:
the target is whole or untouched, no temporary file is left, modes honour the umask, the file
and its folder reach the disk, and a full disk says so clearly."""

from __future__ import annotations

import errno
import os
import pwd
from pathlib import Path

import pytest

import reviewkit.base.files
from reviewkit.base.errors import ReviewkitError, permission_denied
from reviewkit.base.files import TEMPORARY, atomic_write, cannot_write, replacing


def test_replacing_moves_what_was_written_over_the_target(tmp_path: Path) -> None:
    target = tmp_path / "export.csv"
    target.write_text("old\n")
    with replacing(target) as tmp:
        assert tmp.parent == tmp_path
        assert tmp.read_bytes() == b""  # created empty, for writers that stream into it
        owner = TEMPORARY.match(tmp.name)
        assert owner is not None and int(owner[1]) == os.getpid()
        assert tmp.name.startswith(".export.csv.")
        tmp.write_text("new\n")
        assert target.read_text() == "old\n"
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["export.csv"]


@pytest.mark.parametrize("existed", [True, False])
def test_a_writer_that_raises_leaves_the_target_untouched(tmp_path: Path, existed: bool) -> None:
    target = tmp_path / "export.csv"
    if existed:
        target.write_text("old\n")
    with pytest.raises(RuntimeError, match="interrupted"), replacing(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("interrupted")
    if existed:
        assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == (["export.csv"] if existed else [])


def test_a_writer_may_replace_the_temporary_file(tmp_path: Path) -> None:
    """DuckDB rewrites a cached Parquet file into a sibling and renames it over the temporary
    path: what ends up at that path is what is flushed and published."""
    target = tmp_path / "table.parquet"
    with replacing(target) as tmp:
        rewritten = tmp.with_name(tmp.name + ".typed")
        rewritten.write_bytes(b"typed")
        rewritten.replace(tmp)
    assert target.read_bytes() == b"typed"
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_the_folder_is_created(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "2026-10" / "index.html"
    with replacing(target) as tmp:
        tmp.write_text("<html>")
    atomic_write({target.with_name("a.json"): b"{}"})
    assert target.read_text() == "<html>"
    assert target.with_name("a.json").read_bytes() == b"{}"


@pytest.mark.parametrize("umask", [0o002, 0o022, 0o077])
def test_modes_honour_the_umask(tmp_path: Path, umask: int) -> None:
    """Published files are created as any file the user writes: mode 0666 less the umask, so
    a web server or colleagues sharing the folder can read them (mkstemp would give 0600)."""
    previous = os.umask(umask)
    try:
        with replacing(tmp_path / "streamed.pdf") as tmp:
            tmp.write_bytes(b"%PDF")
        atomic_write({tmp_path / "a.html": b"a", tmp_path / "b.json": b"b"})
    finally:
        os.umask(previous)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["streamed.pdf", "a.html", "b.json"], 0o666 & ~umask)


def synced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record the (device, inode) of everything os.fsync flushes, in order."""
    calls: list[tuple[int, int]] = []
    real = os.fsync

    def record(fd: int) -> None:
        status = os.fstat(fd)
        calls.append((status.st_dev, status.st_ino))
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return calls


def identity(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_dev, status.st_ino


def test_replacing_flushes_the_file_then_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = synced(monkeypatch)
    target = tmp_path / "table.parquet"
    with replacing(target) as tmp:
        tmp.write_bytes(b"PAR1")
        assert calls == []  # not before the writer is done
    assert calls == [identity(target), identity(tmp_path)]


def test_atomic_write_flushes_every_file_then_each_folder_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = synced(monkeypatch)
    other = tmp_path / "other"
    other.mkdir()
    paths = [tmp_path / "a.html", tmp_path / "a.json", other / "b.html"]
    atomic_write({path: path.name.encode() for path in paths})
    assert [p.read_bytes() for p in paths] == [b"a.html", b"a.json", b"b.html"]
    assert calls == [*(identity(p) for p in paths), identity(tmp_path), identity(other)]


def test_a_folder_that_cannot_be_flushed_does_not_fail_the_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some network and FUSE filesystems refuse to flush a folder (EINVAL): the file itself is
    flushed and renamed, so the write stands."""
    real = os.fsync

    def files_only(fd: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        real(fd)

    monkeypatch.setattr(os, "fsync", files_only)
    target = tmp_path / "index.html"
    atomic_write({target: b"new"})
    assert target.read_bytes() == b"new"


def test_atomic_write_publishes_all_files_or_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "review.html", tmp_path / "review.snapshot.json"
    first.write_bytes(b"old page")
    second.write_bytes(b"old snapshot")
    real = reviewkit.base.files._stage

    def crash(tmp: Path, data: bytes) -> None:
        if ".review.snapshot.json." in tmp.name:
            tmp.write_bytes(data[:3])
            raise OSError(errno.EIO, "Input/output error")
        real(tmp, data)

    monkeypatch.setattr(reviewkit.base.files, "_stage", crash)
    with pytest.raises(OSError, match="Input/output error"):
        atomic_write({first: b"new page", second: b"new snapshot"})
    assert first.read_bytes() == b"old page"  # staged in full, yet not renamed
    assert second.read_bytes() == b"old snapshot"
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, second.name]


def test_a_full_disk_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Some filesystems (NFS) only report a full disk when the file is flushed."""
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "reports" / "index.html"
    target.parent.mkdir()
    target.write_bytes(b"old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ReviewkitError) as raised:
        atomic_write({target: b"new"})
    assert str(raised.value) == (
        "cannot write reports/index.html: no space left (disk full: No space left on device); "
        "free some space on that disk and run the report again (the reviews published before "
        "are untouched)"
    )
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["index.html"]


def test_other_write_errors_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    read_only = OSError(errno.EROFS, os.strerror(errno.EROFS))
    assert str(cannot_write(read_only, tmp_path / "reports")) == (
        "cannot write reports: Read-only file system; make the folder writable and run the "
        "report again"
    )


def test_a_folder_this_user_may_not_write_says_whose_it_is_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whose the folder is (or the one it would be made in), the user reviewkit runs as, and
    what that user needs; the path of the error itself when it has one."""
    monkeypatch.chdir(tmp_path)
    tmp_path.chmod(0o750)
    user = pwd.getpwuid(os.geteuid()).pw_name
    owner = pwd.getpwuid(tmp_path.stat().st_uid).pw_name
    denied = PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    assert str(cannot_write(denied, tmp_path / "reports" / "2026-10")) == (
        f"permission denied: reports/2026-10 ({tmp_path} belongs to {owner}, drwxr-x---) to "
        f"user {user}: the user running reviewkit must be able to read the project and to "
        "write its folder, reports/, .reviewkit/ and the store; give them to "
        f"{user} as docs/scheduling.md shows (systemd timer), or run reviewkit as {owner}"
    )
    (tmp_path / "reviewkit.db").write_bytes(b"")
    (tmp_path / "reviewkit.db").chmod(0o444)
    named = PermissionError(errno.EACCES, os.strerror(errno.EACCES), "reviewkit.db")
    assert str(permission_denied(named)).startswith(
        f"permission denied: reviewkit.db ({tmp_path / 'reviewkit.db'} belongs to {owner}, "
        f"-r--r--r--) to user {user}: "
    )


def test_temporary_names_are_told_apart_from_reports() -> None:
    owner = TEMPORARY.match(".billing.html.4242.0a1b2c3d.tmp")
    assert owner is not None and owner[1] == "4242"
    for name in ("billing.html", ".billing.html.tmp", ".billing.html.4242.0a1b2c3d.tmp.x"):
        assert TEMPORARY.match(name) is None, name
