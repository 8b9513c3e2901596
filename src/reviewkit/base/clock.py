"""reviewkit's one clock: every "today" and "now" in the package is read here, nowhere else.

``REVIEWKIT_TODAY=YYYY-MM-DD`` makes reviewkit act as if that were today's date: relative periods
(``last-month``), the check that refuses exports dated after today, the scheduler's due runs and
every time stamp written (store events, report runs, the reports index) follow it. The tests set
it, so the suite passes whatever day it runs; a user can set it to see what a past day's run saw.
The clock keeps running: :func:`now` is the real time moved by the whole days between the real
date and that day, measured once per process, so time stamps still order as events happened.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from typing import Final

from reviewkit.base.errors import ConfigError

#: The environment variable that sets today's date (unset: the real date).
TODAY_VARIABLE: Final = "REVIEWKIT_TODAY"


def today() -> dt.date:
    """Today's date: ``$REVIEWKIT_TODAY`` when set, else the machine's local date."""
    day = _set_day(os.environ.get(TODAY_VARIABLE, ""))
    return dt.date.today() if day is None else day


def now(tz: dt.tzinfo | None = None) -> dt.datetime:
    """The current time as :meth:`datetime.datetime.now` gives it (naive local time without
    ``tz``), moved onto ``$REVIEWKIT_TODAY`` when that is set."""
    real = dt.datetime.now(tz)
    day = _set_day(os.environ.get(TODAY_VARIABLE, ""))
    return real if day is None else real + _shift(day)


@functools.cache
def _set_day(text: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"{TODAY_VARIABLE}={text!r} is not a date; set it to YYYY-MM-DD (such as 2026-11-25), "
            "or unset it to use the real date"
        ) from None


@functools.cache
def _shift(day: dt.date) -> dt.timedelta:
    """Whole days from the real date to ``day``, fixed at the first reading so that the clock
    does not jump back a day when the real date changes at midnight."""
    return day - dt.date.today()
