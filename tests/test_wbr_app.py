"""wbr-app compatibility mode: wbr-app's documented rules on small daily datasets, hand-computed.

Every expected number below is worked out by hand from wbr-app's rules (see the docstring of
reviewkit.metrics.wbr_app): weeks end on the week ending's weekday, prior-year weeks are 364 days back, the
twelve months are the last full months, box changes are (current / base - 1) x 100 or bps x 10,000,
and column metrics show a missing or zero-based box value as 0 while function metrics show null.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from textwrap import dedent
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

from reviewkit.base.errors import ConfigError, DataError
from reviewkit.cli.wbr import wbr
from reviewkit.metrics.wbr_app import (
    Clause,
    WbrConfig,
    compute_wbr,
    load_wbr_config,
    parse_filter_query,
    parse_week_ending,
)

SCENARIOS = Path(__file__).parent / "wbr_scenarios"
SAT_25_SEP_2021 = dt.date(2021, 9, 25)
Value = Callable[[dt.date], float | None]


def config(tmp_path: Path, text: str) -> WbrConfig:
    path = tmp_path / "wbr.yaml"
    path.write_text(dedent(text))
    return load_wbr_config(path)


def daily(first: str, last: str, **columns: Value) -> pd.DataFrame:
    """One row per day from ``first`` to ``last``; a column value of None is a blank cell."""
    days = [d.date() for d in pd.date_range(first, last)]
    data: dict[str, Any] = {"Date": pd.to_datetime(days)}
    for name, value in columns.items():
        data[name] = [value(d) for d in days]
    return pd.DataFrame(data)


def run(cfg: WbrConfig, data: pd.DataFrame, week_ending: dt.date | None = None) -> dict[str, Any]:
    return {r["metric"]: r for r in compute_wbr(cfg, data, week_ending)}


def is_saturday(d: dt.date) -> bool:
    return d.weekday() == 5


def test_additive_metric_over_two_years(tmp_path: Path) -> None:
    # The day of the month, plus 100 a day in 2021; week ending Saturday 25 Sep 2021.
    cfg = config(
        tmp_path,
        """
        setup: {week_ending: 25-SEP-2021, week_number: 38}
        metrics:
          PageViews: {column: views, aggf: sum}
        """,
    )
    data = daily("2020-01-01", "2021-09-25", views=lambda d: d.day + (100 if d.year == 2021 else 0))
    (result,) = compute_wbr(cfg, data)
    # CY weeks end 21 Aug .. 25 Sep 2021: days 15-21, 22-28, 29 Aug-4 Sep, 5-11, 12-18, 19-25.
    assert result["cy_6_weeks"] == [126 + 700, 175 + 700, 100 + 700, 56 + 700, 105 + 700, 154 + 700]
    # PY weeks end 364 days earlier, 22 Aug .. 26 Sep 2020: 16-22, 23-29, 30 Aug-5 Sep, 6-12, ...
    assert result["py_6_weeks"] == [133, 182, 76, 63, 112, 161]
    # A month of n days sums to n(n+1)/2 (+100 n in 2021): Sep 2020 .. Aug 2021, the last full month.
    assert result["cy_monthly"] == [
        465,
        496,
        465,
        496,
        496 + 3100,
        406 + 2800,
        496 + 3100,
        465 + 3000,
        496 + 3100,
        465 + 3000,
        496 + 3100,
        496 + 3100,
    ]
    # Sep 2019 .. Aug 2020: no data before 2020 (null), then February 2020 has 29 days.
    assert result["py_monthly"] == [None] * 4 + [496, 435, 496, 465, 496, 465, 496, 496]
    mtd, py_mtd = 325 + 2500, 325  # 1..25 Sep
    qtd, py_qtd = 496 + 496 + 325 + 100 * (31 + 31 + 25), 496 + 496 + 325  # Jul, Aug, MTD
    ytd = (496 + 406 + 496 + 465 + 496 + 465 + 496 + 496) + 325 + 100 * 268  # 1 Jan .. 25 Sep
    py_ytd = (496 + 435 + 496 + 465 + 496 + 465 + 496 + 496) + 325
    assert result["box_totals"] == pytest.approx(
        [
            854,
            (854 / 805 - 1) * 100,
            (854 / 161 - 1) * 100,
            mtd,
            (mtd / py_mtd - 1) * 100,
            qtd,
            (qtd / py_qtd - 1) * 100,
            ytd,
            (ytd / py_ytd - 1) * 100,
        ]
    )
    assert result["flags"] == [
        "month in progress: 2021-09 runs only to 2021-09-25 (MTD covers 25 of 30 days); the "
        "trailing twelve months stop at 2021-08",
        "PY months with missing days: 2019-09..2019-12 have no data (null)",
        "YTD: PY 2020-01-01..2020-09-25 has 269 day(s) of data against 268 in CY "
        "2021-01-01..2021-09-25, so its YoY compares unequal periods",
    ]


def test_divide_is_the_ratio_of_the_totals_compared_in_bps(tmp_path: Path) -> None:
    # Saturdays: 100 impressions, 10 clicks; other days 10 impressions and 5 clicks (4 in 2020).
    cfg = config(
        tmp_path,
        """
        setup: {week_ending: 25-SEP-2021}
        metrics:
          Clicks: {column: clicks, aggf: sum}
          Impressions: {column: impressions, aggf: sum}
          CTR:
            metric_comparison_method: bps
            function:
              divide:
                - metric: {name: Clicks}
                - metric: {name: Impressions}
        """,
    )
    data = daily(
        "2020-01-01",
        "2021-09-25",
        clicks=lambda d: 10 if is_saturday(d) else (5 if d.year == 2021 else 4),
        impressions=lambda d: 100 if is_saturday(d) else 10,
    )
    ctr = run(cfg, data)["CTR"]
    # A week has one Saturday: 40 / 160 clicks per impression, not the mean daily ratio 0.443.
    assert ctr["cy_6_weeks"] == [0.25] * 6
    assert ctr["py_6_weeks"] == [34 / 160] * 6
    # Sep 2020 has 4 Saturdays in 30 days, Aug 2021 4 in 31.
    assert ctr["cy_monthly"][0] == pytest.approx((40 + 26 * 4) / (400 + 26 * 10))
    assert ctr["cy_monthly"][-1] == pytest.approx((40 + 27 * 5) / (400 + 27 * 10))
    mtd, py_mtd = (40 + 21 * 5) / (400 + 210), (30 + 22 * 4) / (300 + 220)  # 4 and 3 Saturdays
    qtd, py_qtd = (130 + 74 * 5) / (1300 + 740), (120 + 75 * 4) / (1200 + 750)  # 13 and 12
    ytd, py_ytd = (390 + 229 * 5) / (3900 + 2290), (380 + 231 * 4) / (3800 + 2310)  # 39 and 38
    assert ctr["box_totals"] == pytest.approx(
        [
            0.25,
            0.0,
            (0.25 - 34 / 160) * 10_000,
            mtd,
            (mtd - py_mtd) * 10_000,
            qtd,
            (qtd - py_qtd) * 10_000,
            ytd,
            (ytd - py_ytd) * 10_000,
        ]
    )


def test_sum_difference_and_product_of_the_aggregates(tmp_path: Path) -> None:
    # A is 3 a day in 2021 and 2 in 2020; B is 2 a day throughout.
    cfg = config(
        tmp_path,
        """
        setup: {week_ending: 25-SEP-2021}
        metrics:
          A: {column: a, aggf: sum}
          B: {column: b, aggf: sum}
          Total: {function: {sum: [metric: {name: A}, metric: {name: B}]}}
          Gap: {function: {difference: [metric: {name: A}, metric: {name: B}]}}
          Volume: {function: {product: [metric: {name: A}, metric: {name: B}]}}
        """,
    )
    data = daily("2020-01-01", "2021-09-25", a=lambda d: 3 if d.year == 2021 else 2, b=lambda d: 2)
    results = run(cfg, data)
    total, gap, volume = results["Total"], results["Gap"], results["Volume"]
    assert (total["cy_6_weeks"], total["py_6_weeks"]) == ([35] * 6, [28] * 6)
    assert (total["cy_monthly"][0], total["cy_monthly"][-1]) == (4 * 30, 5 * 31)  # Sep 20, Aug 21
    # Days: last week 7, MTD 25, QTD 87 (Jul 1 - Sep 25), YTD 268 in 2021 and 269 in 2020.
    assert total["box_totals"] == pytest.approx(
        [35, 0, 25, 125, 25, 435, 25, 1340, (1340 / 1076 - 1) * 100]
    )
    assert (gap["cy_6_weeks"], gap["py_6_weeks"]) == ([7] * 6, [0] * 6)
    # The prior-year gap is 0: no percent change, which wbr-app shows as N/A (null).
    assert gap["box_totals"] == [7, 0, None, 25, None, 87, None, 268, None]
    zero_base = "the base value is 0, which wbr-app treats as missing; wbr-app shows null"
    assert [f for f in gap["flags"] if zero_base in f] == [
        f"{label}: {zero_base}" for label in ("last week YoY", "MTD YoY", "QTD YoY", "YTD YoY")
    ]
    # The product of the weekly totals (21 x 14), not the sum of daily products (7 x 6).
    assert (volume["cy_6_weeks"], volume["py_6_weeks"]) == ([294] * 6, [196] * 6)
    assert volume["box_totals"] == pytest.approx(
        [294, 0, 50, 75 * 50, 50, 261 * 174, 50, 804 * 536, (804 * 536 / (538 * 538) - 1) * 100]
    )


FILTER_CONFIG = """
    setup: {week_ending: 25-SEP-2021}
    metrics:
      USRevenue:
        filter: {base_column: Revenue, query: "Country == 'US'"}
        aggf: sum
      BigUS:
        filter: {base_column: Revenue, query: "Country == 'US' and Revenue > 8"}
        aggf: sum
      USorJP:
        filter: {base_column: Revenue, query: "Country == 'US' or `Country` == \\"JP\\""}
        aggf: sum
      Total: {column: Revenue, aggf: sum}
    """


def shop_rows(drop: set[tuple[str, str]]) -> pd.DataFrame:
    """US 10 and JP 7 a day, 1 Aug - 25 Sep 2021, without the (date, country) rows in ``drop``."""
    rows = [
        (day.date().isoformat(), country, revenue)
        for day in pd.date_range("2021-08-01", "2021-09-25")
        for country, revenue in (("US", 10), ("JP", 7))
        if (day.date().isoformat(), country) not in drop
    ]
    return pd.DataFrame(rows, columns=["Date", "Country", "Revenue"])


def test_filter_metric_and_a_day_without_matching_rows(tmp_path: Path) -> None:
    results = run(config(tmp_path, FILTER_CONFIG), shop_rows({("2021-09-15", "US")}))
    us, total = results["USRevenue"], results["Total"]
    # 15 Sep has no US row: for a sum, wbr-app makes that day and so its week missing.
    assert us["cy_6_weeks"] == [70, 70, 70, 70, None, 70]
    assert results["BigUS"]["cy_6_weeks"] == us["cy_6_weeks"]
    assert results["USorJP"]["cy_6_weeks"] == [119, 119, 119, 119, 109, 119]
    assert total["cy_6_weeks"] == [119, 119, 119, 119, 109, 119]
    assert us["flags"][1] == (
        "CY weeks with missing days: week ending 2021-09-18 has 6/7 days, wbr-app shows null"
    )
    # Missing base week, no prior year and a missing MTD/QTD/YTD: wbr-app shows 0 for all.
    assert us["box_totals"] == [70, 0, 0, 0, 0, 0, 0, 0, 0]
    assert "WoW: no base value; wbr-app shows 0" in us["flags"]
    assert "MTD: no value; wbr-app shows 0" in us["flags"]
    assert total["box_totals"][:4] == pytest.approx([119, (119 / 109 - 1) * 100, 0, 25 * 17 - 10])


def test_filter_metric_of_a_csv_out_of_date_order_is_flagged(tmp_path: Path) -> None:
    data = shop_rows(set()).iloc[::-1]
    us = run(config(tmp_path, FILTER_CONFIG), data)["USRevenue"]
    assert us["cy_6_weeks"] == [70] * 6
    assert us["flags"][-1] == (
        "the CSV is not in Date order: wbr-app then attaches this filter metric's values to the "
        "wrong dates (reviewkit uses the right ones); sort the file by Date"
    )


def test_filter_query_syntax() -> None:
    parsed = parse_filter_query("Country == 'US' and Revenue >= 1.5 or `Sales Team` != \"x\"")
    assert parsed.any_of == (
        (Clause("Country", "==", "US"), Clause("Revenue", ">=", 1.5)),
        (Clause("Sales Team", "!=", "x"),),
    )
    for query, problem in (
        ("Country in 'US'", "expected ==, !=, >, <, >= or <= after 'Country', got 'in'"),
        ("Country in ['US']", "cannot read \"['US']\""),
        ("Country == US", "expected a quoted text or a number after '==', got 'US'"),
        ("Country == 'US' xor 1", "expected 'and' or 'or' before 'xor'"),
        ("Country == 'US' and", "expected a comparison like Country == 'US'"),
        ("Revenue > 5 )", "cannot read ')'"),
    ):
        with pytest.raises(ValueError, match=f"^{re.escape(problem)}$"):
            parse_filter_query(query)


def test_a_blank_cell_nulls_a_sum_week_an_absent_day_leaves_a_partial_one() -> None:
    # gappy.csv: 8 Sep has a row with a blank Orders cell, 16 Sep has no row at all.
    results = run(load_wbr_config(SCENARIOS / "gappy.yaml"), SCENARIOS / "gappy.csv")
    orders, visits, conversion = results["Orders"], results["Visits"], results["Conversion"]
    assert orders["cy_6_weeks"] == [35, 35, 35, None, 30, 35]
    assert visits["cy_6_weeks"] == [700, 700, 700, 700, 600, 700]
    assert conversion["cy_6_weeks"] == [0.05, 0.05, 0.05, None, 0.05, 0.05]
    assert orders["cy_monthly"] == [None] * 11 + [155]  # the data start in Aug 2021
    assert orders["flags"][1] == (
        "CY weeks with missing days: week ending 2021-09-11 has 6/7 days, wbr-app shows null; "
        "week ending 2021-09-18 has 6/7 days, wbr-app shows 30"
    )
    assert visits["flags"][1] == (
        "CY weeks with missing days: week ending 2021-09-18 has 6/7 days, wbr-app shows 600"
    )
    # The blank cell also makes Orders' MTD, QTD and YTD missing, shown as 0.
    assert orders["box_totals"] == pytest.approx([35, (35 / 30 - 1) * 100, 0, 0, 0, 0, 0, 0, 0])
    # Conversion's MTD divides those 0 orders by 2,400 visits (24 days: 16 Sep is absent).
    assert conversion["box_totals"] == [0.05, 0, None, 0, None, 0, None, 0, None]
    assert "MTD: no value for 'Orders', which wbr-app counts as 0" in conversion["flags"]
    assert "PY weeks: no data in any of them (wbr-app shows null)" in orders["flags"]


def test_week_ending_on_a_wednesday(tmp_path: Path) -> None:
    cfg = config(tmp_path, "metrics: {V: {column: v, aggf: sum}}\nsetup: {}\n")
    data = daily("2021-08-01", "2021-09-22", v=lambda d: d.day)
    (result,) = compute_wbr(cfg, data, parse_week_ending("22-sep-2021", "test"))
    # Weeks Thursday..Wednesday: 12-18 Aug, 19-25, 26 Aug-1 Sep, 2-8, 9-15, 16-22 Sep.
    assert result["cy_6_weeks"] == [105, 154, 171 + 1, 35, 84, 133]
    assert result["py_6_weeks"] == [None] * 6
    assert result["box_totals"] == pytest.approx(
        [133, (133 / 84 - 1) * 100, 0, 253, 0, 496 + 253, 0, 496 + 253, 0]
    )
    assert "PY weeks: no data in any of them (wbr-app shows null)" in result["flags"]
    assert "last week YoY: no base value; wbr-app shows 0" in result["flags"]


def test_fiscal_year_ending_in_june(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        """
        setup: {week_ending: 12-FEB-2022, fiscal_year_end_month: JUN}
        metrics: {V: {column: v, aggf: sum}}
        """,
    )
    data = daily("2020-07-01", "2022-02-12", v=lambda d: 2 if d >= dt.date(2021, 7, 1) else 1)
    (result,) = compute_wbr(cfg, data)
    # MTD 1-12 Feb; QTD from 1 Jan (quarters end Jun, Sep, Dec, Mar); YTD from 1 Jul 2021, not
    # 1 Jan (86): 184 days of Jul-Dec plus 43. The prior year spans the same dates at 1 a day.
    assert result["box_totals"] == pytest.approx([14, 0, 100, 24, 100, 86, 100, 454, 100])


def test_year_boundary(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, "setup: {week_ending: 01-JAN-2022}\nmetrics: {V: {column: v, aggf: sum}}"
    )
    (result,) = compute_wbr(cfg, daily("2020-01-01", "2022-01-01", v=lambda d: 1))
    assert (result["cy_6_weeks"], result["py_6_weeks"]) == ([7] * 6, [7] * 6)
    assert result["cy_monthly"] == [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]  # 2021
    assert result["py_monthly"] == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]  # 2020
    # MTD, QTD and YTD are all 1 Jan, against 1 Jan 2021.
    assert result["box_totals"] == [7, 0, 0, 1, 0, 1, 0, 1, 0]
    assert result["flags"] == [
        "month in progress: 2022-01 runs only to 2022-01-01 (MTD covers 1 of 31 days); the "
        "trailing twelve months stop at 2021-12"
    ]


def test_leap_day_in_the_prior_year_comparison(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, "setup: {week_ending: 29-FEB-2024}\nmetrics: {V: {column: v, aggf: sum}}"
    )
    (result,) = compute_wbr(cfg, daily("2022-01-01", "2024-02-29", v=lambda d: 1))
    # Thursday weeks; the prior-year day is 28 Feb 2023, a month end too.
    assert (result["cy_6_weeks"], result["py_6_weeks"]) == ([7] * 6, [7] * 6)
    assert result["cy_monthly"] == [31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 29]
    assert result["py_monthly"] == [31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 28]
    assert result["box_totals"] == pytest.approx(
        [7, 0, 0, 29, (29 / 28 - 1) * 100, 60, (60 / 59 - 1) * 100, 60, (60 / 59 - 1) * 100]
    )
    assert result["flags"] == [
        f"{label}: PY 2023-0{start}-01..2023-02-28 has {days - 1} day(s) of data against {days} "
        f"in CY 2024-0{start}-01..2024-02-29, so its YoY compares unequal periods"
        for label, start, days in (("MTD", 2, 29), ("QTD", 1, 60), ("YTD", 1, 60))
    ]


def test_week_ending_28_feb_after_a_leap_year_shifts_the_prior_year_months(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, "setup: {week_ending: 28-FEB-2025}\nmetrics: {V: {column: v, aggf: sum}}"
    )
    (result,) = compute_wbr(cfg, daily("2023-01-01", "2025-02-28", v=lambda d: 1))
    assert result["cy_monthly"] == [31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 28]  # Mar-Feb
    # 28 Feb 2024 is not a month end, so wbr-app's prior-year months are Feb 2023 - Jan 2024.
    assert result["py_monthly"] == [28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31]
    assert result["box_totals"][3:5] == [28, 0]  # MTD: 1-28 Feb both years
    # 1 Jan - 28 Feb is 59 days in both years, so no period is flagged as unequal.
    assert result["flags"] == [
        "PY months end with 2024-01, not 2024-02: wbr-app takes the prior year's last full month "
        "from 2024-02-28, which is not a month end while 2025-02-28 is"
    ]


def test_zero_base_in_wow(tmp_path: Path) -> None:
    # A is 0 through the week of 12-18 Sep, 1 on other days; B is 1 a day.
    cfg = config(
        tmp_path,
        """
        setup: {week_ending: 25-SEP-2021}
        metrics:
          A: {column: a, aggf: sum}
          B: {column: b, aggf: sum}
          Twice: {function: {sum: [metric: {name: A}, metric: {name: A}]}}
          Share: {function: {divide: [metric: {name: A}, metric: {name: B}]}}
        """,
    )
    zero_week = (dt.date(2021, 9, 12), dt.date(2021, 9, 18))
    data = daily(
        "2021-08-01",
        "2021-09-25",
        a=lambda d: 0 if zero_week[0] <= d <= zero_week[1] else 1,
        b=lambda d: 1,
    )
    results = run(cfg, data)
    a, twice, share = results["A"], results["Twice"], results["Share"]
    assert a["cy_6_weeks"] == [7, 7, 7, 7, 0, 7]
    # Column metric: the zero base becomes missing and the missing change is shown as 0.
    assert a["box_totals"][:2] == [7, 0]
    assert (
        "WoW: the base value is 0, which wbr-app treats as missing; wbr-app shows 0" in a["flags"]
    )
    # Function metrics: no percent change from 0, shown as null.
    assert twice["box_totals"][:2] == [14, None]
    assert (
        "WoW: the base value is 0, which wbr-app treats as missing; wbr-app shows null"
        in twice["flags"]
    )
    assert share["cy_6_weeks"] == [1, 1, 1, 1, 0, 1]
    assert share["box_totals"][:2] == [1, None]
    assert "WoW: no base value; wbr-app shows null" in share["flags"]


def test_data_ending_before_the_week_ending_shift_the_weeks_as_in_wbr_app(tmp_path: Path) -> None:
    cfg = config(
        tmp_path, "setup: {week_ending: 25-SEP-2021}\nmetrics: {V: {column: v, aggf: sum}}"
    )
    (result,) = compute_wbr(cfg, daily("2021-08-01", "2021-09-11", v=lambda d: 1))
    assert result["cy_6_weeks"] == [None, None, 7, 7, 7, 7]  # the last is the week ending 11 Sep
    assert result["box_totals"][:4] == [7, 0, 0, 11]
    assert (
        "CY weeks: the data end on 2021-09-11, so wbr-app's six weeks end with the week ending "
        "2021-09-11 instead of 2021-09-25" in result["flags"]
    )


def test_a_sum_operand_uses_wbr_apps_total_of_all_metrics(tmp_path: Path) -> None:
    # wbr-app's period value of a sum metric adds every metric defined before it (here A+B+C), which
    # skews the box changes of a function using it. A and B are 1 a day; C is 10 (2020) or 20.
    cfg = config(
        tmp_path,
        """
        setup: {week_ending: 25-SEP-2021}
        metrics:
          A: {column: a, aggf: sum}
          B: {column: b, aggf: sum}
          C: {column: c, aggf: sum}
          Total: {function: {sum: [metric: {name: A}, metric: {name: B}]}}
          Share: {function: {divide: [metric: {name: A}, metric: {name: Total}]}}
        """,
    )
    data = daily(
        "2020-01-01", "2021-09-25", a=lambda d: 1, b=lambda d: 1, c=lambda d: 10 * (d.year - 2019)
    )
    share = run(cfg, data)["Share"]
    assert share["cy_6_weeks"] == [0.5] * 6
    # The honest YoY is 0; wbr-app compares 7 / (7 + 7 + 140) with 7 / (7 + 7 + 70).
    assert share["box_totals"][:3] == pytest.approx([0.5, 0, (84 / 154 - 1) * 100])
    assert share["flags"][-1] == (
        "the box changes use wbr-app's period values of 'Total', which add up every metric "
        "defined before it instead of its operands (a wbr-app bug)"
    )


def wbr_app_golden_data() -> pd.DataFrame:
    """A small daily series with exactly the aggregates of wbr-app's golden scenario_1/scenario_3
    (src/unit_test_case/scenario_*/testconfig.yml, PageViews from original.csv, week ending
    25-SEP-2021): its monthly totals, its CY and PY weeks, and the PY MTD implied by its MTD YoY
    (1632139558 / 1.1534821198459484 = 1414967367). Each span's total is spread over its days."""
    cy_weeks = [496725868, 499671126, 464148871, 457477195, 460207741, 470759324]  # to 25 Sep 21
    py_weeks = [429282793, 439825733, 453443686, 402629589, 383456304, 383306638]  # to 26 Sep 20
    months_2020 = [1487877710, 1508255989, 1665665379, 1542530033, 1546099414, 1467102281]
    months_2020 += [1615446881, 1953063065, 1708890199, 1807907694, 1820822982, 1922478407]
    months_2021 = [2318880564, 1969227848, 2117874905, 2036021000, 2057839090, 2051219932]
    months_2021 += [2274329968, 2207577942]
    mtd, py_mtd = 1632139558, 1414967367
    spans: list[tuple[str, str, int]] = []
    for i, total in enumerate(months_2020[:7] + months_2020[9:] + months_2021[:7]):
        year, month = (2020, i + 1) if i < 7 else ((2020, i + 3) if i < 10 else (2021, i - 9))
        first = dt.date(year, month, 1)
        last = (pd.Timestamp(first) + pd.offsets.MonthEnd(0)).date()
        spans.append((first.isoformat(), last.isoformat(), total))
    # Aug-Sep 2020 around the PY weeks 16 Aug - 26 Sep; Aug 30-31 take 2/7 of their week.
    aug30_31 = py_weeks[2] * 2 // 7
    sep20_25 = py_mtd - (py_weeks[2] - aug30_31) - py_weeks[3] - py_weeks[4]
    spans += [
        ("2020-08-01", "2020-08-15", months_2020[7] - py_weeks[0] - py_weeks[1] - aug30_31),
        ("2020-08-16", "2020-08-22", py_weeks[0]),
        ("2020-08-23", "2020-08-29", py_weeks[1]),
        ("2020-08-30", "2020-08-31", aug30_31),
        ("2020-09-01", "2020-09-05", py_weeks[2] - aug30_31),
        ("2020-09-06", "2020-09-12", py_weeks[3]),
        ("2020-09-13", "2020-09-19", py_weeks[4]),
        ("2020-09-20", "2020-09-25", sep20_25),
        ("2020-09-26", "2020-09-26", py_weeks[5] - sep20_25),
        ("2020-09-27", "2020-09-30", months_2020[8] - py_mtd - (py_weeks[5] - sep20_25)),
    ]
    # Aug-Sep 2021 around the CY weeks 15 Aug - 25 Sep; 1-4 Sep is what the MTD leaves.
    sep1_4 = mtd - sum(cy_weeks[3:])
    spans += [
        (
            "2021-08-01",
            "2021-08-14",
            months_2021[7] - cy_weeks[0] - cy_weeks[1] - cy_weeks[2] + sep1_4,
        ),
        ("2021-08-15", "2021-08-21", cy_weeks[0]),
        ("2021-08-22", "2021-08-28", cy_weeks[1]),
        ("2021-08-29", "2021-08-31", cy_weeks[2] - sep1_4),
        ("2021-09-01", "2021-09-04", sep1_4),
        ("2021-09-05", "2021-09-11", cy_weeks[3]),
        ("2021-09-12", "2021-09-18", cy_weeks[4]),
        ("2021-09-19", "2021-09-25", cy_weeks[5]),
    ]
    rows = []
    for first, last, total in spans:
        days = pd.date_range(first, last)
        assert total > 0
        share, rest = divmod(total, len(days))
        rows += [(day, share + (rest if i == 0 else 0)) for i, day in enumerate(days)]
    return pd.DataFrame(rows, columns=["Date", "PageViews"]).sort_values("Date")


@pytest.mark.parametrize(
    ("fiscal_end", "box_totals", "tolerance"),
    [
        # scenario_1/testconfig.yml, test_case_no 2 (PageViewsTrailing), fiscal year ending DEC.
        (
            "DEC",
            [
                470759324.0,
                2.29278694379893,
                22.81533303,
                1632139558.0,
                15.34821198459484,
                6114047468.0,
                22.686371061643484,
                18665110807.0,
                31.435111159660067,
            ],
            1e-6,
        ),
        # scenario_3/testconfig.yml, test_case_no 1: fiscal year ending MAY, so QTD starts 1 Sep
        # (= MTD) and YTD 1 Jun; its changes are given to 2 decimals.
        (
            "MAY",
            [
                470759324.0,
                2.29278694379893,
                22.82,
                1632139558.0,
                15.35,
                1632139558,
                15.35,
                8165267400,
                26.58191843,
            ],
            0.006,
        ),
    ],
)
def test_wbr_app_golden_scenarios(
    tmp_path: Path, fiscal_end: str, box_totals: list[float], tolerance: float
) -> None:
    cfg = config(
        tmp_path,
        f"""
        setup: {{week_ending: 25-SEP-2021, week_number: 38, fiscal_year_end_month: {fiscal_end}}}
        metrics: {{PageViews: {{column: PageViews, aggf: sum}}}}
        """,
    )
    (result,) = compute_wbr(cfg, wbr_app_golden_data())
    assert result["cy_6_weeks"] == [
        496725868,
        499671126,
        464148871,
        457477195,
        460207741,
        470759324,
    ]
    assert result["py_6_weeks"] == [
        429282793,
        439825733,
        453443686,
        402629589,
        383456304,
        383306638,
    ]
    assert result["cy_monthly"] == [
        1708890199, 1807907694, 1820822982, 1922478407, 2318880564, 1969227848,
        2117874905, 2036021000, 2057839090, 2051219932, 2274329968, 2207577942,
    ]  # fmt: skip
    assert result["py_monthly"] == [None] * 4 + [
        1487877710, 1508255989, 1665665379, 1542530033,
        1546099414, 1467102281, 1615446881, 1953063065,
    ]  # fmt: skip
    assert result["box_totals"] == pytest.approx(box_totals, rel=1e-9, abs=tolerance)


def test_latest_date_is_the_default_week_ending(tmp_path: Path) -> None:
    cfg = config(tmp_path, "setup: {}\nmetrics: {V: {column: v, aggf: sum}}")
    (result,) = compute_wbr(cfg, daily("2021-08-01", "2021-09-25", v=lambda d: 1))
    assert result["cy_6_weeks"] == [7] * 6
    assert result["flags"][0] == (
        "no week ending given: used the latest date in the data, 2021-09-25 (wbr-app requires "
        "setup.week_ending)"
    )


def test_config_errors_name_file_line_and_valid_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wbr.yaml").write_text(
        dedent(
            """\
            setup:
              week_ending: 2021-09-25
              fiscal_year_end_month: Jun
              weekending: 25-SEP-2021
            metrics:
              Sales:
                filter: {baseColumn: amount, query: "Country == 'US'"}
                aggf: total
              Share:
                function:
                  divide:
                    - metric: {name: Ratio}
                    - metric: {name: Sales}
              Ratio:
                function: {divide: [metric: {name: Sales}, metric: {name: Sale}]}
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_wbr_config("wbr.yaml")
    # wbr-app ignores the keys it does not read: warnings, listed with the problems. No hint for
    # 'weekending', written beside the 'week_ending' it resembles.
    assert str(caught.value) == (
        "wbr.yaml has 6 problem(s) and 2 warning(s):\n"
        "wbr.yaml:2:3: setup.week_ending: 2021-09-25 is not a date like 25-SEP-2021 "
        "(DD-MON-YYYY); write it as wbr-app does\n"
        "wbr.yaml:3:3: setup.fiscal_year_end_month: 'Jun' is not one of JAN, FEB, MAR, APR, MAY, "
        "JUN, JUL, AUG, SEP, OCT, NOV, DEC (did you mean 'JUN'?); wbr-app needs the upper-case "
        "3-letter month\n"
        "wbr.yaml:4:3: warning: setup.weekending: wbr-app ignores this key\n"
        "wbr.yaml:7:5: metrics.Sales.filter: missing required key 'base_column'\n"
        "wbr.yaml:7:14: warning: metrics.Sales.filter.baseColumn: wbr-app ignores this key (did "
        "you mean 'base_column'?)\n"
        "wbr.yaml:8:5: metrics.Sales.aggf: 'total' is not one of: sum, mean, min, max, first, "
        "last\n"
        "wbr.yaml:12:20: metrics.Share.function.divide.0.metric.name: function metric 'Ratio' must "
        "be defined above 'Share' (wbr-app evaluates function metrics in file order)\n"
        "wbr.yaml:15:57: metrics.Ratio.function.divide.1.metric.name: unknown metric 'Sale' (did "
        "you mean 'Sales'?); define it in the metrics section"
    )


IGNORED_KEYS_BASE = """\
    setup:
      week_ending: 25-SEP-2021
    metrics:
      Clicks: {column: clicks, aggf: sum}
      Impressions: {column: impressions, aggf: sum}
      US: {filter: {base_column: clicks, query: "country == 'US'"}, aggf: sum}
      CTR: {function: {divide: [metric: {name: Clicks}, metric: {name: Impressions}]}}
    """
# The same deck with keys wbr-app does not read: its own generated decks carry `comment` under
# every metric, hand-written ones deck settings or typos of its keys. A typo of
# fiscal_year_end_month or metric_comparison_method leaves wbr-app on DEC and percent changes.
IGNORED_KEYS = """\
    owner: finance team
    setup:
      week_ending: 25-SEP-2021
      fiscal_year_end_mont: JUN
    metrics:
      Clicks:
        column: clicks
        aggf: sum
        comment: Ensure 'clicks' is a column in your data_sources query output.
        graph_prior_year_flag: true
      Impressions:
        column: impressions
        aggf: sum
        box_total_scaling: "##MM"
        metric_comparision_method: bps
      US:
        filter: {base_column: clicks, query: "country == 'US'", note: US only}
        aggf: sum
      CTR:
        aggf: mean
        function:
          divide:
            - metric: {name: Clicks, legend_name: CTR}
              weight: 2
            - metric: {name: Impressions}
          sum:
            - metric: {name: US}
    """


def test_keys_wbr_app_ignores_change_no_number_and_warn_once_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    data = daily("2020-08-01", "2021-09-25", clicks=lambda d: d.day, impressions=lambda d: 99)
    data["country"] = ["UK" if d.day % 3 == 0 else "US" for d in data["Date"]]
    data.to_csv("daily.csv", index=False)
    (tmp_path / "base.yaml").write_text(dedent(IGNORED_KEYS_BASE))
    (tmp_path / "wbr.yaml").write_text(dedent(IGNORED_KEYS))
    expected = compute_wbr(load_wbr_config("base.yaml"), "daily.csv")
    assert compute_wbr(load_wbr_config("wbr.yaml"), "daily.csv") == expected
    warnings = [
        "wbr.yaml:1:1: warning: owner: wbr-app ignores this key",
        "wbr.yaml:4:3: warning: setup.fiscal_year_end_mont: wbr-app ignores this key (did you "
        "mean 'fiscal_year_end_month'?)",
        "wbr.yaml:9:5: warning: metrics.Clicks.comment: wbr-app ignores this key",
        "wbr.yaml:10:5: warning: metrics.Clicks.graph_prior_year_flag: wbr-app ignores this key "
        "(it reads it only under a deck block's metrics)",
        "wbr.yaml:14:5: warning: metrics.Impressions.box_total_scaling: wbr-app ignores this key",
        "wbr.yaml:15:5: warning: metrics.Impressions.metric_comparision_method: wbr-app ignores "
        "this key (did you mean 'metric_comparison_method'?)",
        "wbr.yaml:17:61: warning: metrics.US.filter.note: wbr-app ignores this key",
        "wbr.yaml:20:5: warning: metrics.CTR.aggf: wbr-app ignores this key (a function metric "
        "is not aggregated)",
        "wbr.yaml:23:34: warning: metrics.CTR.function.divide.0.metric.legend_name: wbr-app "
        "ignores this key (it reads it only under a deck block's metrics)",
        "wbr.yaml:24:11: warning: metrics.CTR.function.divide.0.weight: wbr-app ignores this key",
        "wbr.yaml:26:7: warning: metrics.CTR.function.sum: wbr-app ignores this key (it reads "
        "only the first key here, 'divide')",
    ]
    runner = CliRunner()
    result = runner.invoke(wbr, ["wbr.yaml", "--data", "daily.csv", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == expected
    assert result.stderr.splitlines() == warnings
    table = runner.invoke(wbr, ["wbr.yaml", "--data", "daily.csv"])
    base = runner.invoke(wbr, ["base.yaml", "--data", "daily.csv"])
    assert (table.stdout, table.stderr.splitlines()) == (base.stdout, warnings)
    assert base.stderr == ""


def test_keys_wbr_app_rejects_are_still_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "wbr.yaml").write_text(
        dedent(
            """\
            setup: {week_ending: 25-SEP-2021}
            metrics:
              Clicks:
                column: clicks
                agf: sum
              Views:
                column: views
                aggf: sum
                metric_comparison_method: percent
              Rate:
                metric: Clicks
                function: {divide: [metric: {name: Clicks}, metric: {name: Views}]}
              Share:
                function: {ratio: [metric: {name: Clicks}], divide: [metric: {name: Views}]}
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_wbr_config("wbr.yaml")
    # wbr-app's validator refuses a metric without aggf and a comparison method other than bps;
    # it fails reading a 'metric' key without 'column' and a first function key it does not know.
    # The ignored typo is listed too, as the likely cause of the missing key.
    assert str(caught.value) == (
        "wbr.yaml has 4 problem(s) and 1 warning(s):\n"
        "wbr.yaml:3:3: metrics.Clicks: missing required key 'aggf' (or define a function)\n"
        "wbr.yaml:5:5: warning: metrics.Clicks.agf: wbr-app ignores this key (did you mean "
        "'aggf'?)\n"
        "wbr.yaml:9:5: metrics.Views.metric_comparison_method: 'percent' is not one of: bps, % "
        "(percent change, the default)\n"
        "wbr.yaml:11:5: metrics.Rate.metric: wbr-app reads 'metric' as a column metric and fails "
        "without 'column'; remove it\n"
        "wbr.yaml:14:16: metrics.Share.function.ratio: 'ratio' is not one of: sum, difference, "
        "product, divide; wbr-app takes the first key here for the function"
    )


def test_data_errors_name_the_missing_column_and_list_the_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "daily.csv").write_text("Date,Orders,Country\n2021-09-01,5,US\n2021-09-02,x,US\n")
    cfg = config(
        tmp_path,
        """
        metrics:
          Visits: {column: visits, aggf: sum}
          US: {filter: {base_column: Orders, query: "Region == 'US'"}, aggf: sum}
        setup: {}
        """,
    )
    with pytest.raises(DataError) as caught:
        compute_wbr(cfg, "daily.csv")
    assert str(caught.value) == (
        "daily.csv lacks 2 column(s) that wbr.yaml uses:\n"
        "wbr.yaml:3: metrics.Visits.column: column 'visits' is not in daily.csv; its columns are: "
        "Date, Orders, Country\n"
        "wbr.yaml:4: metrics.US.filter.query: the query uses column 'Region', which is not among "
        "the filterable columns of daily.csv: Orders, Country"
    )
    cfg = config(tmp_path, "setup: {}\nmetrics: {O: {column: Orders, aggf: sum}}")
    with pytest.raises(DataError) as caught:
        compute_wbr(cfg, "daily.csv")
    assert str(caught.value) == (
        "daily.csv has 1 unreadable value(s):\ndaily.csv:3: column 'Orders': 'x' is not a number"
    )


def test_cli_json_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(SCENARIOS)
    runner = CliRunner()
    result = runner.invoke(wbr, ["gappy.yaml", "--data", "gappy.csv", "--json"])
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.stdout)
    assert parsed == compute_wbr(load_wbr_config("gappy.yaml"), "gappy.csv")
    assert [m["metric"] for m in parsed] == ["Orders", "Visits", "Conversion"]
    assert set(parsed[0]) == {
        "metric",
        "cy_6_weeks",
        "py_6_weeks",
        "cy_monthly",
        "py_monthly",
        "box_totals",
        "flags",
        "annotations",
    }
    # --week-ending overrides setup.week_ending (25-SEP-2021).
    result = runner.invoke(
        wbr, ["gappy.yaml", "--data", "gappy.csv", "--week-ending", "18-Sep-2021", "--json"]
    )
    assert json.loads(result.stdout)[1]["cy_6_weeks"] == [700, 700, 700, 700, 700, 600]
    text = runner.invoke(wbr, ["gappy.yaml", "--data", "gappy.csv"]).stdout.splitlines()
    headers = re.split(r"  +", text[0].strip())
    assert len(set(headers)) == len(headers)  # each column names its comparison
    assert text[:6] == [
        "metric      last wk     WoW  last wk YoY    MTD  MTD YoY    QTD  QTD YoY    YTD  YTD YoY",
        "----------  -------  ------  -----------  -----  -------  -----  -------  -----  -------",
        "Orders           35  +16.7%           0%      0       0%      0       0%      0       0%",
        "Visits          700  +16.7%           0%  2,400       0%  5,500       0%  5,500       0%",
        "Conversion     0.05   0 bps          n/a      0      n/a      0      n/a      0      n/a",
        "Orders: month in progress: 2021-09 runs only to 2021-09-25 (MTD covers 25 of 30 days); "
        "the trailing twelve months stop at 2021-08",
    ]
    for args, message in (
        (
            ["gappy.yaml", "--data", "gappy.csv", "--week-ending", "2021-09-25"],
            "Error: --week-ending: '2021-09-25' is not a date like 25-SEP-2021 (DD-MON-YYYY)\n",
        ),
        (
            ["gappy.yaml", "--data", "nowhere.csv"],
            "Error: nowhere.csv: no such file; pass the daily CSV with --data\n",
        ),
        (
            ["missing.yaml", "--data", "gappy.csv"],
            "Error: missing.yaml: no such file; pass the wbr-app YAML config\n",
        ),
    ):
        result = runner.invoke(wbr, args)
        assert (result.exit_code, result.stdout, result.stderr) == (1, "", message)


def test_annotations_are_given_to_their_metric_within_its_charted_span(tmp_path: Path) -> None:
    """wbr-app's annotations (issue 33): each metric gets the events of its charted span (Sep
    2020, its first trailing month, to the week ending), in the JSON and under the text table;
    the other metric's, one before the span and one after the week ending are not its."""
    (tmp_path / "events.csv").write_text(
        "Date,MetricName,EventDescription\n"
        "2021-09-20,PageViews,Price <b>rise</b>\n"
        "2020-08-31,PageViews,Before the span\n"
        "2020-09-01,PageViews,First day of the span\n"
        "2021-09-26,PageViews,After the week ending\n"
        "2021-09-01,Clicks,Campaign\n",
        encoding="utf-8",
    )
    cfg = config(
        tmp_path,
        """
        setup: {week_ending: 25-SEP-2021}
        annotations: [events.csv]
        metrics:
          PageViews: {column: views, aggf: sum}
          Clicks: {column: clicks, aggf: sum}
        """,
    )
    data = daily("2020-01-01", "2021-09-25", views=lambda d: 10.0, clicks=lambda d: 1.0)
    results = run(cfg, data)
    assert results["PageViews"]["annotations"] == [
        {"date": "2020-09-01", "description": "First day of the span"},
        {"date": "2021-09-20", "description": "Price <b>rise</b>"},
    ]
    assert results["Clicks"]["annotations"] == [{"date": "2021-09-01", "description": "Campaign"}]
    csv = tmp_path / "daily.csv"
    data.assign(Date=data["Date"].dt.strftime("%Y-%m-%d")).to_csv(csv, index=False)
    shown = CliRunner().invoke(wbr, [str(tmp_path / "wbr.yaml"), "--data", str(csv)])
    assert shown.exit_code == 0, shown.output
    assert "PageViews: noteworthy event 2021-09-20: Price <b>rise</b>" in shown.output
    plain = config(
        tmp_path,
        """
        setup: {week_ending: 25-SEP-2021}
        metrics:
          PageViews: {column: views, aggf: sum}
        """,
    )
    assert run(plain, data)["PageViews"]["annotations"] == []


@pytest.mark.parametrize(
    ("annotations", "rows", "message"),
    [
        ("[https://example.com/events.csv]", "", "is a URL; reviewkit reads nothing over"),
        ("[missing.csv]", "", "missing.csv: no such file"),
        ("[events.csv]", "2021-09-31,PageViews,x\n", "events.csv:2: Date '2021-09-31' is not"),
        ("[events.csv]", "2021-09-20,PageView,x\n", "MetricName 'PageView' is not a metric"),
        ("events.csv", "2021-09-20,PageViews,x\n", None),
    ],
)
def test_annotation_mistakes_name_the_file_and_line(
    tmp_path: Path, annotations: str, rows: str, message: str | None
) -> None:
    (tmp_path / "events.csv").write_text(
        "Date,MetricName,EventDescription\n" + rows, encoding="utf-8"
    )
    text = f"""
        setup: {{week_ending: 25-SEP-2021}}
        annotations: {annotations}
        metrics:
          PageViews: {{column: views, aggf: sum}}
        """
    if message is None:
        assert len(config(tmp_path, text).annotations) == 1
        return
    with pytest.raises(ConfigError) as caught:
        config(tmp_path, text)
    assert message in str(caught.value)
    (tmp_path / "events.csv").write_text("Date,Metric,Text\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no column MetricName, EventDescription"):
        config(tmp_path, text.replace(annotations, "[events.csv]"))
