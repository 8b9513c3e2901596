"""Fault injection, end to end (issue 9): real `reviewkit report` processes (their kernels,
papermill, nbconvert), a real `reviewkit serve` driven by headless Chromium, a real SQLite store.

- the store's file deleted, then made read-only, while served: a save fails with a message in
  the page, nothing earlier is lost, and saving works again once the file is back;
- the disk full while a report is published (a 2 MB tmpfs mounted on ``reports/``): a clear
  error, the published reviews byte-identical, no half-written file, a re-run succeeds;
- an export rewritten while a report runs: every review reads the content its snapshot records;
- `reviewkit report` SIGKILLed at random moments, ``$REVIEWKIT_FAULT_KILLS`` times (default 5;
  the soak run uses 20): each time the reviews published before are intact, nothing partial is
  visible, no kernel is left running, and a final run succeeds.

The reports run the real CLI with a small review notebook (:data:`NOTEBOOK`: it opens the
project, reads its export through reviewkit and prints what it read) in place of the monthly
review, so that a run takes seconds and a test can hold a kernel at a chosen moment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reviewkit import open_project
from reviewkit.store.core import Store, StoreError
from tests.conftest import SHOP_CONFIG, SHOP_ORDERS
from tests.test_serve import Server

# reports and servers faulted mid-run: real kernels
pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[1]
PERIOD = "2026-01"
#: how many times the kill test kills a report (the soak run sets 20)
KILLS = int(os.environ.get("REVIEWKIT_FAULT_KILLS", "5"))
CHROMIUM = Path("/usr/bin/chromium")
#: a page's kernel starts, imports and builds its widgets in 5-10 s on 2 busy cores
SLOW = 120_000

#: The review notebook of these tests: the parameters of the monthly review; with
#: $FAULT_HOOK, it says when its kernel runs and waits for the test before and after reading.
NOTEBOOK = {
    "cells": [
        {
            "id": "parameters",
            "cell_type": "code",
            "metadata": {"tags": ["parameters"]},
            "source": 'project = ""\nperiod = ""\nteam = ""\nprevious = ""\n',
            "outputs": [],
            "execution_count": None,
        },
        {
            "id": "open",
            "cell_type": "code",
            "metadata": {},
            "source": """\
import hashlib, json, os, time
from pathlib import Path
import reviewkit
from reviewkit.sources.loading import source_files

workspace = reviewkit.open_project(project)
hook = os.environ.get("FAULT_HOOK", "")
me = team or "company"


def wait(name):
    deadline = time.monotonic() + 120
    while not Path(hook, name).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


if hook:
    Path(hook, f"started-{me}").touch()
    wait(f"go-{me}")
""",
            "outputs": [],
            "execution_count": None,
        },
        {
            "id": "read",
            "cell_type": "code",
            "metadata": {},
            "source": """\
totals = workspace.sql("SELECT count(*) AS n, sum(amount) AS total FROM orders")
read = {
    path.relative_to(workspace.root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
    for source in workspace.config.sources.values()
    for path in source_files(workspace.config, source)
}
if hook:
    Path(hook, f"read-{me}").touch()
    wait(f"finish-{me}")
print("FAULT " + json.dumps(
    {"orders": int(totals["n"][0]), "revenue": float(totals["total"][0]), "read": read}
))
""",
            "outputs": [],
            "execution_count": None,
        },
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}

#: `reviewkit report` itself (the CLI's entry point), with the notebook above as its review
REPORTER = (
    "import sys; from pathlib import Path; import reviewkit.publish.report.run as r; "
    "notebook = Path(sys.argv.pop(1)); r.default_notebook = lambda: notebook; "
    "from reviewkit.cli import main; main()"
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Reports:
    """A small project (the conftest shop: two teams' orders in Jan-Feb 2026) and how to run
    `reviewkit report` on it as a process of its own, marked by an environment variable that
    its kernels inherit (so that kernels left running can be found)."""

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "project"
        (self.root / "data").mkdir(parents=True)
        (self.root / "data" / "orders.csv").write_text(SHOP_ORDERS, encoding="utf-8")
        (self.root / "reviewkit.yaml").write_text(SHOP_CONFIG, encoding="utf-8")
        self.reports = self.root / "reports"
        self.notebook = tmp / "fault_review.ipynb"
        self.notebook.write_text(json.dumps(NOTEBOOK), encoding="utf-8")
        self.env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
        for name in ("DATA", "RUNTIME", "CONFIG"):
            folder = tmp / f"jupyter-{name.lower()}"
            folder.mkdir()
            self.env[f"JUPYTER_{name}_DIR"] = str(folder)
        self.marker = f"REVIEWKIT_FAULT_RUN={tmp}"
        self.env["REVIEWKIT_FAULT_RUN"] = str(tmp)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-c",
            REPORTER,
            str(self.notebook),
            "report",
            "--period",
            PERIOD,
            "--team",
            "",
            "--team",
            "a",
            "--jobs",
            "2",
        ]

    def start(self, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(),
            cwd=self.root,
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(),
            cwd=self.root,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def kernels(self) -> list[int]:
        """The processes still running that a report of this test started (its kernels)."""
        marker = b"\0" + self.marker.encode() + b"\0"
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    environ = b"\0" + (entry / "environ").read_bytes()
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                except OSError:
                    continue
                if marker in environ and state != "Z":
                    found.append(int(entry.name))
        return found

    def no_kernel_left(self, timeout: float = 20) -> float:
        """Every kernel gone within ``timeout`` (ipykernel polls for its parent each second);
        the seconds it took."""
        started = time.monotonic()
        while (left := self.kernels()) and time.monotonic() < started + timeout:
            time.sleep(0.1)
        for pid in left:  # do not leave them to the next test
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not left, f"kernels left running after the report was killed: {left}"
        return time.monotonic() - started

    def files(self) -> dict[str, bytes]:
        """Every file under reports/ that a reader sees (temporary files are dot files)."""
        found = {}
        for path in self.reports.rglob("*"):
            relative = path.relative_to(self.reports)
            if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                found[relative.as_posix()] = path.read_bytes()
        return found

    def hidden(self) -> list[str]:
        """Every dot file or folder under reports/ (temporary files of a run)."""
        return sorted(
            p.relative_to(self.reports).as_posix()
            for p in self.reports.rglob(".*")
            if p.name.startswith(".")
        )


def printed(notebook: Path) -> dict:
    """What the test notebook printed: what its kernel read."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        for output in cell.get("outputs", []):
            for line in "".join(output.get("text", "")).splitlines():
                if line.startswith("FAULT "):
                    return dict(json.loads(line.removeprefix("FAULT ")))
    raise AssertionError(f"{notebook} printed nothing")


def whole(name: str, data: bytes) -> bool:
    """Whether a published file is complete: an HTML page to its end, valid JSON."""
    if name.endswith(".html"):
        return data.rstrip().endswith(b"</html>")
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


REPORT_FILES = {
    "index.html",
    f"{PERIOD}/attempts.json",
    *(f"{PERIOD}/{team}{suffix}" for team in ("a", "company") for suffix in (".html", ".ipynb")),
    *(f"{PERIOD}/{team}.snapshot.json" for team in ("a", "company")),
}


# -- 3. an export rewritten while the report runs -----------------------------------------------


def test_an_export_rewritten_mid_run_is_not_read(tmp_path: Path) -> None:
    """The company's kernel reads the orders; then the export is rewritten in place (same
    inode, as `cp` or a shell redirection does: 2 more orders) while team a's kernel has not
    read it yet. Both reviews must read the orders as the run's snapshot records them."""
    project = Reports(tmp_path)
    hook = tmp_path / "hook"
    hook.mkdir()
    orders = project.root / "data" / "orders.csv"
    original = orders.read_bytes()
    reporter = project.start(FAULT_HOOK=str(hook))
    try:
        wait_for(hook / "started-company", reporter)
        wait_for(hook / "started-a", reporter)
        (hook / "go-company").touch()
        wait_for(hook / "read-company", reporter)
        with orders.open("a", encoding="utf-8") as handle:  # in place: the inode stays
            handle.write("2026-01-20,a,web,500,5,3\n2026-01-21,b,web,700,7,2\n")
        (hook / "go-a").touch()
        wait_for(hook / "read-a", reporter)
        (hook / "finish-company").touch()
        (hook / "finish-a").touch()
        _, err = reporter.communicate(timeout=300)
    finally:
        if reporter.poll() is None:
            reporter.kill()
            reporter.communicate()
    assert reporter.returncode == 0, err
    folder = project.reports / PERIOD
    for team in ("company", "a"):
        snapshot = json.loads((folder / f"{team}.snapshot.json").read_text(encoding="utf-8"))
        assert snapshot["exports"] == {"data/orders.csv": sha256(original)}
        seen = printed(folder / f"{team}.ipynb")
        assert seen["read"] == snapshot["exports"], team  # the content the snapshot records
        assert (seen["orders"], seen["revenue"]) == (7, 750.0), team  # SHOP_ORDERS' numbers
    assert orders.read_bytes() != original  # the rewrite itself is kept, for the next run
    project.no_kernel_left()


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the report ended before {path.name}: {process.stderr.read()}")
        assert time.monotonic() < deadline, f"no {path.name} after {timeout} s"
        time.sleep(0.05)


# -- 2. the disk full while publishing -----------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Reports]:
    """The project with a 2 MB tmpfs mounted on its reports/ folder. Mounting needs root
    (`make test` runs as root here; without root the test is skipped: RLIMIT_FSIZE would fail
    every large write of the run, not only those on the reports' disk)."""
    project = Reports(tmp_path)
    project.reports.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "reviewkit-faults", project.reports],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield project
    finally:
        subprocess.run(["umount", "-l", project.reports], check=False)


def fill(folder: Path) -> Path:
    """Fill the filesystem of ``folder`` to the last byte with one file."""
    filler = folder / "filler.bin"
    with filler.open("wb", buffering=0) as handle:
        for size in (65536, 1):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * size)
    assert shutil.disk_usage(folder).free < 4096
    return filler


def test_a_full_disk_fails_the_report_clearly_and_keeps_the_last_one(
    small_disk: Reports,
) -> None:
    project = small_disk
    first = project.run()
    assert first.returncode == 0, first.stderr
    before = project.files()
    assert set(before) == REPORT_FILES
    filler = fill(project.reports)

    full = project.run()
    assert full.returncode != 0
    message = full.stderr
    assert "no space left (disk full" in message, message
    assert "free some space on that disk and run the report again" in message
    assert re.search(rf"cannot write reports/({PERIOD}/\w+\.\w+|index\.html)", message), message
    assert "Traceback" not in message
    print(message)
    after = project.files()
    del after["filler.bin"]
    assert after == before  # byte-identical
    assert project.hidden() == []  # no half-written temporary file left either
    project.no_kernel_left()

    filler.unlink()
    again = project.run()
    assert again.returncode == 0, again.stderr
    published = project.files()
    assert set(published) == REPORT_FILES
    for team in ("a", "company"):  # published anew
        name = f"{PERIOD}/{team}.snapshot.json"
        assert published[name] != before[name] and whole(name, published[name])
    assert project.hidden() == []


# -- 4. killed at random moments -----------------------------------------------------------------


def test_a_report_killed_at_random_moments_keeps_the_last_one(tmp_path: Path) -> None:
    project = Reports(tmp_path)
    started = time.monotonic()
    first = project.run()
    took = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    assert "Warning" not in first.stderr, first.stderr
    published = project.files()
    assert set(published) == REPORT_FILES
    rng = random.Random(20261125)
    killed = replaced = 0
    kernels_lingered = 0.0
    for attempt in range(KILLS):
        delay = rng.uniform(0.2, took)
        reporter = project.start()
        time.sleep(delay)
        killed_at = time.monotonic()
        if reporter.poll() is None:
            reporter.send_signal(signal.SIGKILL)
            killed += 1
        reporter.communicate(timeout=300)  # until its kernels close its stdout and stderr too
        project.no_kernel_left()
        kernels_lingered = max(kernels_lingered, time.monotonic() - killed_at)
        now = project.files()
        assert set(now) == REPORT_FILES, (attempt, delay)
        changed = {name for name in now if now[name] != published[name]}
        for name in changed:  # a review published before the kill: whole, with its snapshot
            assert whole(name, now[name]), (attempt, delay, name)
        for team in ("a", "company"):  # published together (the HTML may come out the same)
            group = {f"{PERIOD}/{team}{s}" for s in (".ipynb", ".snapshot.json")}
            assert group <= changed or not group & changed, (attempt, delay, team, changed)
        replaced += bool(changed)
        for name in project.hidden():  # a killed run's temporary files: never report-like
            assert re.fullmatch(r"(\d{4}-\d{2}/)?\.[^/]+\.\d+\.\w+\.tmp", name), name
        published = now
    again = project.run()
    assert again.returncode == 0, again.stderr
    assert set(project.files()) == REPORT_FILES
    assert project.hidden() == []  # the killed runs' leftovers are swept
    assert not list((project.root / ".reviewkit").glob("run-*"))
    project.no_kernel_left()
    print(
        f"{KILLS} runs started, {killed} killed (delays up to {took:.1f} s, a full run's time),"
        f" {replaced} after publishing some review; kernels were gone within"
        f" {kernels_lingered:.1f} s of a kill"
    )


# -- 1. the store deleted or made read-only while served -----------------------------------------


def test_a_store_moved_away_and_back_loses_nothing(tmp_path: Path) -> None:
    """A long-lived Store (as a page's kernel keeps one): moved away, a save fails and nothing
    starts an empty store in its place; moved back, the save works and nothing was lost."""
    path = tmp_path / "reviewkit.db"
    with Store(path, actor="ana") as store:
        store.link("ONB-1", "activation", hypothesis="kept")
        path.rename(tmp_path / "moved.db")
        with pytest.raises(StoreError, match="the store file is gone"):
            store.link("ONB-2", "activation", hypothesis="refused")
        with pytest.raises(StoreError, match="the store file is gone"):
            Store(path, create=False)
        assert not path.exists()
        (tmp_path / "moved.db").rename(path)
        store.link("ONB-3", "activation", hypothesis="after")
        assert [link.output_id for link in store.links()] == ["ONB-1", "ONB-3"]
        assert store.verify()


def save(page, note: str, expect: str) -> str:
    """Type ``note`` on the check-in page, save, and return the status line once it shows
    ``expect``."""
    page.locator(".widget-textarea textarea").first.fill(note)
    page.locator("button[title='Save check-in']").click()
    status = page.locator(f".widget-html:has-text({json.dumps(expect)})").last
    status.wait_for(timeout=SLOW)
    return status.inner_text()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_the_store_deleted_or_read_only_while_served(sample_dir: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    from reviewkit.publish.report.pdf import CHROMIUM_OFFLINE  # noqa: PLC0415

    project = tmp_path / "project"
    shutil.copytree(sample_dir, project, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with open_project(project) as opened:
        opened.import_links(project / "data" / "links.yaml", author="importer")
        linked = set(zip(opened.links()["output_id"], opened.links()["outcome_id"], strict=True))
        opened.kpis()  # the export cache filled once, before the page's kernel
    store_path = project / "reviewkit.db"
    server = Server(project, tmp_path, "--pool-size", "0")
    try:
        server.wait_for(r"is running at")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=list(CHROMIUM_OFFLINE), headless=True
            )
            context = browser.new_context()
            context.set_default_timeout(SLOW)
            page = context.new_page()
            page.goto(server.url("checkins.ipynb", "period=2026-10&team=support"))
            page.wait_for_selector(".jupyter-widgets select", timeout=SLOW)
            save(page, "kept before the fault", "saved:")

            # deleted (as `rm reviewkit.db*` or `make clean` would), after a backup
            backup = tmp_path / "backup.db"
            with (
                contextlib.closing(sqlite3.connect(store_path)) as source,
                contextlib.closing(sqlite3.connect(backup)) as copy,
            ):
                source.backup(copy)
            for suffix in ("", "-wal", "-shm"):
                store_path.with_name(store_path.name + suffix).unlink(missing_ok=True)
            shown = save(page, "saved into a deleted store", "the store file is gone")
            assert "put it back" in shown and "Traceback" not in shown
            print(f"deleted: {shown}")
            other = context.new_page()  # a new viewer: a new kernel opens the store
            other.goto(server.url("checkins.ipynb", "period=2026-10&team=support"))
            other.wait_for_selector("text=the store file is gone", timeout=SLOW)
            assert "Traceback" not in other.content()
            assert not store_path.exists()  # no empty store in its place
            other.close()
            shutil.copyfile(backup, store_path)  # restored
            save(page, "saved after the restore", "saved:")

            # read-only (a read-only bind mount as root, else the file's mode)
            read_only(store_path)
            try:
                shown = save(page, "saved into a read-only store", "read-only")
                assert "nothing was saved" in shown and "Traceback" not in shown
                print(f"read-only: {shown}")
            finally:
                writable(store_path)
            save(page, "saved once writable again", "saved:")
            browser.close()
    finally:
        server.stop()
    with Store(store_path) as store:
        notes = [(e.after or {}).get("note") for e in store.events() if e.entity == "checkin"]
        links = {(link.output_id, link.outcome_id) for link in store.links()}
        assert store.verify()
    typed = [n for n in notes if str(n).startswith("saved ") or n == "kept before the fault"]
    assert typed == [
        "kept before the fault",
        "saved after the restore",
        "saved once writable again",
    ]
    assert links == linked  # nothing saved before the faults is lost


def read_only(path: Path) -> None:
    if os.geteuid() == 0:  # root may write whatever the mode says: mount the file read-only
        subprocess.run(["mount", "--bind", path, path], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", path], check=True)
    else:
        path.chmod(0o444)


def writable(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["umount", "-l", path], check=True)
    else:
        path.chmod(0o644)
