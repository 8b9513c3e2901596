"""Invariants of the KPI engine over random data (hypothesis)."""

from __future__ import annotations

import datetime as dt
import math
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewkit import open_project
from reviewkit.config import CHANGES, VALUE_FORMATS, Metric
from reviewkit.metrics.catalogue import format_change
from reviewkit.metrics.compare import change

CONFIG = """\
calendar: {week_ends_on: WEEKDAY, fiscal_year_start_month: FISCAL}
sources:
  s:
    path: data/s.csv
    date: {column: day, format: "%Y-%m-%d"}
    dimensions: [team]
    values: {n: integer, d: integer}
metrics:
  n: {source: s, agg: sum, column: n}
  d: {source: s, agg: sum, column: d}
  rate: {ratio: [n, d]}
"""
START = dt.date(2021, 1, 1)
DAYS = 730  # 2021 and 2022, neither a leap year
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def project_with(values: list[tuple[int, int]], weekday: str = "sunday", fiscal: int = 1):
    folder = Path(tempfile.mkdtemp(prefix="rk-prop-"))
    (folder / "data").mkdir()
    lines = ["day,team,n,d"]
    for offset, (n, d) in enumerate(values):
        day = START + dt.timedelta(days=offset)
        lines.append(f"{day},{'ab'[offset % 2]},{n},{d}")
    (folder / "data" / "s.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = CONFIG.replace("WEEKDAY", weekday).replace("FISCAL", str(fiscal))
    (folder / "reviewkit.yaml").write_text(config, encoding="utf-8")
    return open_project(folder)


daily = st.lists(
    st.tuples(st.integers(0, 1000), st.integers(1, 1000)), min_size=DAYS, max_size=DAYS
)


@pytest.mark.slow  # the heaviest property: hundreds of generated series
@settings(max_examples=15, deadline=None)
@given(values=daily, fiscal=st.integers(1, 12))
def test_months_add_up_to_quarters_and_years_for_additive_metrics(values, fiscal) -> None:
    with project_with(values, fiscal=fiscal) as project:
        for small, big in (
            ("month", "quarter"),
            ("month", "year"),
            ("month", "fiscal_year"),
            ("fiscal_quarter", "fiscal_year"),
        ):
            parts = project.kpi("n", grain=small, start="2021-01-01", end="2022-12-31")
            whole = project.kpi("n", grain=big, start="2021-01-01", end="2022-12-31")
            assert parts["value"].sum() == whole["value"].sum() == sum(n for n, _ in values)
            for row in whole.to_dict("records"):
                inside = parts[
                    (parts["period_start"] >= row["period_start"])
                    & (parts["period_end"] <= row["period_end"])
                ]
                assert inside["value"].sum() == row["value"]


@settings(max_examples=15, deadline=None)
@given(values=daily, weekday=st.sampled_from(WEEKDAYS))
def test_weeks_add_up_and_group_by_adds_up(values, weekday) -> None:
    with project_with(values, weekday=weekday) as project:
        weeks = project.kpi("n", grain="week", start="2021-01-01", end="2022-12-31")
        assert weeks["value"].sum() == sum(n for n, _ in values)
        assert all((p.isoweekday() - 1) == WEEKDAYS.index(weekday) for p in weeks["period_end"])
        teams = project.kpi("n", grain="month", by="team")
        total = project.kpi("n", grain="month")
        assert teams.groupby("period")["value"].sum().to_dict() == dict(
            zip(total["period"], total["value"], strict=True)
        )


@settings(max_examples=15, deadline=None)
@given(values=daily)
def test_ratios_are_ratios_of_totals(values) -> None:
    with project_with(values) as project:
        rate = project.kpi("rate", grain="quarter")
    for row in rate.to_dict("records"):
        first = (row["period_start"] - START).days
        last = (row["period_end"] - START).days
        chunk = values[first : last + 1]
        assert row["value"] == pytest.approx(sum(n for n, _ in chunk) / sum(d for _, d in chunk))


year = st.lists(st.tuples(st.integers(1, 1000), st.integers(1, 1000)), min_size=365, max_size=365)


@settings(max_examples=10, deadline=None)
@given(first_year=year)
def test_yoy_of_a_series_against_itself_a_year_later_is_zero(first_year) -> None:
    # 2022 repeats 2021 date for date: every monthly YoY change is 0, for sums and ratios
    with project_with(first_year + first_year) as project:
        for metric in ("n", "rate"):
            frame = project.trailing(metric, "2022-12", 12)
            assert [round(c, 9) for c in frame["year_ago_change"]] == [0.0] * 12
            assert all(flags == [] for flags in frame["flags"])


@settings(max_examples=10, deadline=None)
@given(first_year=year, weekday=st.sampled_from(WEEKDAYS))
def test_weekly_yoy_against_the_series_364_days_later_is_zero(first_year, weekday) -> None:
    # shifting by 364 days keeps weekdays: every full week of the second year matches
    shifted = first_year[:364] + first_year[:364] + first_year[:2]
    with project_with(shifted, weekday=weekday) as project:
        last = project.period("2022-12-25", "week")
        frame = project.trailing("n", last, 40)
        assert [round(c, 9) for c in frame["year_ago_change"]] == [0.0] * 40


# --- a change never reads as zero unless it is zero -------------------------------------------

#: a change as text: its sign, "<" when below the smallest number shown, the number
CHANGE_TEXT = re.compile(r"^(?P<sign>[+-]?)(?P<under><?)(?:\$|€|£|¥)?(?P<number>[\d,]+(?:\.\d+)?)")


def _read(text: str) -> tuple[str, bool, float]:
    found = CHANGE_TEXT.match(text)
    assert found is not None, text
    return found["sign"], bool(found["under"]), float(found["number"].replace(",", ""))


finite = st.floats(min_value=-1e12, max_value=1e12)
#: KPI values: zero, or between a millionth and a trillion either way (a percent change from a
#: base of 1e-300 overflows to infinity, which no KPI is near)
kpi_values = st.just(0.0) | st.builds(
    math.copysign, st.floats(min_value=1e-6, max_value=1e12), st.sampled_from([1.0, -1.0])
)


@settings(max_examples=500, deadline=None)
@given(
    value=finite | st.floats(min_value=-1e-3, max_value=1e-3),
    suffix=st.sampled_from(["%", " pp", " bps", " points", " h"]),
    decimals=st.integers(0, 6),
    prefix=st.sampled_from(["", "$"]),
    signed=st.booleans(),
)
def test_a_change_prints_as_zero_only_when_it_is_zero(value, suffix, decimals, prefix, signed):
    text = format_change(value, suffix, decimals, prefix=prefix, signed=signed)
    sign, under, number = _read(text)
    if value == 0:
        assert (sign, under, number) == ("", False, 0), text
        return
    assert under or number != 0, text
    assert sign == ("-" if value < 0 else "+" if signed else ""), text


metrics = st.builds(
    Metric,
    name=st.just("m"),
    label=st.just("M"),
    format=st.sampled_from(VALUE_FORMATS),
    decimals=st.none() | st.integers(0, 6),
    change=st.none() | st.sampled_from(CHANGES),
)


@settings(max_examples=500, deadline=None)
@given(metric=metrics, current=kpi_values, base=kpi_values)
def test_a_changes_text_has_its_sign_and_is_zero_only_without_change(metric, current, base):
    moved = change(metric, current, base, "before")
    if moved.value is None:
        assert moved.text == "n/a (before is 0)" and base == 0
        return
    sign, under, number = _read(moved.text)
    if moved.value == 0:
        assert (sign, number) == ("", 0) and math.isclose(current, base, rel_tol=1e-12)
        return
    assert current != base and (under or number != 0), moved.text
    assert sign == ("+" if current > base else "-"), moved.text
