"""Reports: papermill per team in parallel, atomic publishing, failures kept apart, the index,
snapshots. Most tests run a tiny fixture notebook with the review's three parameters and a stub
renderer; one runs the real review notebook and ``reviewkit.publish.to_html``."""

from __future__ import annotations

import html
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import papermill
import pytest
from click.testing import CliRunner

from reviewkit import open_project, report
from reviewkit.cli.report import report as report_command
from reviewkit.errors import ReviewkitError
from reviewkit.report import changes_since, run_reports, write_atomic

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "report_fixtures" / "review.ipynb"
REVIEW = REPO / "notebooks" / "monthly_review.ipynb"
PUBLISH = REPO / "src" / "reviewkit" / "publish.py"
PERIOD = "2026-10"


@pytest.fixture(autouse=True)
def jupyter_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jupyter's data, runtime and config dirs in a temp dir: tests never touch ~/.local."""
    for name in ("DATA", "RUNTIME", "CONFIG"):
        path = tmp_path / f"jupyter-{name.lower()}"
        path.mkdir()
        monkeypatch.setenv(f"JUPYTER_{name}_DIR", str(path))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")


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
    monkeypatch.setattr(report, "_render", stub_html)


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


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


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
    assert f"review of billing for 2026-10 in {project}" in page
    assert "review of company for 2026-10" in (folder / "company.html").read_text("utf-8")
    snapshot = json.loads((folder / "billing.snapshot.json").read_text(encoding="utf-8"))
    assert snapshot["parameters"] == {"project": str(project), "period": PERIOD, "team": "billing"}
    assert snapshot["store_last_event_id"] is None
    assert "data/support_tickets.csv" in snapshot["exports"]
    assert all(len(d) == 64 for d in snapshot["exports"].values())
    assert {"reviewkit", "started_at", "finished_at"} <= set(snapshot)
    index = run.index.read_text(encoding="utf-8")
    assert 'href="2026-10/billing.html"' in index
    assert 'href="2026-10/company.html"' in index


@pytest.mark.usefixtures("stub_render")
def test_a_failing_team_keeps_its_last_good_report(project: Path, tmp_path: Path) -> None:
    first = run_reports(project, PERIOD, teams=["broken"], notebook=good_notebook(tmp_path))
    assert first.ok
    folder = project / "reports" / PERIOD
    good = {name: (folder / name).read_bytes() for name in listing(folder)}

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
    assert '<tr class="ok"><td>2026-10</td><td>broken</td><td>ok</td>' in index
    assert "the &lt;broken&gt; team &amp; its cell" in index
    assert "<broken>" not in index

    again = run_reports(project, PERIOD, teams=["broken"], notebook=good_notebook(tmp_path))
    assert again.ok
    assert not (folder / "broken.failed.ipynb").exists()


@pytest.mark.usefixtures("stub_render")
def test_a_kernel_killed_mid_run_fails_the_team_and_keeps_its_last_report(
    project: Path, tmp_path: Path
) -> None:
    assert run_reports(project, PERIOD, teams=["killed"], notebook=good_notebook(tmp_path)).ok
    folder = project / "reports" / PERIOD
    good = {name: (folder / name).read_bytes() for name in listing(folder)}
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
    before = {name: (folder / name).read_bytes() for name in listing(folder)}

    def crash(tmp: Path, data: bytes) -> None:
        if ".billing.html." in tmp.name:
            tmp.write_bytes(data[: len(data) // 2])
            raise OSError("disk full")
        real(tmp, data)

    real = report._stage
    monkeypatch.setattr(report, "_stage", crash)
    run = run_reports(project, PERIOD, teams=["billing"], notebook=FIXTURE)
    assert not run.ok
    assert run.results[0].error == "publishing failed: OSError: disk full"
    assert run.results[0].failed_notebook == folder / "billing.failed.ipynb"
    (folder / "billing.failed.ipynb").unlink()
    after = {name: (folder / name).read_bytes() for name in listing(folder)}
    assert after == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


KILLED_WRITER = """
import sys
from pathlib import Path
from reviewkit.report import write_atomic
target = Path(sys.argv[1])
print("ready", flush=True)
n = 0
while True:
    n += 1
    write_atomic({target: (str(n % 10) * 4_000_000).encode()})
"""


def test_killing_the_publisher_mid_write_leaves_a_whole_report(tmp_path: Path) -> None:
    target = tmp_path / "billing.html"
    write_atomic({target: b"x" * 4_000_000})
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
    monkeypatch.setattr(report, "default_notebook", lambda: FIXTURE)
    runner = CliRunner()
    result = runner.invoke(
        report_command,
        ["--project", str(project), "--period", PERIOD, "--team", "billing", "--team", "broken"],
    )
    assert result.exit_code == 1, result.output
    assert "[1/2]" in result.output
    assert "[2/2]" in result.output
    assert "1 of 2 review(s) published" in result.output
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
    monkeypatch.setattr(report, "default_notebook", lambda: FIXTURE)
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
    monkeypatch.setattr(report, "default_notebook", lambda: FIXTURE)
    monkeypatch.setattr(shutil, "which", lambda _: None)
    result = CliRunner().invoke(
        report_command, ["-p", str(project), "--period", PERIOD, "--team", "billing", "--pdf"]
    )
    assert result.exit_code == 1
    assert "Debian's chromium" in result.output


@pytest.mark.skipif(
    not (REVIEW.exists() and PUBLISH.exists()),
    reason="notebooks/monthly_review.ipynb and reviewkit/publish.py are not written yet",
)
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
