"""Running the reviews: the review notebook per team with papermill, in parallel, published.

>>> run = run_reports(Path("."), "last-month", jobs=2)
>>> run.ok, [(r.team, r.ok, r.seconds) for r in run.results]

Each review is executed in a scratch folder and published (notebook, HTML and snapshot) with
:func:`reviewkit.base.files.atomic_write`, so a reader (or a crash) never sees half a report and a
failed run leaves the last good report untouched; the failed run's notebook is published beside
it instead. Temporary files carry the process id in their names (``.<name>.<pid>.<random>.tmp``,
and ``.reviewkit/run-<pid>-<random>/`` for a run's scratch folder): a run killed midway leaves
only such dot files, never anything that looks like a report, and the next run removes those
whose process is gone (:func:`_sweep`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

from reviewkit.base.errors import ReviewkitError, permission_denied, shown_path
from reviewkit.base.files import NO_SPACE, TEMPORARY, atomic_write, cannot_write
from reviewkit.base.resources import notebooks_dir
from reviewkit.base.urls import is_url, shown_url
from reviewkit.check import check_project
from reviewkit.inputs import review_inputs
from reviewkit.project import Project, data_gap, open_project
from reviewkit.publish.report.archive import FROZEN, VIEWS, freeze, frozen_view, view_layout
from reviewkit.publish.report.executors import Executor, KernelWorker, Ready, executor_for
from reviewkit.publish.report.index import write_index
from reviewkit.publish.report.layout import (
    COMPANY,
    FAILED,
    PERIOD_FOLDER,
    SAFE_TEAM,
    SNAPSHOT,
    WHOLE_RUN,
    labels,
    now,
    previous_snapshot,
    record_attempts,
)

#: how often a kernel that failed to start is tried in all (kernel-start races in parallel runs)
KERNEL_ATTEMPTS = 3
#: messages of the kernel-start races worth a retry (see STACK-FACTS: ~1-2% of parallel runs)
KERNEL_RACES = (
    "Address already in use",
    "Kernel died before replying to kernel_info",
    "Kernel didn't respond",
)


@dataclass(frozen=True)
class TeamResult:
    """How one team's review went: ``ok``, or ``error`` with the failed notebook's path."""

    team: str
    ok: bool
    seconds: float
    error: str = ""
    html: Path | None = None
    notebook: Path | None = None
    snapshot: Path | None = None
    failed_notebook: Path | None = None
    attempts: int = 1

    @property
    def label(self) -> str:
        """The team name, or ``company`` for the company-wide review."""
        return self.team or COMPANY


@dataclass(frozen=True)
class ReportRun:
    """The reports of one period: a result per team, in the order the teams were asked for."""

    period: str
    directory: Path
    index: Path
    results: tuple[TeamResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> tuple[TeamResult, ...]:
        return tuple(r for r in self.results if not r.ok)


class Progress(Protocol):
    """Told how a run goes, e.g. to draw a progress bar: ``begin`` with every team's label
    before the first kernel starts, ``started`` as each kernel starts (from a worker thread),
    ``finished`` as each team ends (from the calling thread)."""

    def begin(self, labels: Sequence[str]) -> None: ...

    def started(self, label: str) -> None: ...

    def finished(self, result: TeamResult, done: int, total: int) -> None: ...


def default_notebook() -> Path:
    """``monthly_review.ipynb`` of the notebooks reviewkit ships."""
    return notebooks_dir() / "monthly_review.ipynb"


def run_reports(
    project_dir: Path,
    period: str,
    *,
    teams: Sequence[str] | None = None,
    jobs: int | None = None,
    executor: str = "local",
    out: Path | None = None,
    notebook: Path | None = None,
    timeout: float = 600,
    progress: Callable[[str], None] | None = None,
    tracker: Progress | None = None,
    allow_empty: bool = False,
) -> ReportRun:
    """Run the review notebook for each team of ``period`` in parallel and publish the results.

    ``period`` is ``YYYY-MM``, ``last-month`` or ``latest``; ``teams=None`` means every team
    that owns an outcome plus the company-wide review (``""``). ``executor`` is where the
    reviews run: ``local``, with ``jobs`` kernels at once (default: the CPU count), or
    ``dask://host:port``, the workers of a Dask cluster that read this project at the same path
    (:mod:`reviewkit.publish.report.executors`); either way this process publishes. ``timeout`` is
    papermill's limit per cell, in seconds. A failing team does not stop the others: see
    :attr:`ReportRun.ok`. ``progress`` gets one line per team as it finishes (``[2/6] billing:
    ok (3.1 s)``, see :func:`progress_line`);
    ``tracker`` is told more (:class:`Progress`). Raises :class:`ReviewkitError` for a bad
    project, period, team or notebook, before any kernel starts, and for a period none of whose
    outcomes has data (data that stopped long ago, a month asked for ahead of it), naming the
    latest month with data, unless ``allow_empty``.

    The content of every export, config file and the notebook is archived under
    :data:`FROZEN` (when not archived yet) before the kernels start, and each snapshot records
    its hashes, so :func:`reproduce` can re-run the review as it was.

    Each review's attempt is recorded in the period's ``attempts.json``, and a run that fails
    before any review runs is recorded there too, so the index never shows a stale "ok"; a
    folder this user may not write is such a failure (a :class:`ReviewkitError` saying whose it
    is and what to do).
    """
    place = _Place(
        (out if out is not None else project_dir.resolve() / "reports"),
        period if PERIOD_FOLDER.match(period) else None,
        None if teams is None else [team or COMPANY for team in teams],
    )
    try:
        return _run_reports(
            project_dir,
            period,
            place,
            teams=teams,
            jobs=jobs,
            executor=executor,
            notebook=notebook,
            timeout=timeout,
            progress=progress,
            tracker=tracker,
            allow_empty=allow_empty,
        )
    except ReviewkitError as exc:
        place.failed(str(exc))
        raise
    except PermissionError as exc:  # a folder this user may not write (another user's)
        denied = permission_denied(exc)
        place.failed(str(denied))
        raise denied from None


@dataclass
class _Place:
    """Where a run publishes, as far as it is known yet: the reports folder, the period's label
    (known once the project is read, unless given as YYYY-MM), the reviews asked for (None:
    every one) and the live pages' address."""

    reports: Path
    label: str | None
    asked: list[str] | None
    live: str | None = None

    def failed(self, error: str) -> None:
        """Record a run that failed before any review ran as the latest attempt of each review
        it was to run, and show it in the index (when the period is known and reviews were
        published before; else the error alone says it)."""
        if self.label is None or not self.reports.is_dir():
            return  # nothing published yet: no index to correct, and nothing is written
        folder = self.reports / self.label
        why = f"the run failed before any review ran: {error}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            asked = labels(folder) if self.asked is None else self.asked
            record_attempts(folder, dict.fromkeys(asked or [WHOLE_RUN], why))
            write_index(self.reports, live=self.live)
        except (OSError, ReviewkitError):
            pass


def _run_reports(
    project_dir: Path,
    period: str,
    place: _Place,
    *,
    teams: Sequence[str] | None,
    jobs: int | None,
    executor: str,
    notebook: Path | None,
    timeout: float,
    progress: Callable[[str], None] | None,
    tracker: Progress | None,
    allow_empty: bool,
) -> ReportRun:
    with executor_for(executor, jobs) as runner:
        source = notebook if notebook is not None else default_notebook()
        if not source.is_file():
            raise ReviewkitError(f"the review notebook {shown_path(source)} does not exist")
        errors = [p for p in check_project(project_dir) if p.severity == "error"]
        if errors:
            raise ReviewkitError.from_problems(
                "the project has errors, so no review was run; fix them and run it again:", errors
            )
        with open_project(project_dir) as project:
            month = project.period(period, "month")
            label = place.label = month.label
            place.live = project.config.live_url
            gap = None if allow_empty else data_gap(project, month)
            if gap is not None:
                raise ReviewkitError(
                    f"{gap} Nothing was published: pass that month as --period, or "
                    "--allow-empty to publish a review that says there is no data."
                )
            through = project.data_through()
            wanted = _teams(project, teams)
            inputs = review_inputs(project)
            name = project.config.name
            live = project.config.live_url
            root = project.root
            inputs["notebook_sha256"] = project.workspace.cache.digest(source)
            read = {**inputs["exports"], **inputs["config"]}
            freeze(
                root,
                {root / path: digest for path, digest in read.items()}
                | {source: inputs["notebook_sha256"]},
            )
            store = project.config.store_location
            cache = project.workspace.cache
            layout = view_layout(project, inputs)
        directory = place.reports / label
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise cannot_write(exc, directory) from None
        for folder in (directory, directory.parent, root / FROZEN, root / ".reviewkit"):
            _sweep(folder)  # what runs killed before left behind
        freshness = f"data through {through}" if through else "no data yet"
        try:
            scratch = Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=root / ".reviewkit"))
        except OSError as exc:
            raise cannot_write(exc, root / ".reviewkit") from None
        try:
            view = frozen_notebook = None  # a project a view cannot mirror is read where it is
            if layout is not None:
                try:
                    view, frozen_notebook = frozen_view(
                        root, cache, layout, inputs["notebook_sha256"], store, source, scratch
                    )
                except OSError as exc:
                    raise cannot_write(exc, root / VIEWS) from None
            queued = [
                Job(
                    source,
                    root,
                    label,
                    team,
                    timeout,
                    directory,
                    f"{name} review · {team or COMPANY} · {label}",
                    freshness,
                    inputs,
                    previous=previous_snapshot(directory.parent, label, team),
                    view=view,
                    frozen_notebook=frozen_notebook,
                    scratch=scratch,
                )
                for team in wanted
            ]
            ready = functools.partial(store_ready, view or root, _store_identity(store))
            results = run_jobs(
                queued, runner, progress, tracker, shared=[view or root, scratch], ready=ready
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    record_attempts(directory, {r.label: None if r.ok else r.error for r in results})
    index = write_index(directory.parent, live=live)
    return ReportRun(label, directory, index, results)


def progress_line(result: TeamResult, done: int, total: int) -> str:
    """One team's end as a line of a log: ``[2/6] billing: ok (3.1 s)``."""
    status = "ok" if result.ok else f"FAILED: {_first_line(result.error)}"
    return f"[{done}/{total}] {result.label}: {status} ({result.seconds:.1f} s)"


def run_jobs(
    jobs: Sequence[Job],
    executor: Executor,
    progress: Callable[[str], None] | None,
    tracker: Progress | None,
    *,
    shared: Sequence[Path],
    ready: Ready | None = None,
) -> tuple[TeamResult, ...]:
    """Execute the jobs with ``executor`` and publish each review here as it comes back,
    telling ``progress`` and ``tracker`` as they go; the results in the jobs' order. Only this
    process publishes: a worker lost mid-review leaves nothing behind (see
    :mod:`reviewkit.publish.report.executors`). ``shared`` are the folders the jobs work in;
    ``ready`` is asked on each worker first (e.g. :func:`store_ready`)."""
    if tracker is not None:
        tracker.begin([job.label for job in jobs])

    def started(number: int) -> None:
        if tracker is not None:
            tracker.started(jobs[number].label)

    done: dict[int, TeamResult] = {}
    for finished in executor.run(jobs, shared=shared, started=started, ready=ready):
        job = jobs[finished.index]
        executed = finished.value or Executed.failed(finished.error)
        result = job.publish(replace(executed, attempts=executed.attempts + finished.attempts - 1))
        done[finished.index] = result
        if progress is not None:
            progress(progress_line(result, len(done), len(jobs)))
        if tracker is not None:
            tracker.finished(result, len(done), len(jobs))
    return tuple(done[i] for i in range(len(jobs)))


def store_ready(project: Path, store: str) -> str:
    """Asked on each Dask worker before its reviews: nothing when a review there would read
    ``store`` (the one this run read, see :func:`_store_identity`) and can open it, else why
    not and what to do. Without it, every review failed on its own, each after a kernel
    started for it."""
    try:
        with open_project(project) as opened:
            location = opened.config.store_location
            if _store_identity(location) != store:
                return (
                    f"its reviews would read the store {_shown_store(location)}, not "
                    f"{_shown_store(store)} as this machine's do: {_SAME_STORE}"
                )
            if not isinstance(location, Path):  # a server: its address and credentials
                opened.store.last_event_id()
    except ReviewkitError as exc:
        return f"{exc}; {_SAME_STORE}"
    return ""


#: what a worker needs to open the store as `reviewkit report` does
_SAME_STORE = (
    "give every worker the environment `reviewkit report` has for the store (PGPASSWORD or "
    "~/.pgpass for a PostgreSQL store, and REVIEWKIT_STORE if it is set here), as "
    '"Review batches on a Dask cluster" in docs/guide/beyond-one-machine.md shows'
)


def _store_identity(location: Path | str) -> str:
    """A store as two machines can compare it: a file's real path, or the server's address."""
    return str(location.resolve()) if isinstance(location, Path) else location


def _shown_store(location: Path | str) -> str:
    text = str(location)
    return shown_url(text) if is_url(text) else shown_path(Path(text))


def _teams(project: Project, teams: Sequence[str] | None) -> list[str]:
    """The teams to report on, checked: safe as file names and without duplicates."""
    known = sorted({o.team for o in project.config.outcomes.values() if o.team})
    chosen = ["", *known] if teams is None else list(dict.fromkeys(teams))
    for team in chosen:
        if team == COMPANY or (team and not SAFE_TEAM.match(team)):
            raise ReviewkitError(
                f"team {team!r} cannot name a report file: use letters, digits, '.', '-' and "
                f"'_' (and not {COMPANY!r}, the company-wide review's name)"
            )
    if not chosen:
        raise ReviewkitError("no teams to report on")
    return chosen


@dataclass(frozen=True)
class Executed:
    """A review as its worker left it, to publish: the executed notebook (empty if the kernel
    never wrote one), the rendered page, or the error. Plain bytes and text, so a Dask worker
    can send it back."""

    notebook: bytes
    page: str
    error: str | None
    attempts: int
    started_at: str
    seconds: float

    @classmethod
    def failed(cls, error: str) -> Executed:
        """A review that never came back (its task raised, its workers were lost)."""
        return cls(b"", "", error or "failed", 1, now(), 0.0)


@dataclass(frozen=True)
class Job:
    """One team's review: execute the notebook into a temp dir, then publish or record failure."""

    notebook: Path
    root: Path
    period: str
    team: str
    timeout: float
    directory: Path
    title: str
    subtitle: str
    inputs: dict[str, Any]
    #: more for the snapshot (a reproduction says what it reproduces)
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: the snapshot of the team's review before this one ("" for none): what changed since
    previous: str = ""
    #: what the kernel reads instead of ``root`` and ``notebook`` (a run's frozen view of the
    #: project and the archived notebook; None: those themselves, as a reproduction does)
    view: Path | None = None
    frozen_notebook: Path | None = None
    #: where the executed notebook is written before it is published (default: ``directory``)
    scratch: Path | None = None

    @property
    def label(self) -> str:
        """The team name, or ``company`` for the company-wide review."""
        return self.team or COMPANY

    def execute(self, worker: KernelWorker) -> Executed:
        """Run the notebook in ``worker``'s kernel and render it: what to publish, in memory.
        Nothing is published here, so a worker lost midway (a Dask worker's machine gone)
        leaves nothing behind."""
        started = time.monotonic()
        started_at = now()
        with tempfile.TemporaryDirectory(
            prefix=f".run-{os.getpid()}-", dir=self.scratch or self.directory
        ) as scratch:
            executed = Path(scratch) / "executed.ipynb"
            error, attempts = self._papermill(executed, worker)
            page = ""
            if error is None:
                try:
                    page = _render(executed, title=self.title, subtitle=self.subtitle)
                except Exception as exc:  # a rendering failure fails this team only
                    error = f"rendering failed: {type(exc).__name__}: {exc}"
            notebook = executed.read_bytes() if executed.is_file() else b""
        seconds = time.monotonic() - started
        return Executed(notebook, page, error, attempts, started_at, seconds)

    def publish(self, executed: Executed) -> TeamResult:
        """Publish an executed review (notebook, HTML and snapshot together), or its failed
        notebook beside the last good report."""
        started = time.monotonic()
        base = self.directory / self.label
        error = executed.error
        if error is None:
            try:
                paths = self._publish(base, executed)
            except ReviewkitError as exc:  # e.g. the disk is full: its message says so
                error = f"publishing failed: {exc}"
            except Exception as exc:  # a publishing failure fails this team only
                error = f"publishing failed: {type(exc).__name__}: {exc}"
            else:
                notebook, page_path, snapshot = paths
                return TeamResult(
                    self.team,
                    True,
                    executed.seconds + time.monotonic() - started,
                    html=page_path,
                    notebook=notebook,
                    snapshot=snapshot,
                    attempts=executed.attempts,
                )
        try:
            failed = _write_failed(executed.notebook, base.with_name(base.name + FAILED), error)
        except (OSError, ReviewkitError) as exc:
            failed = None
            error += f"; the failed notebook could not be saved either: {exc}"
        seconds = executed.seconds + time.monotonic() - started
        return TeamResult(
            self.team, False, seconds, error, failed_notebook=failed, attempts=executed.attempts
        )

    def _publish(self, base: Path, executed: Executed) -> tuple[Path, Path, Path]:
        """Write the notebook, the HTML and the snapshot together, and drop a failure left by
        an earlier run."""
        snapshot = {
            "reviewkit": _version(),
            "period": self.period,
            "team": self.team,
            "parameters": self.parameters,
            "notebook": str(self.notebook),
            "started_at": executed.started_at,
            "finished_at": now(),
            "seconds": round(executed.seconds, 3),
            **self.inputs,
            **self.extra,
        }
        notebook = base.with_suffix(".ipynb")
        page_path = base.with_suffix(".html")
        snapshot_path = base.with_name(base.name + SNAPSHOT)
        atomic_write(
            {
                notebook: executed.notebook,
                page_path: executed.page.encode("utf-8"),
                snapshot_path: json.dumps(snapshot, indent=2).encode("utf-8"),
            }
        )
        base.with_name(base.name + FAILED).unlink(missing_ok=True)
        return notebook, page_path, snapshot_path

    @property
    def parameters(self) -> dict[str, str]:
        return {
            "project_dir": str(self.root),
            "period": self.period,
            "team": self.team,
            "previous": self.previous,
        }

    def _papermill(self, executed: Path, worker: KernelWorker) -> tuple[str | None, int]:
        """Run papermill in the worker's kernel (retrying kernel-start races); the error text,
        or None, and attempts."""
        import papermill  # noqa: PLC0415 (slow import, only when reports run)

        for attempt in range(1, KERNEL_ATTEMPTS + 1):
            try:
                # The kernel starts in the view, for every review of the run alike;
                # papermill's own cwd= would chdir this whole process while the review runs,
                # under the feet of the other workers.
                kernel = worker.kernel(self.view or self.root)
                notebook = self.frozen_notebook or self.notebook
                kernel.fresh()
                papermill.execute_notebook(
                    str(notebook),
                    str(executed),
                    parameters=named_for(
                        notebook, {**self.parameters, "project_dir": str(self.view or self.root)}
                    ),
                    kernel_name="python3",
                    execution_timeout=self.timeout,
                    progress_bar=False,
                    km=kernel.manager,
                )
            except papermill.PapermillExecutionError as exc:
                worker.discard()
                return f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}", attempt
            except Exception as exc:  # one team's failure must not stop the others
                worker.discard()
                if isinstance(exc, TimeoutError):  # nbclient's CellTimeoutError
                    return f"timed out: a cell ran longer than {self.timeout:g} s", attempt
                if isinstance(exc, OSError) and exc.errno in NO_SPACE:
                    return str(cannot_write(exc, Path(exc.filename or executed))), attempt
                if isinstance(exc, PermissionError):  # e.g. the kernels' runtime folder
                    return str(permission_denied(exc)), attempt
                text = f"{type(exc).__name__}: {exc}".strip()
                if attempt < KERNEL_ATTEMPTS and any(race in text for race in KERNEL_RACES):
                    executed.unlink(missing_ok=True)
                    continue
                return text, attempt
            return None, attempt
        raise AssertionError("unreachable: the last attempt returns")


def _render(executed: Path, *, title: str, subtitle: str) -> str:
    """The executed notebook as self-contained offline HTML, by
    ``reviewkit.publish.html.to_html``."""
    from reviewkit.publish.html import to_html  # noqa: PLC0415 (nbconvert is slow to import)

    return to_html(executed, title=title, subtitle=subtitle)


def _write_failed(executed: bytes, failed: Path, error: str) -> Path | None:
    """Publish a failed run's notebook (None if the kernel never started), with the error and
    the time in its metadata, where the index finds them."""
    try:
        notebook = json.loads(executed)
    except ValueError:  # nothing was written (or half of it)
        return None
    if not isinstance(notebook, dict):
        return None
    notebook.setdefault("metadata", {})["reviewkit"] = {"error": error, "failed_at": now()}
    atomic_write({failed: json.dumps(notebook, indent=1, ensure_ascii=False).encode("utf-8")})
    return failed


#: a run's scratch folder under ``.reviewkit``: ``run-<pid>-<random>``
_RUN_FOLDER = re.compile(r"run-(\d+)-\w+\Z")


def _sweep(folder: Path) -> None:
    """Remove the temporary files and run folders that runs killed midway left in ``folder``
    (their process is gone; a live run's are left alone). They never look like reports: their
    names start with a dot and end in ``.tmp``, or they are under ``.reviewkit``."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        temporary = TEMPORARY.match(entry.name)
        run = _RUN_FOLDER.match(entry.name)
        owner = temporary or run
        if owner is None or _alive(int(owner[1])):
            continue
        with contextlib.suppress(OSError):
            if run is not None and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            elif temporary is not None and entry.is_file():
                entry.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _version() -> str:
    try:
        return metadata.version("reviewkit")
    except metadata.PackageNotFoundError:
        return "unknown"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "failed"


def named_for(notebook: Path, parameters: Mapping[str, str]) -> dict[str, str]:
    """``parameters`` as ``notebook`` names them: the project folder is ``project_dir``, or
    ``project`` in a review notebook that declares that name instead (the name before issue 31:
    an archived notebook an old review's reproduction runs, or a project's own notebook)."""
    import papermill  # noqa: PLC0415 (slow import, only when reports run)

    declared = set(papermill.inspect_notebook(str(notebook)))
    if "project_dir" in declared or "project" not in declared:
        return dict(parameters)
    return {("project" if key == "project_dir" else key): v for key, v in parameters.items()}
