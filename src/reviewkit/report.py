"""Monthly review reports: run the review notebook per team with papermill, publish HTML.

>>> run = run_reports(Path("."), "last-month", jobs=2)
>>> run.ok, [(r.team, r.ok, r.seconds) for r in run.results]

Layout under ``<project>/reports`` (one folder per period)::

    index.html                         every published review, all periods, with status and links
    2026-10/company.html               the company-wide review ("" team), offline HTML
    2026-10/company.ipynb              the executed notebook it was rendered from
    2026-10/company.snapshot.json      what it read: export hashes, store event id, parameters
    2026-10/billing.failed.ipynb       the latest run of a team failed: papermill's error marker
    reproduced/2026-10/company.html    an old review re-run as it was (:func:`reproduce`)

Every file is written to a temporary file in its folder and moved into place with ``os.replace``
(:mod:`reviewkit.files`), so a reader (or a crash) never sees half a report, and a failed run
leaves the last good report untouched. Re-running a period replaces its reports.

Before the kernels start, the content of every file a review reads (the exports, the config and
the notebook) is archived under ``<project>/.reviewkit/frozen/<sha256>`` unless that content is
archived already, so :func:`reproduce` can re-run the review later with exactly those files and
with the store as it was at the event the snapshot records. The archive holds copies, not hard
links: an export refreshed in place (``cp``, ``curl -o``, a shell ``>``, an editor) keeps its
inode, and a hard link would change with it. The kernels read those archived copies (through a
view of the project kept under ``.reviewkit/views``, see :func:`_frozen_view`) and run the
archived notebook, so every review of a run reads exactly what its snapshot records, even when
an export is rewritten while the run goes on.

Temporary files carry the process id in their names (``.<name>.<pid>.<random>.tmp``, and
``.reviewkit/run-<pid>-<random>/`` for a run's scratch folder): a run killed midway leaves only
such dot files, never anything that looks like a report, and the next run removes those whose
process is gone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import html
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from reviewkit import clock
from reviewkit.config import CONFIG_FILE
from reviewkit.errors import ReviewkitError, shown_path
from reviewkit.files import NO_SPACE, TEMPORARY, atomic_write, cannot_write, replacing
from reviewkit.kernels import kernel_config
from reviewkit.project import Project, check_project, open_project
from reviewkit.sources import SourceCache, source_files
from reviewkit.store import store_as_of

__all__ = [
    "COMPANY",
    "FROZEN",
    "Progress",
    "ReportRun",
    "Reproduction",
    "TeamResult",
    "changes_since",
    "default_notebook",
    "progress_line",
    "reproduce",
    "run_reports",
]

#: the file name (and the label) of the company-wide review, whose ``team`` parameter is ""
COMPANY = "company"
#: how often a kernel that failed to start is tried in all (kernel-start races in parallel runs)
KERNEL_ATTEMPTS = 3
#: messages of the kernel-start races worth a retry (see STACK-FACTS: ~1-2% of parallel runs)
KERNEL_RACES = (
    "Address already in use",
    "Kernel died before replying to kernel_info",
    "Kernel didn't respond",
)
#: team names become file names: keep them to safe characters
_SAFE_TEAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_FAILED = ".failed.ipynb"
_SNAPSHOT = ".snapshot.json"
#: where the content of every file a published review read is archived, under the project
FROZEN = Path(".reviewkit") / "frozen"
#: where the runs' views of the project (what the kernels read) are kept, under the project
VIEWS = Path(".reviewkit") / "views"
#: the folder under ``reports`` that reproductions go to by default
REPRODUCED = "reproduced"
#: a period's folder under ``reports`` (the index lists these)
_PERIOD_FOLDER = re.compile(r"\d{4}-\d{2}\Z")
#: what a snapshot records of a review's inputs, all a reproduction needs besides period and team
_INPUT_KEYS = ("exports", "config", "notebook_sha256", "store_last_event_id")
_CHUNK = 1 << 20


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
    """``notebooks/monthly_review.ipynb`` of a source checkout, or the copy packed in the wheel
    (like :func:`reviewkit.scaffold.templates_dir`)."""
    packed = Path(__file__).parent / "_notebooks" / "monthly_review.ipynb"
    if packed.is_file():
        return packed
    return Path(__file__).resolve().parents[2] / "notebooks" / "monthly_review.ipynb"


def run_reports(
    project_dir: Path,
    period: str,
    *,
    teams: Sequence[str] | None = None,
    jobs: int | None = None,
    out: Path | None = None,
    notebook: Path | None = None,
    timeout: float = 600,
    progress: Callable[[str], None] | None = None,
    tracker: Progress | None = None,
) -> ReportRun:
    """Run the review notebook for each team of ``period`` in parallel and publish the results.

    ``period`` is ``YYYY-MM``, ``last-month`` or ``latest``; ``teams=None`` means every team
    that owns an outcome plus the company-wide review (``""``). ``jobs`` kernels run at once
    (default: the CPU count); ``timeout`` is papermill's limit per cell, in seconds. A failing
    team does not stop the others: see :attr:`ReportRun.ok`. ``progress`` gets one line per
    team as it finishes (``[2/6] billing: ok (3.1 s)``, see :func:`progress_line`);
    ``tracker`` is told more (:class:`Progress`). Raises :class:`ReviewkitError` for a bad
    project, period, team or notebook, before any kernel starts.

    The content of every export, config file and the notebook is archived under
    :data:`FROZEN` (when not archived yet) before the kernels start, and each snapshot records
    its hashes, so :func:`reproduce` can re-run the review as it was.
    """
    source = notebook if notebook is not None else default_notebook()
    if not source.is_file():
        raise ReviewkitError(f"the review notebook {shown_path(source)} does not exist")
    errors = [p for p in check_project(project_dir) if p.severity == "error"]
    if errors:
        raise ReviewkitError.from_problems(
            "the project has errors, so no review was run; fix them and run it again:", errors
        )
    with open_project(project_dir) as project:
        label = project.period(period, "month").label
        through = project.data_through()
        wanted = _teams(project, teams)
        inputs = _inputs(project)
        name = project.config.name
        live = project.config.live_url
        root = project.root
        inputs["notebook_sha256"] = project.cache.digest(source)
        read = {**inputs["exports"], **inputs["config"]}
        _freeze(
            root,
            {root / path: digest for path, digest in read.items()}
            | {source: inputs["notebook_sha256"]},
        )
        store_path = project.config.store_path
        cache = project.cache
        layout = _view_layout(project, inputs)
    directory = (out if out is not None else root / "reports") / label
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
                view, frozen_notebook = _frozen_view(
                    root, cache, layout, inputs["notebook_sha256"], store_path, source, scratch
                )
            except OSError as exc:
                raise cannot_write(exc, root / VIEWS) from None
        queued = [
            _Job(
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
        results = _run_jobs(queued, jobs, progress, tracker)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    index = write_index(directory.parent, live=live)
    return ReportRun(label, directory, index, results)


def _view_layout(project: Project, inputs: Mapping[str, Any]) -> dict[str, str] | None:
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
    files += [path for path in _config_files(project) if path.is_relative_to(root)]
    store = project.config.store_path  # root / the configured path: relative to the project
    if store.is_relative_to(root) and ".." in Path(os.path.relpath(store, root)).parts:
        return None
    layout = {}
    for path in files:
        relative = Path(os.path.relpath(path, root))
        if ".." in relative.parts:
            return None
        layout[relative.as_posix()] = recorded[_relative(path, root)]
    return layout


def _frozen_view(
    root: Path,
    cache: SourceCache,
    layout: Mapping[str, str],
    notebook_sha256: str,
    store_path: Path,
    notebook: Path,
    scratch: Path,
) -> tuple[Path, Path]:
    """The project and the notebook as the kernels read them: every export and config file of
    ``layout`` (see :func:`_view_layout`) at its path in a copy of the project folder, as a hard
    link to its archived copy under :data:`FROZEN` (read-only, content fixed; a copy where hard
    links are not possible), with the parsed-export cache and the store of the project; beside
    it, the archived notebook under its own name. Every review of a run thus reads exactly the
    exports, config and notebook its snapshot records, even when an export is rewritten while
    the run goes on.

    The view is kept under :data:`VIEWS`, named after what it holds (built in ``scratch`` and
    renamed into place, so it is whole or absent): runs on the same inputs share it (their
    pages come out the same, and its files are hashed once, here), and an executed notebook's
    ``project`` parameter stays a folder with what it read."""
    held = json.dumps({"files": layout, "notebook": notebook_sha256}, sort_keys=True)
    final = root / VIEWS / hashlib.sha256(held.encode("utf-8")).hexdigest()[:20]
    view, frozen_notebook = final / root.name, final / notebook.name
    if not (view.is_dir() and frozen_notebook.is_file()):
        building = scratch / "view"
        copy = building / root.name
        copy.mkdir(parents=True)
        for relative, digest in layout.items():
            _place(root / FROZEN / digest, copy / relative)
        # papermill wants the notebook's name to end in .ipynb
        _place(root / FROZEN / notebook_sha256, building / notebook.name)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            building.rename(final)
        except OSError:
            if not view.is_dir():  # else a run on the same inputs was faster
                raise
    for relative, digest in layout.items():
        if cache.digest(view / relative) != digest:
            raise ReviewkitError(
                f"the archived copy of {relative} ({(FROZEN / digest).as_posix()}) no longer has "
                f"the content it was archived with; delete it and {VIEWS.as_posix()}, and run "
                "the report again"
            )
    shared = [(root / ".reviewkit" / "cache", view / ".reviewkit" / "cache")]
    relative_store = Path(os.path.relpath(store_path, root))
    if ".." not in relative_store.parts:  # the store: the project's own, not a copy
        shared.append((store_path, view / relative_store))
    for target, link in shared:
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # a concurrent run made it
                link.symlink_to(target.resolve())
    return view, frozen_notebook


def progress_line(result: TeamResult, done: int, total: int) -> str:
    """One team's end as a line of a log: ``[2/6] billing: ok (3.1 s)``."""
    status = "ok" if result.ok else f"FAILED: {_first_line(result.error)}"
    return f"[{done}/{total}] {result.label}: {status} ({result.seconds:.1f} s)"


def _run_jobs(
    jobs: Sequence[_Job],
    workers: int | None,
    progress: Callable[[str], None] | None,
    tracker: Progress | None,
) -> tuple[TeamResult, ...]:
    """Run the jobs, ``workers`` at once (default: the CPU count), telling ``progress`` and
    ``tracker`` as they go; the results in the jobs' order."""
    count = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    labels = [job.team or COMPANY for job in jobs]
    if tracker is not None:
        tracker.begin(labels)

    def one(job: _Job) -> TeamResult:
        if tracker is not None:
            tracker.started(job.team or COMPANY)
        return job.run()

    done: dict[int, TeamResult] = {}
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="review") as pool:
        futures = {pool.submit(one, job): i for i, job in enumerate(jobs)}
        for future in as_completed(futures):
            result = future.result()
            done[futures[future]] = result
            if progress is not None:
                progress(progress_line(result, len(done), len(jobs)))
            if tracker is not None:
                tracker.finished(result, len(done), len(jobs))
    return tuple(done[i] for i in range(len(jobs)))


def _teams(project: Project, teams: Sequence[str] | None) -> list[str]:
    """The teams to report on, checked: safe as file names and without duplicates."""
    known = sorted({o.team for o in project.config.outcomes.values() if o.team})
    chosen = ["", *known] if teams is None else list(dict.fromkeys(teams))
    for team in chosen:
        if team == COMPANY or (team and not _SAFE_TEAM.match(team)):
            raise ReviewkitError(
                f"team {team!r} cannot name a report file: use letters, digits, '.', '-' and "
                f"'_' (and not {COMPANY!r}, the company-wide review's name)"
            )
    if not chosen:
        raise ReviewkitError("no teams to report on")
    return chosen


def _inputs(project: Project) -> dict[str, Any]:
    """What a review reads, for its snapshot: the content hash of every export file and of the
    config files (reviewkit.yaml and its includes), by path relative to the project, and the
    store's last event id (None without a store file: opening it would create one)."""
    exports = {
        _relative(path, project.root): project.cache.digest(path)
        for source in project.config.sources.values()
        for path in source_files(project.config, source)
    }
    config = {
        _relative(path, project.root): project.cache.digest(path) for path in _config_files(project)
    }
    last_event = None
    if project.config.store_path.exists():
        events = project.store.events()
        last_event = events[-1].id if events else 0
    return {"exports": exports, "config": config, "store_last_event_id": last_event}


def _config_files(project: Project) -> list[Path]:
    """reviewkit.yaml and the files it includes."""
    data = project.config.located.data
    included = data.get("include", []) if isinstance(data, dict) else []
    names = [CONFIG_FILE, *(str(name) for name in included)]
    return [project.root / name for name in dict.fromkeys(names)]


def _freeze(root: Path, files: Mapping[Path, str]) -> None:
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


@dataclass(frozen=True)
class _Job:
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

    def run(self) -> TeamResult:
        started = time.monotonic()
        started_at = _now()
        base = self.directory / (self.team or COMPANY)
        with tempfile.TemporaryDirectory(
            prefix=f".run-{os.getpid()}-", dir=self.scratch or self.directory
        ) as scratch:
            executed = Path(scratch) / "executed.ipynb"
            error, attempts = self._execute(executed)
            if error is None:
                try:
                    page = _render(executed, title=self.title, subtitle=self.subtitle)
                    paths = self._publish(base, executed, page, started, started_at)
                except ReviewkitError as exc:  # e.g. the disk is full: its message says so
                    error = f"publishing failed: {exc}"
                except Exception as exc:  # a publishing failure fails this team only
                    error = f"publishing failed: {type(exc).__name__}: {exc}"
                else:
                    seconds = time.monotonic() - started
                    notebook, page_path, snapshot = paths
                    return TeamResult(
                        self.team,
                        True,
                        seconds,
                        html=page_path,
                        notebook=notebook,
                        snapshot=snapshot,
                        attempts=attempts,
                    )
            try:
                failed = _write_failed(executed, base.with_name(base.name + _FAILED), error)
            except (OSError, ReviewkitError) as exc:
                failed = None
                error += f"; the failed notebook could not be saved either: {exc}"
            seconds = time.monotonic() - started
            return TeamResult(
                self.team, False, seconds, error, failed_notebook=failed, attempts=attempts
            )

    def _publish(
        self, base: Path, executed: Path, page: str, started: float, started_at: str
    ) -> tuple[Path, Path, Path]:
        """Write the notebook, the HTML and the snapshot together, and drop a failure left by
        an earlier run."""
        snapshot = {
            "reviewkit": _version(),
            "period": self.period,
            "team": self.team,
            "parameters": self.parameters,
            "notebook": str(self.notebook),
            "started_at": started_at,
            "finished_at": _now(),
            "seconds": round(time.monotonic() - started, 3),
            **self.inputs,
            **self.extra,
        }
        notebook = base.with_suffix(".ipynb")
        page_path = base.with_suffix(".html")
        snapshot_path = base.with_name(base.name + _SNAPSHOT)
        atomic_write(
            {
                notebook: executed.read_bytes(),
                page_path: page.encode("utf-8"),
                snapshot_path: json.dumps(snapshot, indent=2).encode("utf-8"),
            }
        )
        base.with_name(base.name + _FAILED).unlink(missing_ok=True)
        return notebook, page_path, snapshot_path

    @property
    def parameters(self) -> dict[str, str]:
        return {
            "project": str(self.root),
            "period": self.period,
            "team": self.team,
            "previous": self.previous,
        }

    def _execute(self, executed: Path) -> tuple[str | None, int]:
        """Run papermill in this thread's own event loop, closed afterwards (jupyter_core
        creates one per thread and never closes it)."""
        from jupyter_core.utils import ensure_event_loop  # noqa: PLC0415

        loop = ensure_event_loop()
        try:
            return self._papermill(executed)
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _papermill(self, executed: Path) -> tuple[str | None, int]:
        """Run papermill (retrying kernel-start races); the error text, or None, and attempts."""
        import papermill  # noqa: PLC0415 (slow import, only when reports run)

        for attempt in range(1, KERNEL_ATTEMPTS + 1):
            try:
                papermill.execute_notebook(
                    str(self.frozen_notebook or self.notebook),
                    str(executed),
                    parameters={**self.parameters, "project": str(self.view or self.root)},
                    kernel_name="python3",
                    execution_timeout=self.timeout,
                    progress_bar=False,
                    # The kernel starts in the view; papermill's own cwd= would chdir this
                    # whole process while the review runs, under the feet of the other
                    # threads of a --jobs run (their paths then resolved against another
                    # folder).
                    resources={"metadata": {"path": str(self.view or self.root)}},
                    # Every output is in once the last cell has replied, so the kernel is
                    # killed, not asked to shut down: a graceful exit spends ~0.7 s of CPU
                    # tearing down pandas, DuckDB and Altair for nothing, per review (5
                    # reviews, --jobs 2, 2 cores: 17.2 s -> 13.9 s, 2 alternating runs each).
                    shutdown_kernel="immediate",
                    config=kernel_config(),
                )
            except papermill.PapermillExecutionError as exc:
                return f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}", attempt
            except Exception as exc:  # one team's failure must not stop the others
                if isinstance(exc, TimeoutError):  # nbclient's CellTimeoutError
                    return f"timed out: a cell ran longer than {self.timeout:g} s", attempt
                if isinstance(exc, OSError) and exc.errno in NO_SPACE:
                    return str(cannot_write(exc, Path(exc.filename or executed))), attempt
                text = f"{type(exc).__name__}: {exc}".strip()
                if attempt < KERNEL_ATTEMPTS and any(race in text for race in KERNEL_RACES):
                    executed.unlink(missing_ok=True)
                    continue
                return text, attempt
            return None, attempt
        raise AssertionError("unreachable: the last attempt returns")


def _render(executed: Path, *, title: str, subtitle: str) -> str:
    """The executed notebook as self-contained offline HTML, by ``reviewkit.publish.to_html``."""
    from reviewkit.publish import to_html  # noqa: PLC0415 (nbconvert is slow to import)

    return to_html(executed, title=title, subtitle=subtitle)


def _write_failed(executed: Path, failed: Path, error: str) -> Path | None:
    """Publish a failed run's notebook (None if the kernel never started), with the error and
    the time in its metadata, where the index finds them."""
    notebook = _read_json(executed)
    if not notebook:
        return None
    notebook.setdefault("metadata", {})["reviewkit"] = {"error": error, "failed_at": _now()}
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


# -- the index ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    period: str
    team: str
    status: str
    when: str
    links: tuple[tuple[str, str], ...]
    note: str = ""


def write_index(reports: Path, *, live: str | None = None) -> Path:
    """Write ``reports/index.html``: every review found under ``reports`` (all periods), newest
    period first, each with its status (``failed``: the latest run failed), time and links;
    with ``live`` (where `reviewkit serve` runs), a link to each review's live page too."""
    entries = sorted(_entries(reports, live), key=lambda e: (e.team, e.status))
    entries.sort(key=lambda e: e.period, reverse=True)
    rows = []
    for e in entries:
        links = " ".join(
            f'<a href="{html.escape(href)}">{html.escape(text)}</a>' for text, href in e.links
        )
        rows.append(
            f'<tr class="{e.status}"><td>{html.escape(e.period)}</td><td>{html.escape(e.team)}</td>'
            f"<td>{html.escape(e.status)}</td><td>{html.escape(e.when)}</td><td>{links}</td>"
            f"<td>{html.escape(e.note)}</td></tr>"
        )
    body = "\n".join(rows) or '<tr><td colspan="6">No reviews published yet.</td></tr>'
    page = _INDEX.format(rows=body, generated=html.escape(_now()))
    index = reports / "index.html"
    atomic_write({index: page.encode("utf-8")})
    return index


def live_page(live: str, period: str, team: str) -> str:
    """The address of a review's live page (``reviewkit serve``): the review notebook with the
    period and team as URL parameters."""
    query = urlencode({"period": period, **({"team": team} if team != COMPANY else {})})
    return f"{live}voila/render/review.ipynb?{query}"


def _entries(reports: Path, live: str | None) -> Iterator[_Entry]:
    for folder in sorted(p for p in reports.iterdir() if _PERIOD_FOLDER.match(p.name)):
        if not folder.is_dir():
            continue
        for page in sorted(folder.glob("*.html")):
            snapshot = _read_json(page.with_name(page.stem + _SNAPSHOT))
            when = str(snapshot.get("finished_at", "")) or _mtime(page)
            links = [("HTML", quote(f"{folder.name}/{page.name}"))]
            for suffix, text in ((".ipynb", "notebook"), (".pdf", "PDF")):
                if page.with_suffix(suffix).exists():
                    links.append((text, quote(f"{folder.name}/{page.stem}{suffix}")))
            if live:
                links.append(("live page", live_page(live, folder.name, page.stem)))
            yield _Entry(folder.name, page.stem, "ok", when, tuple(links))
        for failed in sorted(folder.glob("*" + _FAILED)):
            info = _read_json(failed).get("metadata", {}).get("reviewkit", {})
            team = failed.name.removesuffix(_FAILED)
            link = ("failed notebook", quote(f"{folder.name}/{failed.name}"))
            when = str(info.get("failed_at", "")) or _mtime(failed)
            yield _Entry(folder.name, team, "failed", when, (link,), str(info.get("error", "")))


_INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Reviews</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: .3rem .8rem; border-bottom: 1px solid #ddd; text-align: left; }}
tr.failed td {{ color: #b00020; }}
</style></head>
<body><h1>Reviews</h1>
<table><thead><tr><th>period</th><th>team</th><th>status</th><th>when</th><th>links</th>
<th>error</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<p>Generated {generated}.</p>
</body></html>
"""


# -- snapshots -----------------------------------------------------------------------------------


def previous_snapshot(reports: Path, period: str, team: str) -> str:
    """The snapshot of ``team``'s latest review published under ``reports`` for a month before
    ``period`` ("" when there is none)."""
    earlier = sorted(
        path
        for path in reports.glob(f"*/{team or COMPANY}{_SNAPSHOT}")
        if re.fullmatch(r"\d{4}-\d{2}", path.parent.name) and path.parent.name < period
    )
    return str(earlier[-1]) if earlier else ""


def changes_since(snapshot_path: Path, project: Project) -> list[str]:
    """What changed since the review whose snapshot is ``snapshot_path`` was published: new,
    changed and removed exports, then the store's events since (one line each)."""
    snapshot = _read_json(snapshot_path)
    if not snapshot:
        raise ReviewkitError(f"{shown_path(snapshot_path)} is not a review snapshot")
    before: dict[str, str] = snapshot.get("exports", {})
    now = _inputs(project)
    changes = []
    for path, digest in sorted(now["exports"].items()):
        if path not in before:
            changes.append(f"new export {path}")
        elif before[path] != digest:
            changes.append(f"changed export {path}")
    changes += [f"removed export {path}" for path in sorted(set(before) - set(now["exports"]))]
    recorded: dict[str, str] = snapshot.get("config", {})
    changes += [
        f"changed config {path}"
        for path, digest in sorted(now["config"].items())
        if path in recorded and recorded[path] != digest
    ]
    last = snapshot.get("store_last_event_id") or 0
    if now["store_last_event_id"] is not None:
        for event in project.store.events():
            if event.id > last:
                changes.append(
                    f"store event {event.id}: {event.kind} {event.entity} {event.key} "
                    f"by {event.actor} at {event.at:%Y-%m-%d %H:%M}"
                )
    return changes


# -- reproducing an old review -------------------------------------------------------------------


@dataclass(frozen=True)
class Reproduction:
    """An old review re-run as it was: the result (``result.html`` is the new page), the
    snapshot it reproduces, and notes on anything that could not be exactly as it was."""

    snapshot: Path
    period: str
    directory: Path
    result: TeamResult
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result.ok


def reproduce(
    project_dir: Path,
    snapshot_path: Path,
    *,
    out: Path | None = None,
    timeout: float = 600,
    tracker: Progress | None = None,
) -> Reproduction:
    """Re-run the review whose snapshot is ``snapshot_path`` (``reports/2026-10/growth.snapshot
    .json``) with the inputs it read: each export, config file and the notebook as it was (the
    current file when its content is unchanged, else its copy under :data:`FROZEN`), and the
    store as it was at the snapshot's last event (replayed from the event log into a copy; the
    store itself is only read). Everything runs in a temporary copy of the project, so nothing
    of the project changes but the new files, written to ``out/PERIOD/`` (default:
    ``reports/reproduced/PERIOD/``; never over the review reproduced) with the snapshot of what
    was read and an index. Raises :class:`ReviewkitError`, before any kernel starts, naming the
    file and what to do when a file's recorded content is nowhere to be found."""
    snapshot = _read_json(snapshot_path)
    if not {"period", "team", "exports"} <= set(snapshot):
        raise ReviewkitError(
            f"{shown_path(snapshot_path)} is not a review snapshot (a <team>.snapshot.json "
            "written beside a published review)"
        )
    period, team = str(snapshot["period"]), str(snapshot["team"])
    if not _PERIOD_FOLDER.match(period) or (team and not _SAFE_TEAM.match(team)):
        raise ReviewkitError(
            f"{shown_path(snapshot_path)} names period {period!r} and team {team!r}, which "
            "reviewkit never publishes: it is not a review snapshot as written"
        )
    with open_project(project_dir) as project:
        root = project.root
        cache = project.cache
        store_path = project.config.store_path
    folder = (out if out is not None else root / "reports" / REPRODUCED) / period
    base = folder / (team or COMPANY)
    if (
        base.with_suffix(".html").resolve()
        == snapshot_path.with_name(f"{team or COMPANY}.html").resolve()
    ):
        raise ReviewkitError(
            f"{shown_path(base.with_suffix('.html'))} is the review being reproduced: pass "
            "another --out folder"
        )
    (root / ".reviewkit").mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="reproduce-", dir=root / ".reviewkit"))
    try:
        copy = scratch / root.name
        notes = _materialise(root, cache, snapshot, copy, snapshot_path)
        notebook = _reproduced_notebook(root, cache, snapshot, scratch, notes, snapshot_path)
        with open_project(copy) as replica:
            name = replica.config.name
            through = replica.data_through()
            replica_store = replica.config.store_path
        if not replica_store.resolve().is_relative_to(copy.resolve()):
            raise ReviewkitError(
                f"cannot reproduce {shown_path(snapshot_path)}: the config's store: "
                f"({shown_path(replica_store)}) is outside the project, so the review cannot "
                "be given the store as it was; keep the store inside the project folder"
            )
        last_event = snapshot.get("store_last_event_id")
        if last_event is not None:
            store_as_of(store_path, replica_store, int(last_event)).close()
        folder.mkdir(parents=True, exist_ok=True)
        published = str(snapshot.get("finished_at", "")) or "at an unknown time"
        job = _Job(
            notebook,
            copy,
            period,
            team,
            timeout,
            folder,
            f"{name} review · {team or COMPANY} · {period}",
            f"data through {through} · reproduced from the review published {published}"
            if through
            else f"no data · reproduced from the review published {published}",
            {key: snapshot[key] for key in _INPUT_KEYS if key in snapshot},
            {
                "reproduces": {
                    "snapshot": str(snapshot_path.resolve()),
                    "published_at": snapshot.get("finished_at"),
                    "parameters": snapshot.get("parameters"),
                },
                "notes": notes,
            },
            previous=str((snapshot.get("parameters") or {}).get("previous", "")),
            scratch=scratch,
        )
        (result,) = _run_jobs([job], 1, None, tracker)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_index(folder.parent)
    return Reproduction(snapshot_path, period, folder, result, tuple(notes))


def _materialise(
    root: Path, cache: SourceCache, snapshot: Mapping[str, Any], copy: Path, snapshot_path: Path
) -> list[str]:
    """Lay out in ``copy`` every export and config file the snapshot records, by its path in
    the project, with the recorded content; the notes on what could not be as recorded."""
    notes: list[str] = []
    files: dict[str, str] = dict(snapshot["exports"])
    config = snapshot.get("config")
    if isinstance(config, dict) and config:
        files |= config
    else:
        with open_project(root) as project:
            current = _config_files(project)
        notes.append(
            "the snapshot does not record the config (it predates archiving): the current "
            + ", ".join(_relative(p, root) for p in current)
            + " used instead"
        )
        for path in current:
            _place(path, copy / _relative(path, root))
    for relative, digest in files.items():
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise ReviewkitError(
                f"cannot reproduce {shown_path(snapshot_path)}: it read {relative}, outside the "
                "project folder, and a reproduction runs in a copy of the project; keep the "
                "exports inside the project"
            )
        found = _recorded(root, cache, root / relative, relative, digest, snapshot_path)
        _place(found, copy / relative)
    return notes


def _recorded(
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


def _reproduced_notebook(
    root: Path,
    cache: SourceCache,
    snapshot: Mapping[str, Any],
    scratch: Path,
    notes: list[str],
    snapshot_path: Path,
) -> Path:
    """The review notebook as it was (its archived copy when it changed since), or the current
    one, with a note, for a snapshot that does not record its content."""
    digest = snapshot.get("notebook_sha256")
    recorded = Path(str(snapshot.get("notebook") or default_notebook()))
    if not digest:
        current = recorded if recorded.is_file() else default_notebook()
        notes.append(
            f"the snapshot does not record the notebook's content: {shown_path(current)} as it "
            "is now used instead"
        )
        return current
    shown = f"the review notebook {shown_path(recorded)}"
    target = scratch / "review.ipynb"
    _place(_recorded(root, cache, recorded, shown, str(digest), snapshot_path), target)
    return target


def _place(source: Path, target: Path) -> None:
    """``target`` with ``source``'s content and times, for the reproduction to read: a hard
    link (nothing writes to it; it goes with the temporary copy), else a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.hardlink_to(source.resolve())
    except OSError:
        shutil.copy2(source, target)


# -- small helpers -------------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def _mtime(path: Path) -> str:
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime).astimezone()
    return stamp.isoformat(timespec="seconds")


def _now() -> str:
    return clock.now().astimezone().isoformat(timespec="seconds")


def _version() -> str:
    try:
        return metadata.version("reviewkit")
    except metadata.PackageNotFoundError:
        return "unknown"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "failed"
