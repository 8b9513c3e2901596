"""Reports: papermill per team in parallel, atomic publishing, failures kept apart, the index,
snapshots, the archive of what a review read and reproducing an old review, progress, the
kernel's stderr, and PDF and the published page in a real browser (headless Chromium). Most
tests run a tiny fixture notebook with the review's three parameters and a stub renderer; a few
run the real review notebook and ``reviewkit.publish.html.to_html``."""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import papermill
import pytest
from click.testing import CliRunner
from traitlets.config import Config

import reviewkit.base.files
from reviewkit import open_project
from reviewkit.base import kernels
from reviewkit.base.errors import ReviewkitError
from reviewkit.base.files import atomic_write
from reviewkit.cli.progress import ProgressDisplay
from reviewkit.cli.report import report as report_command
from reviewkit.publish import report
from reviewkit.publish.report import (
    FROZEN,
    TeamResult,
    changes_since,
    executors,
    reproduce,
    run_reports,
)
from reviewkit.publish.report import run as report_run
from reviewkit.publish.report.pdf import CHROMIUM_FLAGS
from tests.support.review_files import normal

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "report_fixtures" / "review.ipynb"
PERIOD = "2026-10"


pytestmark = pytest.mark.usefixtures("jupyter_dirs")


def stub_html(executed: Path, *, title: str, subtitle: str) -> str:
    """A stand-in for publish.to_html: the title, subtitle and every printed line, escaped."""
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    lines = [
        line
        for cell in cells
        for output in cell.get("outputs", [])
        for line in output.get("text", [])
    ]
    body = "".join(f"<pre>{html.escape(line)}</pre>" for line in lines)
    return f"<h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p>{body}"


@pytest.fixture
def stub_render(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_run, "_render", stub_html)


@pytest.fixture
def project(sample_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the sample company, without cache or store."""
    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    return folder


def good_notebook(tmp_path: Path) -> Path:
    """The fixture notebook without the cells that fail "broken" and "killed" (an earlier good
    run)."""
    notebook = json.loads(FIXTURE.read_text(encoding="utf-8"))
    notebook["cells"] = [
        c
        for c in notebook["cells"]
        if c["cell_type"] == "markdown"
        or not any(word in "".join(c["source"]) for word in ('"broken"', '"killed"'))
    ]
    path = tmp_path / "good.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


def with_cell(notebook: Path, tmp_path: Path, name: str, source: list[str]) -> Path:
    """``notebook`` (the fixture's shape) with one more code cell at its end, as
    ``tmp_path/<name>.ipynb``."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))
    cell = next(c for c in cells["cells"] if 'print(f"review of' in "".join(c["source"]))
    cells["cells"].append({**cell, "id": name, "source": source})
    path = tmp_path / f"{name}.ipynb"
    path.write_text(json.dumps(cells), encoding="utf-8")
    return path


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def published(folder: Path) -> list[str]:
    """The reviews' files in ``folder``, without the record of their attempts."""
    return [name for name in listing(folder) if name != "attempts.json"]


@pytest.mark.usefixtures("stub_render")
def test_two_teams_publish_in_parallel(project: Path) -> None:
    lines: list[str] = []
    run = run_reports(
        project, PERIOD, teams=["billing", ""], jobs=2, notebook=FIXTURE, progress=lines.append
    )
    assert run.ok, run.failed
    assert run.period == PERIOD
    assert [r.team for r in run.results] == ["billing", ""]
    assert sorted(line.split()[1].rstrip(":") for line in lines) == ["billing", "company"]
    folder = project / "reports" / PERIOD
    assert listing(folder) == [
        "attempts.json",
        "billing.html",
        "billing.ipynb",
        "billing.snapshot.json",
        "company.html",
        "company.ipynb",
        "company.snapshot.json",
    ]
    page = (folder / "billing.html").read_text(encoding="utf-8")
    assert "Northwind Cloud review · billing · 2026-10" in page
    assert "data through 2026-10-31" in page
    # the kernel reads the run's frozen view of the project (its exports as archived)
    read_from = re.search(r"review of billing for 2026-10 in (\S+)\s*<", page)
    assert read_from and Path(read_from[1]).name == project.name
    assert Path(read_from[1]).parent.parent == project / report.VIEWS
    assert "review of company for 2026-10" in (folder / "company.html").read_text("utf-8")
    snapshot = json.loads((folder / "billing.snapshot.json").read_text(encoding="utf-8"))
    assert snapshot["parameters"] == {
        "project_dir": str(project),
        "period": PERIOD,
        "team": "billing",
        "previous": "",  # no earlier review of billing was published
    }
    assert snapshot["store_last_event_id"] is None
    assert "data/support_tickets.csv" in snapshot["exports"]
    assert all(len(d) == 64 for d in snapshot["exports"].values())
    assert {"reviewkit", "started_at", "finished_at"} <= set(snapshot)
    index = run.index.read_text(encoding="utf-8")
    assert 'href="2026-10/billing.html"' in index
    assert 'href="2026-10/company.html"' in index
    live = "http://127.0.0.1:8866/voila/render/review.ipynb?period=2026-10"
    assert f'href="{live}&amp;team=billing">live page</a>' in index
    assert f'href="{live}">live page</a>' in index  # the company's review: every team


@pytest.mark.usefixtures("stub_render")
def test_kernels_start_in_the_view_and_the_process_stays_where_it_is(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """papermill's cwd= moves the whole process into a folder while a review runs: with --jobs,
    the other threads then resolved paths against it (a full disk's error named an absolute
    path instead of reports/...). The kernel is started in the view instead."""
    path = with_cell(FIXTURE, tmp_path, "cwd", ["import os\n", 'print("cwd", os.getcwd())'])
    here = Path.cwd()
    moves: list[str] = []
    chdir = os.chdir
    monkeypatch.setattr(os, "chdir", lambda folder: (moves.append(str(folder)), chdir(folder)))
    run = run_reports(project, PERIOD, teams=["billing", ""], jobs=2, notebook=path)
    assert run.ok, run.failed
    assert set(moves) <= {str(here)}  # papermill changes back to where it was, no further
    assert Path.cwd() == here
    page = (project / "reports" / PERIOD / "billing.html").read_text(encoding="utf-8")
    view = re.search(r"review of billing for 2026-10 in (\S+)\s*<", page)
    assert view and f"cwd {view[1]}" in page


def test_a_worker_keeps_its_kernel_and_each_review_starts_clean(
    project: Path, tmp_path: Path
) -> None:
    """One worker runs three reviews in one kernel (one process: the imports are paid once),
    and each review starts with an empty namespace: what one review defined, the next does not
    see; a review that fails leaves a new kernel for the next."""
    probe = [
        "import os\n",
        'print("kernel", os.getpid(), "left over:", "leftover" in globals())\n',
        "leftover = team\n",
        'assert team != "growth", "growth fails"',
    ]
    path = with_cell(good_notebook(tmp_path), tmp_path, "probe", probe)
    run = run_reports(
        project, PERIOD, teams=["billing", "", "growth", "support"], jobs=1, notebook=path
    )
    assert [r.ok for r in run.results] == [True, True, False, True]
    seen = {}
    for name in ("billing", "company", "support"):
        page = (run.directory / f"{name}.html").read_text(encoding="utf-8")
        found = re.search(r"kernel (\d+) left over: (\w+)", page)
        assert found, name
        seen[name] = found.groups()
    assert seen["billing"] == seen["company"] == (seen["billing"][0], "False")
    assert seen["support"][1] == "False" and seen["support"][0] != seen["billing"][0]


def test_a_review_in_a_warm_kernel_equals_the_review_in_a_fresh_one(
    project: Path, tmp_path: Path
) -> None:
    """The real review notebook: billing's review after growth's and the company's in the same
    kernel is billing's review alone in a fresh kernel: the page byte for byte, the notebook
    once objects' addresses, papermill's timings and the id of the cell it injects are made
    equal."""
    with open_project(project) as opened:
        opened.import_links(project / "data" / "links.yaml")
    alone = run_reports(project, PERIOD, teams=["billing"], jobs=1, out=tmp_path / "alone")
    warm = run_reports(
        project, PERIOD, teams=["growth", "", "billing"], jobs=1, out=tmp_path / "warm"
    )
    assert alone.ok and warm.ok, (alone.failed, warm.failed)

    assert normal(alone.directory / "billing.ipynb") == normal(warm.directory / "billing.ipynb")
    # the page is the same byte for byte: a re-run over the same inputs delivers nothing new
    page = (alone.directory / "billing.html").read_bytes()
    assert page == (warm.directory / "billing.html").read_bytes()


def test_a_business_event_is_drawn_and_named_in_the_published_review(project: Path) -> None:
    """An event recorded for billing's churn in October (issue 33) is in billing's published
    page: in its KPI chart's data (escaped inside the spec, like any user text) and named in
    the outcome's section, escaped."""
    title = 'Price <rise> & "more"'
    with open_project(project) as opened:
        opened.store.add_event(
            title, dt.date(2026, 10, 5), metrics=["churn_rate"], scope={"team": "billing"}
        )
    run = run_reports(project, PERIOD, teams=["billing"], jobs=1)
    assert run.ok, run.failed
    page = (run.directory / "billing.html").read_text(encoding="utf-8")
    # (the page's serialiser writes the quotes of text as they are)
    assert (
        'Business events in 2026-10 that may move it: Price &lt;rise&gt; &amp; "more" '
        "(2026-10-05)." in page
    )
    assert title not in page  # nowhere unescaped, the chart spec included
    specs = [json.loads(spec) for spec in re.findall(r"var spec = (.*?);\n", page)]
    drawn = [
        row
        for spec in specs
        for rows in spec.get("datasets", {}).values()
        for row in rows
        if "event" in row
    ]
    assert drawn and {row["event"] for row in drawn} == {title}
    assert {row["when"] for row in drawn} == {"2026-10-05"}


@pytest.mark.usefixtures("stub_render")
def test_published_files_honour_the_umask(project: Path) -> None:
    """A team serving reports/ with a web server or a shared folder can read what was published:
    files are created as any file the user writes, mode 0666 (folders 0777) less the umask."""
    previous = os.umask(0o002)
    try:
        run = run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE)
    finally:
        os.umask(previous)
    assert run.ok, run.failed
    reports = project / "reports"
    modes = {
        p.relative_to(reports).as_posix(): p.stat().st_mode & 0o777 for p in reports.rglob("*")
    }
    assert modes == {
        "2026-10": 0o775,
        "2026-10/attempts.json": 0o664,
        "2026-10/billing.html": 0o664,
        "2026-10/billing.ipynb": 0o664,
        "2026-10/billing.snapshot.json": 0o664,
        "index.html": 0o664,
    }


@pytest.mark.usefixtures("stub_render")
def test_a_failing_team_keeps_its_last_good_report(project: Path, tmp_path: Path) -> None:
    first = run_reports(project, PERIOD, teams=["broken"], notebook=good_notebook(tmp_path))
    assert first.ok
    folder = project / "reports" / PERIOD
    good = {name: (folder / name).read_bytes() for name in published(folder)}

    run = run_reports(project, PERIOD, teams=["broken", "billing"], jobs=2, notebook=FIXTURE)
    assert not run.ok
    broken, billing = run.results
    assert billing.ok
    assert not broken.ok
    assert broken.error.startswith("cell ")
    assert "ValueError: the <broken> team & its cell" in broken.error
    assert broken.failed_notebook == folder / "broken.failed.ipynb"
    assert "papermill-error-cell" in broken.failed_notebook.read_text(encoding="utf-8")
    for name, data in good.items():
        assert (folder / name).read_bytes() == data, name

    index = run.index.read_text(encoding="utf-8")
    assert '<tr class="failed"><td>2026-10</td><td>broken</td><td>failed</td>' in index
    assert index.count("<td>broken</td>") == 1  # its latest attempt, the last good one linked
    assert 'href="2026-10/broken.html"' in index
    assert "the &lt;broken&gt; team &amp; its cell" in index
    assert "<broken>" not in index

    again = run_reports(project, PERIOD, teams=["broken"], notebook=good_notebook(tmp_path))
    assert again.ok
    assert not (folder / "broken.failed.ipynb").exists()


@pytest.mark.usefixtures("stub_render")
def test_the_index_shows_a_run_that_failed_before_any_review_ran(project: Path) -> None:
    """A run that exits 1 before any kernel starts (here a broken reviewkit.yaml) is each
    review's latest attempt in the index: failed, with the reason and the time, the last good
    version still linked; a review run again since shows ok."""
    assert run_reports(project, PERIOD, teams=["billing", ""], notebook=FIXTURE).ok
    config = project / "reviewkit.yaml"
    good = config.read_text(encoding="utf-8")
    config.write_text(good.replace("metrics:", "metrics:\n  broken: {source: nowhere}", 1))
    with pytest.raises(ReviewkitError, match="the project has errors"):
        run_reports(project, PERIOD, notebook=FIXTURE)  # every team
    index = (project / "reports" / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r'<tr class="(\w+)"><td>2026-10</td><td>(\w+)</td>', index)
    assert rows == [("failed", "billing"), ("failed", "company")]
    assert index.count("the run failed before any review ran: the project has errors") == 2
    assert index.count('href="2026-10/billing.html"') == 1
    config.write_text(good)
    assert run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE).ok
    index = (project / "reports" / "index.html").read_text(encoding="utf-8")
    rows = re.findall(r'<tr class="(\w+)"><td>2026-10</td><td>(\w+)</td>', index)
    assert rows == [("ok", "billing"), ("failed", "company")]  # company's latest attempt failed
    # a review published, then deleted by hand, is no row (and breaks no index)
    for name in ("billing.html", "billing.ipynb", "billing.snapshot.json"):
        (project / "reports" / PERIOD / name).unlink()
    index = report.write_index(project / "reports").read_text(encoding="utf-8")
    assert "<td>billing</td>" not in index


@pytest.mark.usefixtures("stub_render")
def test_a_kernel_killed_mid_run_fails_the_team_and_keeps_its_last_report(
    project: Path, tmp_path: Path
) -> None:
    assert run_reports(project, PERIOD, teams=["killed"], notebook=good_notebook(tmp_path)).ok
    folder = project / "reports" / PERIOD
    good = {name: (folder / name).read_bytes() for name in published(folder)}
    run = run_reports(project, PERIOD, teams=["killed", "billing"], jobs=2, notebook=FIXTURE)
    killed, billing = run.results
    assert billing.ok and not killed.ok and not run.ok
    assert killed.error
    for name, data in good.items():
        assert (folder / name).read_bytes() == data, name
    assert '<tr class="failed"><td>2026-10</td><td>killed</td><td>failed</td>' in (
        run.index.read_text(encoding="utf-8")
    )


@pytest.mark.usefixtures("stub_render")
def test_a_cell_running_past_the_timeout_fails_the_team(project: Path) -> None:
    started = time.monotonic()
    run = run_reports(project, PERIOD, teams=["slow", "billing"], notebook=FIXTURE, timeout=2)
    assert time.monotonic() - started < 30
    slow, billing = run.results
    assert billing.ok
    assert not slow.ok
    assert slow.error == "timed out: a cell ran longer than 2 s"
    assert slow.failed_notebook is not None
    assert slow.failed_notebook.exists()
    assert not (project / "reports" / PERIOD / "slow.html").exists()


@pytest.mark.usefixtures("stub_render")
def test_a_crash_while_publishing_leaves_the_previous_report(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE)
    folder = project / "reports" / PERIOD
    before = {name: (folder / name).read_bytes() for name in published(folder)}

    def crash(tmp: Path, data: bytes) -> None:
        if ".billing.html." in tmp.name:
            tmp.write_bytes(data[: len(data) // 2])
            raise OSError("disk full")
        real(tmp, data)

    real = reviewkit.base.files._stage
    monkeypatch.setattr(reviewkit.base.files, "_stage", crash)
    run = run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE)
    assert not run.ok
    assert run.results[0].error == "publishing failed: OSError: disk full"
    assert run.results[0].failed_notebook == folder / "billing.failed.ipynb"
    (folder / "billing.failed.ipynb").unlink()
    after = {name: (folder / name).read_bytes() for name in published(folder)}
    assert after == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


KILLED_WRITER = """
import sys
from pathlib import Path
from reviewkit.base.files import atomic_write
target = Path(sys.argv[1])
print("ready", flush=True)
n = 0
while True:
    n += 1
    atomic_write({target: (str(n % 10) * 4_000_000).encode()})
"""


def test_killing_the_publisher_mid_write_leaves_a_whole_report(tmp_path: Path) -> None:
    target = tmp_path / "billing.html"
    atomic_write({target: b"x" * 4_000_000})
    rng = random.Random(7)
    for _ in range(5):
        with subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE
        ) as writer:
            assert writer.stdout is not None
            assert writer.stdout.readline() == b"ready\n"
            time.sleep(rng.uniform(0.0, 0.3))
            writer.send_signal(signal.SIGKILL)
        data = target.read_bytes()
        assert len(data) == 4_000_000
        assert len(set(data)) == 1
    leftovers = [p for p in tmp_path.iterdir() if p.is_file() and p != target]
    assert all(p.name.startswith(".billing.html.") for p in leftovers)


@pytest.mark.usefixtures("stub_render")
def test_rerunning_a_period_is_idempotent(project: Path) -> None:
    first = run_reports(project, PERIOD, teams=["billing", ""], notebook=FIXTURE)
    reports = project / "reports"
    files = listing(reports)
    pages = {p: (reports / p).read_bytes() for p in files if p.endswith(".html") and "/" in p}
    second = run_reports(project, PERIOD, teams=["billing", ""], notebook=FIXTURE)
    assert first.ok
    assert second.ok
    assert listing(reports) == files
    assert {p: (reports / p).read_bytes() for p in pages} == pages
    assert second.index.read_text(encoding="utf-8").count("<tr class=") == 2


@pytest.mark.usefixtures("stub_render")
@pytest.mark.parametrize("symlinks", [True, False], ids=["cp-a", "copytree-following-links"])
def test_a_copied_project_reads_its_own_store_and_exports(
    project: Path, tmp_path: Path, symlinks: bool
) -> None:
    """A project copied to another path with its .reviewkit/ publishes from the copy's store and
    exports, never the original's through a view kept under .reviewkit/views."""
    count = "from reviewkit import open_project\nwith open_project(project_dir) as opened:\n"
    notebook = with_cell(
        FIXTURE, tmp_path, "links", [count, '    print("links:", len(opened.links()))']
    )
    with open_project(project) as opened:
        opened.import_links(project / "data" / "links.yaml")
        linked = len(opened.links())
    first = run_reports(project, PERIOD, teams=["billing"], notebook=notebook)
    assert first.ok, first.failed
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, symlinks=symlinks)
    with open_project(copy) as opened:
        opened.unlink(*opened.links().iloc[0][["output_id", "outcome_id"]])
    again = run_reports(copy, PERIOD, teams=["billing"], notebook=notebook)
    assert again.ok, again.failed
    page = (copy / "reports" / PERIOD / "billing.html").read_text(encoding="utf-8")
    assert f"links: {linked - 1}" in page
    read_from = re.search(r"review of billing for 2026-10 in (\S+)\s*<", page)
    assert read_from and Path(read_from[1]).is_relative_to(copy / report.VIEWS)
    original = (project / "reports" / PERIOD / "billing.html").read_text(encoding="utf-8")
    assert f"links: {linked}" in original


@pytest.mark.usefixtures("stub_render")
def test_snapshot_tells_what_changed_since(project: Path) -> None:
    with open_project(project) as opened:
        opened.import_links(project / "data" / "links.yaml")
    run = run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE)
    snapshot = run.results[0].snapshot
    assert snapshot is not None
    assert json.loads(snapshot.read_text(encoding="utf-8"))["store_last_event_id"] > 0
    with open_project(project) as opened:
        assert changes_since(snapshot, opened) == []
        with (project / "data" / "support_tickets.csv").open("a", encoding="utf-8") as f:
            f.write("\n")
        opened.checkin("billing-churn", PERIOD, note="Dunning retries working")
        changes = changes_since(snapshot, opened)
    assert changes[0] == "changed export data/support_tickets.csv"
    assert len(changes) == 2
    assert changes[1].startswith("store event ")
    assert "billing-churn" in changes[1]


def test_kernel_start_races_are_retried(
    project: Path, monkeypatch: pytest.MonkeyPatch, stub_render: None
) -> None:
    real = papermill.execute_notebook
    calls: list[str] = []

    def flaky(*args: object, **kwargs: object) -> object:
        calls.append("call")
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return real(*args, **kwargs)

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    run = run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE)
    assert run.ok
    assert run.results[0].attempts == 2


def test_a_folder_this_user_may_not_write_fails_the_run_saying_what_to_do(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder the run may not write before any review (the archive of what the reviews read,
    another user's) is a ReviewkitError saying so, which `reviewkit schedule` records as any
    failed run, and the index as the run's last attempt."""
    frozen = project / FROZEN

    def denied(*_: object) -> None:
        raise PermissionError(13, "Permission denied", str(frozen))

    monkeypatch.setattr(report_run, "freeze", denied)
    with pytest.raises(ReviewkitError) as raised:
        run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE)
    assert str(raised.value).startswith(f"permission denied: {frozen} (")
    assert "as docs/scheduling.md shows" in str(raised.value)


def test_a_kernel_this_user_may_not_start_fails_the_team_saying_what_to_do(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel whose connection file cannot be written (JUPYTER_RUNTIME_DIR another user's)."""
    runtime = tmp_path / "jupyter-runtime" / "kernel-1.json"

    def denied(*_: object) -> object:
        raise PermissionError(13, "Permission denied", str(runtime))

    monkeypatch.setattr(executors.KernelWorker, "kernel", denied)
    run = run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE)
    (result,) = run.failed
    assert result.error.startswith(f"permission denied: {runtime} (")
    assert "as docs/scheduling.md shows" in result.error


def test_bad_requests_fail_before_any_kernel_starts(project: Path, tmp_path: Path) -> None:
    with pytest.raises(ReviewkitError, match="cannot name a report file"):
        run_reports(project, PERIOD, teams=["../etc"], notebook=FIXTURE)
    with pytest.raises(ReviewkitError, match="cannot name a report file"):
        run_reports(project, PERIOD, teams=["company"], notebook=FIXTURE)
    with pytest.raises(ReviewkitError, match="does not exist"):
        run_reports(project, PERIOD, notebook=tmp_path / "missing.ipynb")
    with pytest.raises(ReviewkitError, match="2026-13"):
        run_reports(project, "2026-13", notebook=FIXTURE)
    assert not (project / "reports").exists()


def test_cli_reports_progress_and_fails_listing_teams(
    project: Path, monkeypatch: pytest.MonkeyPatch, stub_render: None
) -> None:
    monkeypatch.setattr(report_run, "default_notebook", lambda: FIXTURE)
    runner = CliRunner()
    result = runner.invoke(
        report_command,
        ["--project", str(project), "--period", PERIOD, "--team", "billing", "--team", "broken"],
    )
    assert result.exit_code == 1, result.output
    # not a terminal (CI, a log): one plain line per team on stderr as it ends, no bar
    progress = result.stderr.splitlines()[:2]
    assert all(re.fullmatch(r"\[[12]/2\] (billing|broken): .+ \(\d+\.\d s\)", p) for p in progress)
    assert sorted(p[:5] for p in progress) == ["[1/2]", "[2/2]"]
    assert any(p.endswith(" s)") and "billing: ok" in p for p in progress)
    assert any("broken: FAILED: cell " in p for p in progress)
    assert "\r" not in result.output and "\x1b" not in result.output and "#" not in result.output
    assert "1 of 2 review(s) published" in result.stdout
    assert "broken: cell " in result.output
    ok = runner.invoke(
        report_command, ["--project", str(project), "--period", PERIOD, "--jobs", "2"]
    )
    assert ok.exit_code == 0, ok.output
    assert "company" in ok.output
    assert (project / "reports" / PERIOD / "company.html").exists()


def test_cli_all_teams_covers_every_outcome_team(
    project: Path, monkeypatch: pytest.MonkeyPatch, stub_render: None
) -> None:
    monkeypatch.setattr(report_run, "default_notebook", lambda: FIXTURE)
    out = project.parent / "published"
    result = CliRunner().invoke(
        report_command,
        ["-p", str(project), "--period", PERIOD, "--all-teams", "--jobs", "3", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    with open_project(project) as opened:
        teams = {o.team for o in opened.config.outcomes.values() if o.team}
    assert {p.stem for p in (out / PERIOD).glob("*.html")} == {"company", *teams}


def test_cli_pdf_needs_chromium(
    project: Path, monkeypatch: pytest.MonkeyPatch, stub_render: None
) -> None:
    monkeypatch.setattr(report_run, "default_notebook", lambda: FIXTURE)
    monkeypatch.setattr(shutil, "which", lambda _: None)
    result = CliRunner().invoke(
        report_command, ["-p", str(project), "--period", PERIOD, "--team", "billing", "--pdf"]
    )
    assert result.exit_code == 1
    assert "Debian's chromium" in result.output


def test_the_real_review_notebook_publishes_offline_html(project: Path) -> None:
    run = run_reports(project, PERIOD, teams=["billing", ""], jobs=2)
    assert run.ok, [r.error for r in run.failed]
    for result in run.results:
        assert result.html is not None
        page = result.html.read_text(encoding="utf-8")
        assert f"Northwind Cloud review · {result.label} · {PERIOD}" in page
        assert "data through 2026-10-31" in page
        assert "papermill-error-cell" not in page
        for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs", 'require.js"></script>'):
            assert cdn not in page


def test_a_review_reads_a_postgresql_store(
    project: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the store in PostgreSQL, the review's kernel reads it there (REVIEWKIT_STORE,
    inherited), and the snapshot records its last event."""
    monkeypatch.setenv("REVIEWKIT_STORE", pg_url)
    with open_project(project) as opened:
        saved = opened.checkin(
            "billing-churn", PERIOD, note="Dunning retries working", author="Luis"
        )
        last = opened.store.events()[-1].id
    run = run_reports(project, PERIOD, teams=["billing"])
    assert run.ok, [r.error for r in run.failed]
    assert run.results[0].html is not None
    page = run.results[0].html.read_text(encoding="utf-8")
    # the day it was saved (reviewkit's clock: 2026-11-25, or the 26th once a run passes midnight)
    stamp = f"by Luis, {saved.updated_at:%Y-%m-%d}"
    assert stamp in page and "Dunning retries working" in page
    snapshot = json.loads(run.results[0].snapshot.read_text(encoding="utf-8"))  # type: ignore[union-attr]
    assert snapshot["store_last_event_id"] == last
    assert not (project / "reviewkit.db").exists()  # nothing went to a file store


# --- progress on a terminal ----------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_a_bar_redrawn_in_place() -> None:
    now = [100.0]
    screen = Terminal()
    display = ProgressDisplay(screen, clock=lambda: now[0])
    assert display.tty
    display.begin(["billing", "company"])
    display.started("billing")
    display.started("company")
    assert display.bar().startswith("[" + "-" * 24 + "] 0/2 reviews · 0:00")
    assert display.bar().endswith("running: billing, company")
    now[0] += 75
    display.finished(TeamResult("billing", True, 3.14), 1, 2)
    assert display.bar() == "[" + "#" * 12 + "-" * 12 + "] 1/2 reviews · 1:15 · running: company"
    display.finished(TeamResult("", False, 2.0, error="cell 3: ValueError: no"), 2, 2)
    display.close()
    text = screen.getvalue()
    assert "\r\x1b[K[1/2] billing: ok (3.1 s)\n" in text
    assert "\r\x1b[K[2/2] company: FAILED: cell 3: ValueError: no (2.0 s)\n" in text
    assert "\r[" + "#" * 24 + "] 2/2 reviews" in text
    assert text.endswith("\r\x1b[K")  # the bar is gone; the lines stay


def test_progress_in_a_log_is_one_line_per_review() -> None:
    log = io.StringIO()
    display = ProgressDisplay(log)
    display.begin(["billing"])
    display.started("billing")
    display.finished(TeamResult("billing", True, 1.0), 1, 1)
    display.close()
    assert log.getvalue() == "[1/1] billing: ok (1.0 s)\n"


# --- the kernel's stderr -------------------------------------------------------------------------


@pytest.mark.usefixtures("stub_render")
def test_report_kernels_print_no_transport_warning(
    project: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel inherits our stderr: with its sockets encrypted (CurveZMQ) it has nothing to
    warn about; with plain TCP, ipykernel warns on every start."""
    assert run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE).ok
    assert "without encryption" not in capfd.readouterr().err
    monkeypatch.setattr(kernels, "kernel_config", Config)
    assert run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE).ok
    assert "Kernel is running over TCP without encryption" in capfd.readouterr().err


# --- the archive of what a review read, and reproducing it -------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.usefixtures("stub_render")
def test_publishing_archives_every_file_the_review_read(project: Path) -> None:
    run = run_reports(project, PERIOD, teams=["billing", ""], notebook=FIXTURE)
    assert run.ok
    snapshot = json.loads((run.directory / "billing.snapshot.json").read_text("utf-8"))
    assert snapshot["config"] == {"reviewkit.yaml": sha256(project / "reviewkit.yaml")}
    assert snapshot["notebook_sha256"] == sha256(FIXTURE)
    archive = project / FROZEN
    recorded = {**snapshot["exports"], **snapshot["config"]}
    assert sorted(p.name for p in archive.iterdir()) == sorted(
        {*recorded.values(), snapshot["notebook_sha256"]}
    )
    for relative, digest in recorded.items():
        frozen = archive / digest
        assert sha256(frozen) == digest
        assert frozen.stat().st_mtime_ns == (project / relative).stat().st_mtime_ns
        assert frozen.stat().st_mode & 0o777 == 0o444
        # a copy, not a hard link: refreshing the export in place cannot change it
        assert frozen.stat().st_ino != (project / relative).stat().st_ino
    # archived once: a later run leaves the archive as it is
    before = {p.name: p.stat().st_mtime_ns for p in archive.iterdir()}
    assert run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE).ok
    assert {p.name: p.stat().st_mtime_ns for p in archive.iterdir()} == before


def change_october(project: Path) -> None:
    """Restate history: rewrite the tickets export in place (same inode, as `cp` or a shell
    redirection would) without every third ticket of October 2026."""
    tickets = project / "data" / "support_tickets.csv"
    lines = tickets.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [ln for i, ln in enumerate(lines) if "2026-10-" not in ln or i % 3]
    assert len(kept) < len(lines)
    with tickets.open("w", encoding="utf-8") as handle:
        handle.write("".join(kept))


def link_later(project: Path) -> str:
    """Link an unlinked output billing delivered in October 2026, after the review."""
    with open_project(project) as opened:
        unlinked = opened.outputs(team="billing", unlinked=True)
        october = unlinked[unlinked["delivered"].map(lambda d: d.strftime("%Y-%m") == PERIOD)]
        output = str(october.iloc[0]["id"])
        opened.link(output, "billing-churn", hypothesis="linked after the review")
    return output


def output_texts(notebook: Path) -> list[str]:
    """What the executed notebook shows, cell by cell: its HTML outputs."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return [
        "".join(output["data"]["text/html"])
        for cell in cells
        for output in cell.get("outputs", [])
        if "text/html" in output.get("data", {})
    ]


def test_a_reproduced_review_says_what_the_original_said(project: Path, tmp_path: Path) -> None:
    """Publish billing's October review; then restate October's tickets (in place) and link
    one more output. Reproducing the review gives the original's words, tables and charts; a
    fresh run of the same review does not; the published review and the store are untouched."""
    with open_project(project) as opened:
        opened.import_links(project / "data" / "links.yaml")
    published = run_reports(project, PERIOD, teams=["billing"])
    assert published.ok, published.failed
    folder = published.directory
    original = {p.name: p.read_bytes() for p in folder.iterdir()}
    change_october(project)
    output = link_later(project)
    store = project / "reviewkit.db"
    with open_project(project) as opened:
        events = opened.store.events()

    started = time.perf_counter()
    again = reproduce(project, folder / "billing.snapshot.json")
    print(f"reproduced in {time.perf_counter() - started:.1f} s")
    assert again.ok, again.result.error
    assert again.notes == ()
    assert again.directory == project / "reports" / "reproduced" / PERIOD
    assert again.result.html == again.directory / "billing.html"
    texts = output_texts(folder / "billing.ipynb")
    assert output_texts(again.directory / "billing.ipynb") == texts
    assert "linked after the review" not in "".join(texts)
    page = again.result.html.read_text(encoding="utf-8")
    assert "reproduced from the review published" in page
    assert page.count('class="reviewkit-chart"') == 4  # billing churn's cohorts too

    fresh = run_reports(project, PERIOD, teams=["billing"], out=tmp_path / "fresh")
    assert fresh.ok
    now = output_texts(fresh.directory / "billing.ipynb")
    assert len(now) == len(texts) and now != texts
    assert f"<td>{output}</td>" in "".join(now)
    assert "linked after the review" in "".join(now)  # the link added since
    changed = [i for i, (a, b) in enumerate(zip(texts, now, strict=True)) if a != b]
    assert len(changed) >= 3  # the summary, the outcome's section, data quality

    assert {p.name: p.read_bytes() for p in folder.iterdir()} == original
    with open_project(project) as opened:
        assert opened.store.events() == events
    assert not list((project / ".reviewkit").glob("reproduce-*"))
    recorded = json.loads((again.directory / "billing.snapshot.json").read_text("utf-8"))
    snapshot = json.loads(original["billing.snapshot.json"])
    for key in ("exports", "config", "notebook_sha256", "store_last_event_id"):
        assert recorded[key] == snapshot[key], key
    assert recorded["reproduces"]["snapshot"] == str(folder / "billing.snapshot.json")
    assert store.exists()
    index = (project / "reports" / "index.html").read_text(encoding="utf-8")
    assert "reproduced" not in index
    assert 'href="2026-10/billing.html"' in (again.directory.parent / "index.html").read_text(
        "utf-8"
    )


@pytest.mark.usefixtures("stub_render")
def test_reproducing_without_what_the_review_read_says_what_to_do(project: Path) -> None:
    run = run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE)
    snapshot = run.directory / "billing.snapshot.json"
    recorded = json.loads(snapshot.read_text(encoding="utf-8"))
    with pytest.raises(ReviewkitError, match="is the review being reproduced"):
        reproduce(project, snapshot, out=project / "reports")

    change_october(project)
    assert reproduce(project, snapshot).ok  # from the archive
    digest = recorded["exports"]["data/support_tickets.csv"]
    frozen = project / FROZEN / digest
    frozen.chmod(0o644)
    frozen.write_bytes(frozen.read_bytes() + b"\n")
    with pytest.raises(ReviewkitError, match="no longer has the content it was archived with"):
        reproduce(project, snapshot)
    frozen.unlink()
    with pytest.raises(ReviewkitError) as caught:
        reproduce(project, snapshot)
    message = str(caught.value)
    assert f"data/support_tickets.csv as the review read it (sha256 {digest}) has other " in (
        message
    )
    assert "put that version of data/support_tickets.csv back" in message
    assert f".reviewkit/frozen/{digest}" in message

    with open_project(project) as opened:
        opened.link("BIL-347", "billing-churn")
    later = run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE)
    (project / "reviewkit.db").unlink()
    with pytest.raises(ReviewkitError, match="no store here"):
        reproduce(project, later.directory / "billing.snapshot.json")
    assert not list((project / ".reviewkit").glob("reproduce-*"))

    old = {k: v for k, v in recorded.items() if k not in ("config", "notebook_sha256")}
    old["exports"] = json.loads((later.directory / "billing.snapshot.json").read_text("utf-8"))[
        "exports"
    ]
    old["store_last_event_id"] = None
    legacy = project / "legacy.snapshot.json"
    legacy.write_text(json.dumps(old), encoding="utf-8")
    again = reproduce(project, legacy)
    assert again.ok
    assert any("does not record the config" in note for note in again.notes)
    assert any("does not record the notebook's content" in note for note in again.notes)

    bogus = project / "bogus.json"
    bogus.write_text("{}", encoding="utf-8")
    with pytest.raises(ReviewkitError, match="is not a review snapshot"):
        reproduce(project, bogus)


def test_cli_reproduce(project: Path, monkeypatch: pytest.MonkeyPatch, stub_render: None) -> None:
    monkeypatch.setattr(report_run, "default_notebook", lambda: FIXTURE)
    runner = CliRunner()
    args = ["-p", str(project), "--period", PERIOD, "--team", "billing"]
    assert runner.invoke(report_command, args).exit_code == 0
    snapshot = project / "reports" / PERIOD / "billing.snapshot.json"
    out = project.parent / "again"
    result = runner.invoke(
        report_command, ["-p", str(project), "--reproduce", str(snapshot), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert f"as {out / PERIOD / 'billing.html'}" in result.stdout
    assert "[1/1] billing: ok" in result.stderr
    assert (out / PERIOD / "billing.html").exists()
    both = runner.invoke(report_command, [*args, "--reproduce", str(snapshot)])
    assert both.exit_code == 2 and "leave out --period" in both.output
    neither = runner.invoke(report_command, ["-p", str(project)])
    assert neither.exit_code == 2 and "--period" in neither.output
    (project / FROZEN).rename(project / "moved")
    (project / "data" / "mrr_targets.csv").write_text("month,team\n", encoding="utf-8")
    failed = runner.invoke(report_command, ["-p", str(project), "--reproduce", str(snapshot)])
    assert failed.exit_code == 1
    assert "data/mrr_targets.csv as the review read it" in failed.stderr


# --- PDF and the page in a browser ----------------------------------------------------------------

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="needs Debian's chromium (apt-get install chromium); under CI=true this fails instead",
)


@pytest.fixture(scope="module")
def printed(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """billing's October review published for real by `reviewkit report --pdf` (the review
    notebook, nbconvert, headless Chromium); its folder."""
    assert CHROMIUM is not None, "CI=true: chromium must be installed for --pdf"
    scratch = tmp_path_factory.mktemp("pdf")
    root = scratch / "project"
    shutil.copytree(sample_dir, root, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DATA", "RUNTIME", "CONFIG"):
            path = scratch / f"jupyter-{name.lower()}"
            path.mkdir()
            patch.setenv(f"JUPYTER_{name}_DIR", str(path))
        patch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        with open_project(root) as opened:
            opened.import_links(root / "data" / "links.yaml")
        started = time.perf_counter()
        result = CliRunner().invoke(
            report_command, ["-p", str(root), "--period", PERIOD, "--team", "billing", "--pdf"]
        )
        print(f"report --pdf: {time.perf_counter() - started:.1f} s")
    assert result.exit_code == 0, result.output
    yield root / "reports" / PERIOD


def pdf_facts(data: bytes) -> tuple[int, int]:
    """A PDF's page count and the straight-line segments its pages draw (charts are vector
    paths: hundreds of them; a page of text and tables has a handful)."""
    pages = max(int(n) for n in re.findall(rb"/Type /Pages\b[^>]*?/Count (\d+)", data))
    lines = 0
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        try:
            lines += len(re.findall(rb"(?m) l$", zlib.decompress(stream)))
        except zlib.error:
            continue
    return pages, lines


@needs_chromium
def test_cli_pdf_prints_the_review_with_its_charts(printed: Path) -> None:
    pdf = printed / "billing.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert 100_000 < len(data) < 5_000_000
    pages, lines = pdf_facts(data)
    assert pages >= 2
    assert lines > 200, lines  # the three charts, drawn
    assert not [p for p in printed.iterdir() if p.name.startswith(".")]
    assert pdf.stat().st_mode & 0o777 == (printed / "billing.html").stat().st_mode & 0o777
    assert 'href="2026-10/billing.pdf"' in (printed.parent / "index.html").read_text("utf-8")


@needs_chromium
def test_the_published_page_draws_its_charts_offline_in_a_browser(
    printed: Path, tmp_path: Path
) -> None:
    """The first real-browser check of a report: every chart of the page is drawn as SVG by the
    inlined Vega library, with the network made unreachable (a proxy that is not there)."""
    assert CHROMIUM is not None
    page = printed / "billing.html"
    done = subprocess.run(
        [
            CHROMIUM,
            *(flag for flag in CHROMIUM_FLAGS if flag != "--no-pdf-header-footer"),
            f"--user-data-dir={tmp_path / 'profile'}",
            "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    dom = done.stdout.decode("utf-8")
    divs = re.findall(r"<div [^>]*\breviewkit-chart\b[^>]*>", dom)
    # the scorecard, billing churn with its outputs and its cohorts, alignment
    assert len(divs) == 4
    for div in divs:
        assert "vega-embed" in div  # vega-embed took the element over
        drawn = dom.split(div, 1)[1].split("reviewkit-chart", 1)[0]
        assert re.search(r'<svg[^>]*class="marks"', drawn), div
        assert drawn.count("<path") > 10, div
    assert ">Chart error: " not in dom and ">The chart library did not load" not in dom
    assert dom.count('class="marks"') == 4


def test_the_project_folder_is_passed_under_the_name_the_notebook_declares(tmp_path: Path) -> None:
    """``project_dir``, or ``project`` to a review notebook from before the rename (issue 31)."""
    from reviewkit.publish.report.run import named_for  # noqa: PLC0415

    given = {"project_dir": "/p", "period": "2026-10", "team": ""}
    assert named_for(REPO / "notebooks" / "monthly_review.ipynb", given) == given
    old = json.loads((REPO / "notebooks" / "monthly_review.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in old["cells"] if "parameters" in c["metadata"].get("tags", []))
    cell["source"] = ["project: str = '..'\n", "period: str = ''\n", "team: str = ''\n"]
    notebook = tmp_path / "old.ipynb"
    notebook.write_text(json.dumps(old), encoding="utf-8")
    assert named_for(notebook, given) == {"project": "/p", "period": "2026-10", "team": ""}
