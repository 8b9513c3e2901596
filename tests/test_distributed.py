"""Review batches on a Dask cluster (issue 18): a real ``distributed.LocalCluster`` of worker
processes runs the real review notebook, one worker process is killed mid-review, and every
review is still published exactly once, by this process, equal to the local run's."""

from __future__ import annotations

import itertools
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner
from distributed import Client, LocalCluster

from reviewkit import open_project
from reviewkit.base.errors import ReviewkitError
from reviewkit.cli.report import report as report_command
from reviewkit.publish.report import TeamResult, run_reports
from reviewkit.publish.report import run as report_run
from reviewkit.publish.report.run import store_ready
from tests.support.postgres import free_port
from tests.support.review_files import normal

PERIOD = "2026-10"
TEAMS = ["billing", "growth", "support", ""]
BIN = Path(sys.executable).parent
#: where "Review batches on a Dask cluster" is (a README section until issue 31)
GUIDE = (Path(__file__).resolve().parents[1] / "docs/guide/beyond-one-machine.md").read_text(
    encoding="utf-8"
)

pytestmark = pytest.mark.usefixtures("jupyter_dirs")


@pytest.fixture
def project(sample_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the sample company with its links, so reviews have evidence."""
    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with open_project(folder) as opened:
        opened.import_links(folder / "data" / "links.yaml")
    return folder


def local_cluster(workers: int) -> LocalCluster:
    """Worker processes of one thread each; they inherit this test's environment (its Jupyter
    folders and reviewkit's clock)."""
    return LocalCluster(
        n_workers=workers,
        processes=True,
        threads_per_worker=1,
        dashboard_address=":0",  # a free port: None still means 8787, taken by any other cluster
        silence_logs=logging.ERROR,
    )


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """Three worker processes."""
    with local_cluster(3) as started:
        yield started


class KillFirst:
    """A progress tracker that, as the first review starts on a worker, kills that worker's
    process (SIGKILL, from a thread of its own: the tracker is called on the client's loop)."""

    def __init__(self, address: str) -> None:
        self.client = Client(address, set_as_default=False)
        self.first = threading.Event()
        self.label = ""
        self.killed: list[int] = []
        self.started_labels: list[str] = []
        self.ended: list[str] = []
        self.thread = threading.Thread(target=self._kill, daemon=True)
        self.thread.start()

    def begin(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)

    def started(self, label: str) -> None:
        self.started_labels.append(label)
        if not self.first.is_set():
            self.label = label
            self.first.set()

    def finished(self, result: TeamResult, done: int, total: int) -> None:
        self.ended.append(f"{done}/{total} {result.label}")

    def _kill(self) -> None:
        self.first.wait()
        prefix = f"reviewkit-review-{self.label}-"
        pids = self.client.run(os.getpid)
        for worker, keys in self.client.processing().items():
            if any(str(key).startswith(prefix) for key in keys):
                os.kill(pids[worker], signal.SIGKILL)
                self.killed.append(pids[worker])

    def live_workers(self) -> set[int]:
        """The worker processes' pids now (the killed one's replacement included)."""
        return set(self.client.run(os.getpid).values())


def review_kernels(tmp_path: Path) -> list[psutil.Process]:
    """The kernels working in this test's folders, still running."""
    found = []
    for process in psutil.process_iter(["cmdline", "cwd"]):
        command, cwd = " ".join(process.info["cmdline"] or []), process.info["cwd"] or ""
        if "ipykernel_launcher" in command and cwd.startswith(str(tmp_path)):
            found.append(process)
    return found


def test_a_worker_killed_mid_review_is_retried_and_every_review_published_once(
    project: Path, tmp_path: Path, cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = run_reports(project, PERIOD, teams=TEAMS, jobs=2, out=tmp_path / "local")
    assert local.ok, local.failed

    written: Counter[Path] = Counter()
    real_write = report_run.atomic_write

    def counted(files: dict[Path, bytes]) -> None:  # every publish goes through here
        written.update(files.keys())
        real_write(files)

    monkeypatch.setattr(report_run, "atomic_write", counted)
    tracker = KillFirst(cluster.scheduler_address)
    address = cluster.scheduler_address.replace("tcp://", "dask://")
    run = run_reports(
        project, PERIOD, teams=TEAMS, executor=address, out=tmp_path / "dask", tracker=tracker
    )
    tracker.thread.join(timeout=10)

    assert run.ok, run.failed
    assert len(tracker.killed) == 1, "the first review's worker was killed mid-review"
    killed = next(r for r in run.results if r.label == tracker.label)
    assert killed.attempts >= 2  # Dask ran it again on another worker
    assert sorted(tracker.started_labels) == sorted(r.label for r in run.results)
    assert [line.split()[0] for line in tracker.ended] == ["1/4", "2/4", "3/4", "4/4"]
    names = {r.label for r in run.results}
    assert sorted(p.name for p in run.directory.iterdir()) == sorted(
        [
            "attempts.json",
            *(f"{n}{s}" for n in names for s in (".html", ".ipynb", ".snapshot.json")),
        ]
    )  # no failed notebook, no temporary file left
    assert written == Counter(
        {run.directory / f"{n}{s}": 1 for n in names for s in (".html", ".ipynb", ".snapshot.json")}
    )  # each file published exactly once, by this process
    for name in names:
        for suffix in (".ipynb", ".html"):
            ours, theirs = run.directory / f"{name}{suffix}", local.directory / f"{name}{suffix}"
            assert normal(ours) == normal(theirs), (name, suffix)
    # the killed worker's kernel went with it: the kernels left are the live workers' own,
    # kept warm for their next review
    workers = tracker.live_workers()
    tracker.client.close()
    deadline = time.monotonic() + 10
    while {k.ppid() for k in review_kernels(tmp_path)} - workers:
        assert time.monotonic() < deadline, "a kernel outlived its worker"
        time.sleep(0.2)


def test_an_unreachable_or_malformed_executor_says_what_to_do(project: Path) -> None:
    runner = CliRunner()
    common = ["-p", str(project), "--period", PERIOD, "--all-teams"]
    port = free_port()
    result = runner.invoke(report_command, [*common, "--executor", f"dask://127.0.0.1:{port}"])
    assert result.exit_code == 1
    assert f"--executor dask://127.0.0.1:{port}: cannot reach a Dask scheduler" in result.output
    assert "`dask scheduler`" in result.output and "--executor local" in result.output
    result = runner.invoke(report_command, [*common, "--executor", "dask://scheduler"])
    assert result.exit_code == 1
    assert "--executor 'dask://scheduler' is not an executor: use 'local' or" in result.output
    result = runner.invoke(report_command, [*common, "--jobs", "2", "--executor", "dask://s:8786"])
    assert result.exit_code == 1
    assert "leave out --jobs" in result.output
    assert not (project / "reports").exists()


def use_store(project: Path, url: str) -> None:
    """Put the project's store at ``url`` in its reviewkit.yaml, as docs/guide/team.md says."""
    config = project / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8")
    assert "\nstore: reviewkit.db" in text
    config.write_text(text.replace("\nstore: reviewkit.db", f"\nstore: {url}"), encoding="utf-8")


def test_a_worker_that_cannot_open_the_store_stops_the_run_before_any_review(
    project: Path, pg_password_url: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store in PostgreSQL behind a password that this machine has and the worker has not
    (it started without PGPASSWORD): the run stops before any review, naming the worker and
    what to give it. Each review used to fail on its own, after a kernel started for it."""
    url, password = pg_password_url
    use_store(project, url)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with local_cluster(1) as cluster:
        monkeypatch.setenv("PGPASSWORD", password)  # this process's, not the worker's
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        (worker,) = cluster.scheduler_info["workers"]
        started = time.monotonic()
        with pytest.raises(ReviewkitError) as raised:
            run_reports(project, PERIOD, teams=["billing", "growth"], executor=address)
        seconds = time.monotonic() - started
    message = str(raised.value)
    assert message.startswith(
        f"--executor {address}: no review was run, as Dask worker(s) {worker} cannot run one: "
        f"{url}: PostgreSQL refused the store's user while opening the store ("
    ), message
    assert "no password supplied" in message
    assert message.endswith(
        "; give every worker the environment `reviewkit report` has for the store (PGPASSWORD "
        "or ~/.pgpass for a PostgreSQL store, and REVIEWKIT_STORE if it is set here), as "
        '"Review batches on a Dask cluster" in docs/guide/beyond-one-machine.md shows'
    )
    reviews = [p.name for p in (project / "reports" / PERIOD).glob("*.*") if p.suffix != ".json"]
    assert reviews == []  # not even a failed notebook: no review ran
    print(f"stopped after {seconds:.1f} s")


def test_a_worker_that_would_read_another_store_is_told_so(shop_dir: Path) -> None:
    """What a worker without this machine's REVIEWKIT_STORE answers: its reviews would read
    the project's SQLite file instead of the PostgreSQL store this run read."""
    here = "postgresql://reviews:s3cret@db.example.com/reviewkit"
    assert store_ready(shop_dir, here) == (
        "its reviews would read the store reviewkit.db, not "
        "postgresql://reviews:***@db.example.com/reviewkit as this machine's do: give every "
        "worker the environment `reviewkit report` has for the store (PGPASSWORD or ~/.pgpass "
        "for a PostgreSQL store, and REVIEWKIT_STORE if it is set here), as "
        '"Review batches on a Dask cluster" in docs/guide/beyond-one-machine.md shows'
    )
    assert store_ready(shop_dir, str((shop_dir / "reviewkit.db").resolve())) == ""


def dask_recipe(port: int, password: str) -> list[tuple[dict[str, str], list[str]]]:
    """The commands of the guide's "Review batches on a Dask cluster", each with the variables
    set before it: the machines' addresses are loopback, the scheduler's port ``port``, and the
    store's password ``password``."""
    section = GUIDE.split("## Review batches on a Dask cluster", 1)[1]
    found = re.search(r"```\n(.*?)```", section, re.S)
    assert found, "the recipe's code block"
    lines = [line.split("  #")[0].strip() for line in found[1].splitlines() if line.strip()]
    commands = []
    for line in lines:
        here = re.sub(r"\b10\.0\.0\.\d+\b", "127.0.0.1", line).replace("8786", str(port))
        words = shlex.split(here.replace("PGPASSWORD=...", f"PGPASSWORD={password}"))
        assigned = list(itertools.takewhile(lambda word: re.match(r"[A-Z_]+=", word), words))
        commands.append((dict(word.split("=", 1) for word in assigned), words[len(assigned) :]))
    return commands


def listening(port: int) -> None:
    """Wait until something listens on loopback ``port``."""
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert time.monotonic() < deadline, f"nothing listens on port {port}"
        time.sleep(0.1)


def test_the_dask_recipe_runs_as_written(
    project: Path, pg_password_url: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduler and a worker started with the guide's commands, then its `reviewkit report`
    from the project folder, the store in PostgreSQL behind a password that only the commands
    the recipe gives it to have: every team's review is published."""
    url, password = pg_password_url
    use_store(project, url)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    port = free_port()
    scheduler, worker, report = dask_recipe(port, password)
    assert [scheduler[1][:2], worker[1][:2], report[1][:2]] == [
        ["dask", "scheduler"],
        ["dask", "worker"],
        ["reviewkit", "report"],
    ]
    assert "--host" in scheduler[1] and "--host" in worker[1]  # not every interface
    assert worker[0] == report[0] == {"PGPASSWORD": password}
    started = []
    try:
        for variables, command in (scheduler, worker):
            started.append(
                subprocess.Popen(
                    [str(BIN / command[0]), *command[1:]],
                    env={**os.environ, **variables},
                    start_new_session=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            if command is scheduler[1]:  # listening before the worker and the report connect
                listening(port)
        variables, command = report
        done = subprocess.run(
            [str(BIN / command[0]), *command[1:]],
            env={**os.environ, **variables},
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        for process in reversed(started):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    with open_project(project) as opened:
        teams = {o.team for o in opened.config.outcomes.values() if o.team}
    published = {p.stem for p in (project / "reports" / PERIOD).glob("*.html")}
    assert published == {"company", *teams}
    assert f"{len(teams) + 1} of {len(teams) + 1} review(s) published" in done.stdout
