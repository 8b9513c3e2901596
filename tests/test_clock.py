"""reviewkit's one clock: REVIEWKIT_TODAY moves every "today" and "now", and nothing else in the
package (or in the tests) reads the machine's date."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from reviewkit.base import clock
from reviewkit.base.errors import ConfigError
from reviewkit.base.periods import Calendar, parse_period
from tests.conftest import REPO, TODAY

#: Calls that read the machine's date or time of day.
MACHINE_CLOCK = {
    ("date", "today"),
    ("datetime", "now"),
    ("datetime", "today"),
    ("datetime", "utcnow"),
}
#: Where reading the machine's clock is the point: the clock itself, the tests of it, and the
#: test that delays Jupyter messages by comparing their (real) time stamps with the real time.
ALLOWED = {"src/reviewkit/base/clock.py", "tests/test_clock.py", "tests/test_serve.py"}


def test_the_tests_run_on_a_fixed_day() -> None:
    assert clock.today() == TODAY
    assert clock.now().date() == TODAY
    assert clock.now(dt.UTC).date() in {
        TODAY - dt.timedelta(days=1),
        TODAY,
        TODAY + dt.timedelta(days=1),
    }


def test_the_clock_moves_to_the_set_day_and_keeps_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.TODAY_VARIABLE, "2031-02-28")
    first = clock.now()
    assert clock.today() == dt.date(2031, 2, 28) == first.date()
    assert clock.now() >= first
    real = dt.datetime.now(dt.UTC)
    moved = clock.now(dt.UTC)
    assert moved.tzinfo is dt.UTC
    assert abs((moved - real) - (dt.date(2031, 2, 28) - dt.date.today())) < dt.timedelta(minutes=1)


def test_without_the_setting_the_clock_is_the_machines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.TODAY_VARIABLE)
    assert clock.today() == dt.date.today()
    assert abs(clock.now() - dt.datetime.now()) < dt.timedelta(minutes=1)


def test_a_setting_that_is_not_a_date_says_what_to_write(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.TODAY_VARIABLE, "25/11/2026")
    with pytest.raises(ConfigError) as error:
        clock.today()
    assert str(error.value) == (
        "REVIEWKIT_TODAY='25/11/2026' is not a date; set it to YYYY-MM-DD (such as 2026-11-25), "
        "or unset it to use the real date"
    )


def test_relative_periods_follow_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(clock.TODAY_VARIABLE, "2027-01-10")
    assert str(parse_period("last-month", None, Calendar())) == "2026-12"
    monkeypatch.setenv(clock.TODAY_VARIABLE, "2026-03-31")
    assert str(parse_period("this-quarter", None, Calendar())) == "2026-Q1"


def machine_clock_reads(path: Path) -> list[str]:
    """``file:line: call`` for each call in ``path`` of the form ``<x>.date.today()`` or
    ``<x>.datetime.now()`` (however datetime is imported)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if (name, node.func.attr) in MACHINE_CLOCK:
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_nothing_else_reads_the_machines_date() -> None:
    files = [*(REPO / "src" / "reviewkit").rglob("*.py"), *(REPO / "tests").rglob("*.py")]
    files += [*(REPO / "benchmarks").glob("*.py")]
    reads = [
        read
        for path in files
        if path.relative_to(REPO).as_posix() not in ALLOWED
        for read in machine_clock_reads(path)
    ]
    assert reads == [], "use reviewkit.base.clock.today() / clock.now() instead"
