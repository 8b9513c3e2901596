"""The scheduler: the cron subset, catch-up after downtime with a fake clock, no run twice
across restarts (the recipes in docs/scheduling.md are run by tests/test_recipes.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from click.testing import CliRunner

from reviewkit.base.cron import CronError, parse_cron
from reviewkit.base.errors import ReviewkitError
from reviewkit.cli.schedule import schedule as schedule_command
from reviewkit.publish import schedule
from reviewkit.publish.report import ReportRun, TeamResult
from reviewkit.publish.schedule import due_runs, report_period, run_schedule

MONTHLY = "0 6 1 * *"


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# -- the cron subset ---------------------------------------------------------------------------


def test_cron_fields_take_numbers_lists_ranges_and_steps() -> None:
    cron = parse_cron("*/15 9-17/4 1,15 1-3 *")
    assert cron.minutes == {0, 15, 30, 45}
    assert cron.hours == {9, 13, 17}
    assert cron.days == {1, 15}
    assert cron.months == {1, 2, 3}
    assert parse_cron("5/20 0 * * 7").minutes == {5, 25, 45}
    assert parse_cron("0 0 * * 7").weekdays == {0}


def test_next_and_latest_runs() -> None:
    cron = parse_cron(MONTHLY)
    assert cron.next_after(at("2026-10-01T06:00")) == at("2026-11-01T06:00")
    assert cron.next_after(at("2026-10-01T05:59:30")) == at("2026-10-01T06:00")
    assert cron.latest_at_or_before(at("2026-10-01T06:00")) == at("2026-10-01T06:00")
    assert cron.latest_at_or_before(at("2026-10-01T05:59")) == at("2026-09-01T06:00")
    weekdays = parse_cron("30 8 * * 1-5")
    assert weekdays.next_after(at("2026-10-30T09:00")) == at("2026-11-02T08:30")  # Fri -> Mon
    either = parse_cron("0 0 13 * 5")  # the 13th, or any Friday
    assert either.next_after(at("2026-11-01T00:00")) == at("2026-11-06T00:00")
    leap = parse_cron("0 0 29 2 *")
    assert leap.next_after(at("2026-03-01T00:00")) == at("2028-02-29T00:00")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 6 1 *", "has 4 field(s); it needs 5"),
        ("60 6 1 * *", "cron minute field '60': 60 is out of range 0-59"),
        ("0 24 1 * *", "cron hour field '24': 24 is out of range 0-23"),
        ("0 6 0 * *", "cron day-of-month field '0': 0 is out of range 1-31"),
        ("0 6 1 13 *", "cron month field '13': 13 is out of range 1-12"),
        ("0 6 * * 8", "cron day-of-week field '8': 8 is out of range 0-7"),
        ("0 6 1 jan *", "cron month field 'jan': 'jan' is not a number from 1 to 12"),
        ("0 6 5-1 * *", "cron day-of-month field '5-1': range 5-1 runs backwards; write 1-5"),
        ("*/0 6 1 * *", "cron minute field '*/0': step: 0 is out of range 1-60"),
        ("0 6 1, * *", "cron day-of-month field '1,': nothing is not a number from 1 to 31"),
        ("0 0 31 2 *", "'0 0 31 2 *' never runs"),
    ],
)
def test_invalid_cron_names_the_field(text: str, message: str) -> None:
    with pytest.raises(CronError) as error:
        parse_cron(text)
    assert message in str(error.value)


# -- due runs ----------------------------------------------------------------------------------


def test_nothing_is_due_between_scheduled_times() -> None:
    assert due_runs(MONTHLY, at("2026-10-01T06:00"), at("2026-10-31T23:59")) == []
    assert due_runs(MONTHLY, at("2026-10-01T06:00"), at("2026-11-01T06:00")) == [
        at("2026-11-01T06:00")
    ]


def test_catch_up_after_downtime_runs_the_latest_missed_run_per_period() -> None:
    last, now = at("2026-07-01T06:00"), at("2026-10-15T12:00")
    assert due_runs(MONTHLY, last, now) == [
        at("2026-08-01T06:00"),
        at("2026-09-01T06:00"),
        at("2026-10-01T06:00"),
    ]
    daily = "0 6 * * *"
    assert due_runs(daily, at("2026-10-03T06:00"), at("2026-10-10T07:00")) == [
        at("2026-10-10T06:00")
    ]
    assert due_runs(daily, at("2026-09-29T06:00"), at("2026-10-02T07:00")) == [
        at("2026-09-30T06:00"),
        at("2026-10-02T06:00"),
    ]
    assert len(due_runs(daily, at("2026-10-03T06:00"), at("2026-10-10T07:00"), catch_up="all")) == 7


def test_a_schedule_that_never_ran_owes_its_latest_run() -> None:
    assert due_runs(MONTHLY, None, at("2026-10-15T00:00")) == [at("2026-10-01T06:00")]


def test_each_run_reports_the_month_before() -> None:
    assert report_period(at("2026-10-01T06:00")) == "2026-09"
    assert report_period(at("2026-01-01T00:00")) == "2025-12"


# -- the loop, with a fake clock ---------------------------------------------------------------


class FakeTime:
    """A clock that moves only when the scheduler sleeps, and stops it after ``sleeps``."""

    def __init__(self, start: str, sleeps: int = 100) -> None:
        self.now = at(start)
        self.sleeps = sleeps
        self.slept: list[float] = []

    def clock(self) -> dt.datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if len(self.slept) > self.sleeps:
            raise KeyboardInterrupt
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def reports(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace run_reports: record the periods asked for; "2026-08" fails a team."""
    periods: list[str] = []

    def fake(project_dir: Path, period: str, **_: object) -> ReportRun:
        periods.append(period)
        ok = period != "2026-08"
        result = TeamResult("billing", ok, 0.1, "" if ok else "cell 3: ValueError: x")
        return ReportRun(period, project_dir / period, project_dir / "index.html", (result,))

    monkeypatch.setattr(schedule, "run_reports", fake)
    return periods


def test_once_catches_up_then_a_restart_runs_nothing_twice(
    tmp_path: Path, reports: list[str]
) -> None:
    fake = FakeTime("2026-07-01T07:00")
    first = run_schedule(tmp_path, MONTHLY, clock=fake.clock, sleep=fake.sleep, once=True)
    assert [r.period for r in first] == ["2026-06"]

    fake.now = at("2026-10-20T09:00")  # down for three months
    runs = run_schedule(tmp_path, MONTHLY, clock=fake.clock, sleep=fake.sleep, once=True)
    assert [r.period for r in runs] == ["2026-07", "2026-08", "2026-09"]
    assert [r.ok for r in runs] == [True, False, True]
    assert runs[1].failed == ("billing",)

    again = run_schedule(tmp_path, MONTHLY, clock=fake.clock, sleep=fake.sleep, once=True)
    assert again == []
    assert reports == ["2026-06", "2026-07", "2026-08", "2026-09"]
    state = (tmp_path / ".reviewkit" / "schedule.json").read_text(encoding="utf-8")
    assert '"last_scheduled": "2026-10-01T06:00:00"' in state
    assert state.count('"scheduled"') == 4


def test_the_loop_sleeps_until_each_scheduled_time(tmp_path: Path, reports: list[str]) -> None:
    fake = FakeTime("2026-09-15T00:00", sleeps=20_000)  # 300 s each: about 69 days
    with pytest.raises(KeyboardInterrupt):
        run_schedule(tmp_path, MONTHLY, clock=fake.clock, sleep=fake.sleep)
    assert reports == ["2026-08", "2026-09", "2026-10"]
    assert max(fake.slept) <= schedule.MAX_SLEEP


def test_a_broken_project_is_recorded_and_the_scheduler_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> ReportRun:
        raise ReviewkitError("reviewkit.yaml: not found")

    monkeypatch.setattr(schedule, "run_reports", broken)
    fake = FakeTime("2026-10-02T00:00")
    (run,) = run_schedule(tmp_path, MONTHLY, clock=fake.clock, sleep=fake.sleep, once=True)
    assert not run.ok
    assert run.error == "reviewkit.yaml: not found"
    assert run_schedule(tmp_path, MONTHLY, clock=fake.clock, sleep=fake.sleep, once=True) == []


def test_a_second_scheduler_on_the_project_is_refused(tmp_path: Path, reports: list[str]) -> None:
    with (
        schedule._exclusive(tmp_path / ".reviewkit" / "schedule.lock"),
        pytest.raises(ReviewkitError, match="another scheduler is running"),
    ):
        run_schedule(tmp_path, MONTHLY, once=True)
    assert reports == []


def test_cli_schedule(tmp_path: Path, reports: list[str]) -> None:
    runner = CliRunner()
    bad = runner.invoke(schedule_command, ["-p", str(tmp_path), "--cron", "0 25 * * *"])
    assert bad.exit_code == 1
    assert "cron hour field '25': 25 is out of range 0-23" in bad.output
    ok = runner.invoke(schedule_command, ["-p", str(tmp_path), "--cron", "* * * * *", "--once"])
    assert ok.exit_code == 0, ok.output
    assert len(reports) == 1
    nothing = runner.invoke(schedule_command, ["-p", str(tmp_path), "--cron", MONTHLY, "--once"])
    assert "nothing due" in nothing.output
