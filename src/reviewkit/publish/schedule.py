"""Scheduled reports: the runs a cron schedule owes after downtime, and a loop that runs them
once each, even across restarts.

>>> cron = parse_cron("0 6 1 * *")               # 06:00 on the 1st of every month
>>> due_runs(cron, last_run, now)                 # the scheduled times owed since last_run
>>> run_schedule(Path("."), "0 6 1 * *", once=True)

The cron expressions themselves (the subset understood, parsing, next and previous times) are
:mod:`reviewkit.base.cron`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from reviewkit.base.clock import now
from reviewkit.base.cron import Cron, parse_cron
from reviewkit.base.errors import ReviewkitError, shown_path
from reviewkit.base.files import atomic_write
from reviewkit.project import open_project
from reviewkit.publish.deliver import deliver
from reviewkit.publish.report import ReportRun, run_reports

__all__ = [
    "ScheduledRun",
    "due_runs",
    "report_period",
    "run_schedule",
]

#: the longest sleep between looks at the clock, so a suspended machine catches up soon
MAX_SLEEP = 300.0
#: where the scheduler records its runs, under the project
STATE_FILE = Path(".reviewkit") / "schedule.json"

CatchUp = Literal["period", "all"]


def report_period(run_time: dt.datetime) -> str:
    """The period a run at ``run_time`` reports on: the month before (``last-month``)."""
    first = run_time.date().replace(day=1)
    return f"{first - dt.timedelta(days=1):%Y-%m}"


def due_runs(
    cron: Cron | str,
    last_run: dt.datetime | None,
    now: dt.datetime,
    *,
    catch_up: CatchUp = "period",
) -> list[dt.datetime]:
    """The scheduled times after ``last_run`` up to ``now``, oldest first, that should run.

    After downtime several may have been missed: ``catch_up="period"`` keeps only the latest
    one of each report period (each month's report once), ``"all"`` keeps every one. A
    schedule that never ran (``last_run=None``) owes only its latest scheduled time.
    """
    schedule = parse_cron(cron) if isinstance(cron, str) else cron
    latest = schedule.latest_at_or_before(now)
    if latest is None or (last_run is not None and latest <= last_run):
        return []
    if last_run is None:
        return [latest]
    found = []
    if catch_up == "all":
        step = schedule.next_after(last_run)
        while step <= now:
            found.append(step)
            step = schedule.next_after(step)
        return found
    back: dt.datetime | None = latest
    while back is not None and back > last_run:
        found.append(back)
        month_start = dt.datetime.combine(back.date().replace(day=1), dt.time())
        back = schedule.latest_at_or_before(month_start - dt.timedelta(minutes=1))
    return found[::-1]


@dataclass(frozen=True)
class ScheduledRun:
    """One scheduled run done: when it was due, the period it reported, and how it went."""

    scheduled: dt.datetime
    period: str
    started_at: dt.datetime
    finished_at: dt.datetime
    ok: bool
    failed: tuple[str, ...] = ()
    error: str = ""
    #: messages `delivery:` could not send (``review → recipient: why``); `reviewkit deliver`
    #: sends them later, and only them
    undelivered: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "scheduled": self.scheduled.isoformat(),
            "period": self.period,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "ok": self.ok,
            "failed": list(self.failed),
            "error": self.error,
            "undelivered": list(self.undelivered),
        }


def run_schedule(
    project_dir: Path,
    cron: str,
    *,
    clock: Callable[[], dt.datetime] = now,
    sleep: Callable[[float], None] = time.sleep,
    once: bool = False,
    catch_up: CatchUp = "period",
    jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
    allow_empty: bool = False,
) -> list[ScheduledRun]:
    """Run the reports of ``project_dir`` on the ``cron`` schedule, each for the month before
    its scheduled time, catching up runs missed while down (see :func:`due_runs`). A month none
    of whose outcomes has data is a failed run unless ``allow_empty``.

    Every run done is recorded in ``.reviewkit/schedule.json`` (written atomically) before the
    next starts, so nothing runs twice, even across restarts; a lock file stops a second
    scheduler on the same project. ``once`` runs what is due now and returns the runs done;
    otherwise it loops forever, sleeping until the next scheduled time.
    """
    schedule = parse_cron(cron)
    state_path = project_dir / STATE_FILE
    say = progress or (lambda _: None)
    done: list[ScheduledRun] = []
    with _exclusive(state_path.with_suffix(".lock")):
        while True:
            state = _read_state(state_path)
            last = state.get("last_scheduled")
            last_run = dt.datetime.fromisoformat(last) if isinstance(last, str) else None
            now = clock()
            for due in due_runs(schedule, last_run, now, catch_up=catch_up):
                period = report_period(due)
                say(f"{due:%Y-%m-%d %H:%M}: reports for {period}")
                run = _run_once(project_dir, due, period, clock, jobs, progress, allow_empty)
                done.append(run)
                runs = [*state.get("runs", []), run.as_json()]
                state = {"cron": schedule.text, "last_scheduled": due.isoformat(), "runs": runs}
                atomic_write({state_path: json.dumps(state, indent=2).encode("utf-8")})
            if once:
                return done
            wait = (schedule.next_after(now) - clock()).total_seconds()
            sleep(min(max(wait, 1.0), MAX_SLEEP))


def _run_once(
    project_dir: Path,
    due: dt.datetime,
    period: str,
    clock: Callable[[], dt.datetime],
    jobs: int | None,
    progress: Callable[[str], None] | None,
    allow_empty: bool,
) -> ScheduledRun:
    """One scheduled run; an error (a broken config, a folder this user may not write) is
    recorded, not raised, so the scheduler keeps going."""
    started = clock()
    try:
        run: ReportRun = run_reports(
            project_dir, period, jobs=jobs, progress=progress, allow_empty=allow_empty
        )
    except ReviewkitError as exc:
        return ScheduledRun(due, period, started, clock(), ok=False, error=str(exc))
    failed = tuple(r.label for r in run.failed)
    undelivered = _deliver(project_dir, run, progress or (lambda _: None))
    return ScheduledRun(
        due, period, started, clock(), ok=run.ok, failed=failed, undelivered=undelivered
    )


def _deliver(project_dir: Path, run: ReportRun, say: Callable[[str], None]) -> tuple[str, ...]:
    """Send the run's published reviews when reviewkit.yaml has `delivery:`, saying a line for
    each message sent, already delivered, sent as updated or failed; what failed."""
    published = [r.label for r in run.results if r.ok]
    if not published:
        return ()
    try:
        with open_project(project_dir) as project:
            if project.config.delivery is None:
                return ()
            done = deliver(project, run.period, run.directory, published)
    except ReviewkitError as exc:
        say(f"not delivered: {exc}")
        return (str(exc),)
    for line in [sent.line() for sent in done.sent] + [f"note: {n}" for n in done.notes]:
        say(line)
    return tuple(f"{s.review} → {s.to}: {s.error}" for s in done.failed)


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ReviewkitError(
            f"{shown_path(path)} is not valid JSON ({exc}); fix or delete it (deleting it makes "
            "the scheduler run the latest scheduled report again)"
        ) from None
    if not isinstance(data, dict):
        raise ReviewkitError(f"{shown_path(path)} is not a schedule state; fix or delete it")
    return data


@contextlib.contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock`` (released when the process dies), or fail at once."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReviewkitError(
                f"another scheduler is running for this project (it holds {shown_path(lock)})"
            ) from None
        yield
