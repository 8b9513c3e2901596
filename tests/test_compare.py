"""Comparisons, coverage flags, targets and status, pinned with hand-computed values.

The daily fixture: 2023-01-01 to 2024-03-15 (2024 is a leap year), one row a day per team:
team a sells 10 a day; team b sells the day of the month (1, 2, ... 31). Visits are 100 a day
(a) and 50 (b); orders 5 (a) and 10 (b); there are no visits and no orders on 2023-08-15 for
either team. 2023-06-10 is missing from the export.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from reviewkit import QueryError, open_project
from reviewkit.base.periods import Calendar, parse_period
from reviewkit.cli import main
from reviewkit.config import Metric
from reviewkit.metrics.targets import evaluate
from reviewkit.present import charts, narrative

FIRST, LAST, MISSING, QUIET = (
    dt.date(2023, 1, 1),
    dt.date(2024, 3, 15),
    dt.date(2023, 6, 10),
    dt.date(2023, 8, 15),
)

CONFIG = """\
name: Daily
calendar: {week_ends_on: sunday, fiscal_year_start_month: FISCAL}
sources:
  sales:
    path: data/sales.csv
    date: {column: day, format: "%Y-%m-%d"}
    dimensions: [team]
    values: {amount: number, visits: integer, orders: integer, wait: number}
metrics:
  amount: {source: sales, agg: sum, column: amount}
  visits: {source: sales, agg: sum, column: visits}
  orders: {source: sales, agg: sum, column: orders}
  conversion: {ratio: [orders, visits], format: percent}
  conversion_bps: {ratio: [orders, visits], format: bps}
  wait: {source: sales, agg: mean, column: wait, direction: lower}
"""


def _rows() -> str:
    lines = ["day,team,amount,visits,orders,wait"]
    day = FIRST
    while day <= LAST:
        if day != MISSING:
            quiet = day == QUIET
            lines.append(f"{day},a,10,{0 if quiet else 100},{0 if quiet else 5},6.0")
            lines.append(f"{day},b,{day.day},{0 if quiet else 50},{0 if quiet else 10},4.0")
        day += dt.timedelta(days=1)
    return "\n".join(lines) + "\n"


def make(tmp_path: Path, fiscal: int = 1, targets: str = "") -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "sales.csv").write_text(_rows(), encoding="utf-8")
    config = CONFIG.replace("FISCAL", str(fiscal)) + textwrap.dedent(targets)
    (tmp_path / "reviewkit.yaml").write_text(config, encoding="utf-8")
    return tmp_path


@pytest.fixture
def daily(tmp_path: Path):
    with open_project(make(tmp_path)) as project:
        yield project


def one(frame, **where):
    for key, value in where.items():
        frame = frame[frame[key] == value]
    assert len(frame) == 1, frame
    return frame.iloc[0]


def test_month_over_month_and_year_over_year_in_a_leap_february(daily) -> None:
    row = one(daily.compare("amount", "2024-02", filters={"team": "a"}))
    assert (row["value"], row["previous"], row["year_ago"]) == (290, 310, 280)
    assert row["previous_change"] == pytest.approx((290 - 310) / 310 * 100)
    assert row["year_ago_change"] == pytest.approx((290 - 280) / 280 * 100)
    assert row["previous_change_text"] == "-6.5%"
    assert row["year_ago_change_text"] == "+3.6%"
    assert row["coverage"] == "29 of 29 days"
    # an additive metric over 29 days against 31 is flagged; 29 against 28 is within 5%
    assert row["flags"] == ["MoM compares 29 days with 31 days of 2024-01"]


def test_a_month_in_progress_is_flagged_not_silently_compared(daily) -> None:
    row = one(daily.compare("amount", "2024-03", filters={"team": "a"}))
    assert (row["value"], row["previous"], row["year_ago"]) == (150, 290, 310)
    assert row["coverage"] == "15 of 31 days"
    assert row["flags"] == [
        "2024-03 is in progress: data through 2024-03-15 (15 of 31 days)",
        "MoM compares 15 of 31 days with 29 of 29 days of 2024-02",
        "YoY compares 15 of 31 days with 31 of 31 days of 2023-03",
    ]


def test_a_missing_day_is_flagged_in_the_period_and_in_its_comparisons(daily) -> None:
    june = one(daily.compare("amount", "2023-06", filters={"team": "a"}))
    assert (june["value"], june["coverage"]) == (290, "29 of 30 days")
    assert june["flags"][0] == "2023-06 has 1 day(s) without data (29 of 30 days)"
    july = one(daily.compare("amount", "2023-07", filters={"team": "a"}))
    assert "2023-06 has 1 day(s) without data (29 of 30 days)" in july["flags"]
    assert "MoM compares 31 of 31 days with 29 of 30 days of 2023-06" in july["flags"]
    # before the data starts there is nothing to compare with
    assert "2022-07 has no data" in july["flags"]
    assert july["year_ago_change_text"] == "n/a (no value for 2022-07)"


def test_weeks_compare_with_the_week_364_days_earlier_across_the_year_boundary(daily) -> None:
    row = one(daily.compare("amount", "2024-W01", filters={"team": "b"}))
    # week 1 of 2024 runs Mon 2024-01-01 to Sun 2024-01-07: b sells 1+2+...+7
    assert row["value"] == 28
    assert (row["previous_period"], row["previous"]) == (
        "2023-W52",
        25 + 26 + 27 + 28 + 29 + 30 + 31,
    )
    # 364 days back: Mon 2023-01-02 to Sun 2023-01-08
    assert (row["year_ago_period"], row["year_ago"]) == ("2023-W01", 2 + 3 + 4 + 5 + 6 + 7 + 8)
    assert row["flags"] == []


def test_ratio_metrics_are_ratios_of_totals_with_point_changes(daily) -> None:
    row = one(daily.compare("conversion", "2023-09"))
    # September: (5 + 10) orders / (100 + 50) visits every day
    assert row["value"] == pytest.approx(0.1)
    august = one(daily.compare("conversion", "2023-08"))
    # August has one day without visits or orders: the ratio of totals is unchanged
    assert august["value"] == pytest.approx(15 * 30 / (150 * 30))
    team = one(daily.compare("conversion", "2023-09", by="team"), team="a")
    assert team["value"] == pytest.approx(0.05)
    # the same ratio as in August: no change, said as exactly 0
    assert (row["previous_change"], row["previous_change_text"]) == (0, "0 pp")
    bps = one(daily.compare("conversion_bps", "2023-09", by="team"), team="b")
    assert bps["value"] == pytest.approx(0.2)
    assert bps["text"] == "2,000 bps"


def test_zero_denominators_give_na_with_the_reason(daily) -> None:
    quiet = one(daily.compare("conversion", "2023-08-15", grain="day"))
    assert quiet["text"] == "n/a"
    assert quiet["previous_change_text"] == "n/a (no value this period)"
    after = one(daily.compare("orders", "2023-08-16", grain="day"))
    assert after["previous_change_text"] == "n/a (2023-08-15 is 0)"
    assert after["previous_change"] is None


def test_periods_to_date_calendar(daily) -> None:
    frame = daily.to_date("amount", "2024-02-29", filters={"team": "a"})
    mtd = one(frame, window="MTD")
    assert (mtd["start"], mtd["end"], mtd["value"]) == (
        dt.date(2024, 2, 1),
        dt.date(2024, 2, 29),
        290,
    )
    # a year earlier there is no 29 February: the same dates end on the 28th
    assert (mtd["year_ago_start"], mtd["year_ago_end"], mtd["year_ago"]) == (
        dt.date(2023, 2, 1),
        dt.date(2023, 2, 28),
        280,
    )
    qtd = one(frame, window="QTD")
    assert (qtd["period"], qtd["value"], qtd["year_ago"]) == ("2024-Q1", 600, 590)
    ytd = one(frame, window="YTD")
    assert (ytd["period"], ytd["value"]) == ("2024", 600)
    assert ytd["year_ago_change"] == pytest.approx((600 - 590) / 590 * 100)


def test_periods_to_date_fiscal(tmp_path: Path) -> None:
    with open_project(make(tmp_path, fiscal=7)) as project:
        frame = project.to_date("amount", "2024-03-15", filters={"team": "a"})
    qtd = one(frame, window="QTD")
    # fiscal Q3 of FY2024 (July-June) is January-March
    assert (qtd["period"], qtd["start"], qtd["value"]) == ("FY2024-Q3", dt.date(2024, 1, 1), 750)
    assert (qtd["year_ago_start"], qtd["year_ago_end"], qtd["year_ago"]) == (
        dt.date(2023, 1, 1),
        dt.date(2023, 3, 15),
        740,
    )
    ytd = one(frame, window="YTD")
    # FY2024 from 2023-07-01: 184 days in 2023 and 75 in 2024, all at 10 a day
    assert (ytd["period"], ytd["start"], ytd["value"]) == ("FY2024", dt.date(2023, 7, 1), 2590)
    # the prior fiscal year to date starts before the data
    assert ytd["year_ago_coverage"] == "74 of 258 days"
    assert "2022-07-01 to 2023-03-15 starts before the data does (74 of 258 days)" in ytd["flags"]


def test_trailing_months_with_the_prior_year_beside_them(daily) -> None:
    frame = daily.trailing("amount", "2024-02", 3, filters={"team": "a"})
    assert list(frame["period"]) == ["2023-12", "2024-01", "2024-02"]
    assert list(frame["value"]) == [310, 310, 290]
    assert frame["year_ago"].isna().tolist() == [True, False, False]
    assert list(frame["year_ago"])[1:] == [310, 280]
    assert frame.iloc[0]["year_ago_change_text"] == "n/a (no value for 2022-12)"


def test_wbr_view_six_weeks_twelve_months_and_the_box(daily) -> None:
    view = daily.wbr("amount", "2024-03-10", filters={"team": "a"})
    assert list(view.weeks["period"]) == [f"2024-W{w:02d}" for w in range(5, 11)]
    assert list(view.weeks["value"]) == [70] * 6
    assert list(view.months["period"])[-1] == "2024-03"
    assert (view.months.iloc[-1]["end"], view.months.iloc[-1]["value"]) == (
        dt.date(2024, 3, 10),
        100,
    )
    assert list(view.box["name"]) == [  # each names its comparison
        "last week",
        "WoW",
        "last week YoY",
        "MTD",
        "MTD YoY",
        "QTD",
        "QTD YoY",
        "YTD",
        "YTD YoY",
    ]
    assert list(view.box["text"])[:4] == ["70", "0%", "0%", "100"]
    assert view.box.iloc[5]["value"] == 700  # QTD: 2024-01-01 to 2024-03-10
    with pytest.raises(
        QueryError, match=r"2024-03-09 is a Saturday, but weeks end on sunday; use 2024-03-10"
    ):
        daily.wbr("amount", "2024-03-09")


TARGETS = """\
targets:
  - metric: amount
    filters: {team: a}
    value: 400
    by: 2024-12-31
    baseline: {value: 300, date: 2023-12-31}
  - metric: wait
    filters: {team: a}
    value: 5
    by: 2024-12-31
  - metric: wait
    filters: {team: b}
    value: 5
    by: 2024-12-31
  - metric: conversion
    series: {2024-01: 0.12, 2024-02: 0.1}
"""


def test_target_to_date_attainment_gap_and_status(tmp_path: Path) -> None:
    with open_project(make(tmp_path, targets=TARGETS)) as project:
        card = project.scorecard("2024-02", team="a", metrics=["amount", "wait"])
        company = project.scorecard("2024-01", metrics=["conversion"])
    amount = one(card, metric="amount")
    # a straight line from 300 on 2023-12-31 to 400 on 2024-12-31, read at 2024-02-29 (60 days)
    expected = 300 + 100 * 60 / 366
    assert amount["target"] == pytest.approx(expected)
    assert amount["value"] == 290
    assert amount["gap"] == pytest.approx(290 - expected)
    assert amount["attainment"] == pytest.approx(290 / expected)
    assert amount["status"] == "off track"
    # lower is better: a wait of 6 against 5 is 20% behind
    wait = one(card, metric="wait")
    assert (wait["value"], wait["target"], wait["status"]) == (6, 5, "off track")
    assert wait["attainment"] == pytest.approx(5 / 6)
    assert wait["status_reason"] == (
        "behind the target to date by 20.0%; the recent trend does not reach the target by "
        "2024-12-31"
    )
    conversion = one(company, metric="conversion")
    assert (conversion["target"], conversion["status"]) == (0.12, "off track")


def test_a_small_shortfall_is_not_rounded_to_nothing() -> None:
    metric = Metric(name="activation", label="Activation", format="percent")
    # 0.4498 against 0.45: 0.044% behind (it read "behind the target to date by 0.0%")
    result = evaluate(metric, 0.4498, 0.45)
    assert (result.status, result.reason) == ("at risk", "behind the target to date by 0.04%")


def test_lower_is_better_inverts_status(tmp_path: Path) -> None:
    with open_project(make(tmp_path, targets=TARGETS)) as project:
        card = project.scorecard("2024-02", team="b", metrics=["wait"])
    wait = one(card, metric="wait")
    assert (wait["value"], wait["status"]) == (4, "on track")
    assert wait["attainment"] == pytest.approx(5 / 4)


def test_a_company_target_does_not_apply_to_a_team(tmp_path: Path) -> None:
    with open_project(make(tmp_path, targets=TARGETS)) as project:
        card = project.scorecard("2024-01", team="a", metrics=["conversion"])
    row = one(card, metric="conversion")
    assert (row["status"], row["status_reason"]) == ("n/a", "no target for this period")


@pytest.mark.parametrize(
    ("text", "grain", "label", "start", "end"),
    [
        ("FY2024", None, "FY2024", dt.date(2023, 7, 1), dt.date(2024, 6, 30)),
        ("FY2024-Q1", None, "FY2024-Q1", dt.date(2023, 7, 1), dt.date(2023, 9, 30)),
        ("FY2024-Q3", None, "FY2024-Q3", dt.date(2024, 1, 1), dt.date(2024, 3, 31)),
        ("2024-02-29", "fiscal_quarter", "FY2024-Q3", dt.date(2024, 1, 1), dt.date(2024, 3, 31)),
        ("2024-02", None, "2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        ("2026-W42", None, "2026-W42", dt.date(2026, 10, 12), dt.date(2026, 10, 18)),
        ("last-month", None, "2024-02", dt.date(2024, 2, 1), dt.date(2024, 2, 29)),
        ("this-week", None, "2024-W11", dt.date(2024, 3, 11), dt.date(2024, 3, 17)),
        ("last-fiscal-year", None, "FY2023", dt.date(2022, 7, 1), dt.date(2023, 6, 30)),
    ],
)
def test_period_text(
    text: str, grain: str | None, label: str, start: dt.date, end: dt.date
) -> None:
    period = parse_period(text, grain, Calendar("sunday", 7), today=dt.date(2024, 3, 15))
    assert (period.label, period.start, period.end) == (label, start, end)


def test_year_ago_of_weeks_is_364_days_and_of_months_the_same_month() -> None:
    calendar = Calendar("saturday", 1)
    week = parse_period("2024-W10", None, calendar)
    assert (week.start, week.end) == (dt.date(2024, 3, 3), dt.date(2024, 3, 9))
    assert (week.year_ago().start, week.year_ago().end) == (
        dt.date(2023, 3, 5),
        dt.date(2023, 3, 11),
    )
    month = parse_period("2024-02", None, calendar)
    assert (month.year_ago().start, month.year_ago().end) == (
        dt.date(2023, 2, 1),
        dt.date(2023, 2, 28),
    )


def test_latest_uses_the_sources_coverage(daily) -> None:
    assert daily.data_through() == LAST
    assert daily.period("latest").label == "2024-02"
    assert daily.period("latest", "week").label == "2024-W10"


# --- change units: points are not percent -----------------------------------------------------

UNITS_CONFIG = """\
name: Units
calendar: {week_ends_on: sunday, fiscal_year_start_month: 1}
sources:
  survey:
    path: data/survey.csv
    date: {column: day, format: "%Y-%m-%d"}
    values: {score: number, rate: number, signups: integer}
metrics:
  nps: {label: NPS, source: survey, agg: mean, column: score, format: score, decimals: 1}
  activation: {label: Activation, source: survey, agg: mean, column: rate, format: percent}
  signups: {label: Signups, source: survey, agg: sum, column: signups}
outcomes:
  - {id: love, title: Customers recommend us, kpi: nps}
  - {id: activate, title: New customers activate, kpi: activation}
  - {id: grow, title: More customers sign up, kpi: signups}
"""
#: every day of 2024 and of 2025 (to 30 November): (NPS, activation rate, signups)
UNITS_DAYS = {2024: (2.1, 0.40, 10), 2025: (18.3, 0.45, 11)}


@pytest.fixture
def units(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    lines = ["day,score,rate,signups"]
    day = dt.date(2024, 1, 1)
    while day <= dt.date(2025, 11, 30):
        score, rate, signups = UNITS_DAYS[day.year]
        lines.append(f"{day},{score},{rate},{signups}")
        day += dt.timedelta(days=1)
    (tmp_path / "data" / "survey.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "reviewkit.yaml").write_text(UNITS_CONFIG, encoding="utf-8")
    return tmp_path


def test_a_score_changes_in_points_a_rate_in_pp_and_a_count_in_percent_everywhere(units) -> None:
    # November 2025 against November 2024, from the days written above
    (old_score, old_rate, old_signups), (score, rate, signups) = UNITS_DAYS[2024], UNITS_DAYS[2025]
    expected = {
        "nps": (score - old_score, "+16.2 points", "0 points"),
        "activation": ((rate - old_rate) * 100, "+5.0 pp", "0 pp"),
        "signups": ((30 * signups / (30 * old_signups) - 1) * 100, "+10.0%", None),
    }
    assert [round(v, 6) for v, _, _ in expected.values()] == [16.2, 5.0, 10.0]
    with open_project(units) as project:
        card = project.scorecard("2025-11")
        for name, (value, yoy, mom) in expected.items():
            row = one(card, metric=name)
            assert row["year_ago_change"] == pytest.approx(value)
            assert row["year_ago_change_text"] == yoy
            if mom is not None:  # the same value as in October: exactly no change
                assert (row["previous_change"], row["previous_change_text"]) == (0, mom)
        assert list(card["change_unit"]) == ["points", "pp", "percent"]

        # the WBR box: every comparison with a year earlier is 2.1 -> 18.3
        box = project.wbr("nps", "2025-11-30").box
        assert list(box["text"]) == [
            "18.3", "0 points", "+16.2 points", "18.3", "+16.2 points",
            "18.3", "+16.2 points", "18.3", "+16.2 points",
        ]  # fmt: skip
        rates = project.wbr("activation", "2025-11-30").box
        assert list(rates["text"])[1:3] == ["0 pp", "+5.0 pp"]

        # the executive summary (and so the emails and chat posts) and the review's scorecard
        summary = narrative.executive_summary(project, "2025-11")
        assert (
            "Customers recommend us: NPS is 18.3 in 2025-11, +16.2 points on a year earlier "
            "(better)." in summary
        )
        assert (
            "New customers activate: Activation is 45.0% in 2025-11, +5.0 pp on a year earlier "
            "(better)." in summary
        )
        assert any(s.startswith("More customers sign up: Signups is 330 in 2025-11") and
                   "+10.0% on a year earlier (better)" in s for s in summary)  # fmt: skip
        table = narrative.scorecard_table(project, "2025-11").markup
        assert "+16.2 points" in table and "+5.0 pp" in table and "+10.0%" in table

        # the charts' tooltips
        trend = json.dumps(charts.kpi_trend(project, "nps").to_dict())
        assert '"yoy": "+16.2 points"' in trend
        wbr_chart = charts.wbr_chart(
            project.wbr("nps", "2025-11-30"), metric=project.config.metrics["nps"]
        )
        assert '"yoy": "+16.2 points"' in json.dumps(wbr_chart.to_dict())

    result = CliRunner().invoke(main, ["kpis", "--project", str(units), "--period", "2025-11"])
    assert result.exit_code == 0, result.output
    table_rows = [re.split(r"\s{2,}", line.strip()) for line in result.stdout.splitlines()[3:]]
    assert table_rows == [
        ["NPS", "18.3", "0 points", "+16.2 points"],
        ["Activation", "45.0%", "0 pp", "+5.0 pp"],
        ["Signups", "330", "-3.2%", "+10.0%"],
    ]
