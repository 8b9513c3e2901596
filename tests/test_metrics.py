"""KPIs from a small project whose every number can be checked by hand."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import reviewkit.sources.cache
from reviewkit import QueryError, check_project, open_project
from reviewkit.config import Metric
from reviewkit.metrics.catalogue import (
    difference_text,
    format_change,
    format_value,
    within_rounding,
)
from tests.conftest import SHOP_CONFIG, SHOP_ORDERS
from tests.support.postgres import copy_to_postgres, warehouse_config


@pytest.fixture(params=["files", pytest.param("postgres", marks=pytest.mark.postgres)])
def shop(request: pytest.FixtureRequest, shop_dir: Path):
    """The shop read from its CSV (DuckDB), and from a PostgreSQL table of the same rows (the
    catalogue compiled to PostgreSQL's SQL): every hand-checked number holds in both."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres").new_database()
        with open_project(shop_dir) as files:
            copy_to_postgres(files, url)
        config = shop_dir / "reviewkit.yaml"
        config.write_text(warehouse_config(config.read_text(encoding="utf-8"), url), "utf-8")
    with open_project(shop_dir) as project:
        yield project


def values(frame, *keys: str) -> dict:
    return {tuple(row[k] for k in keys): row["value"] for row in frame.to_dict("records")}


def test_every_aggregation_by_month(shop) -> None:
    frame = shop.kpis(grain="month")
    got = values(frame, "metric", "period")
    expected = {
        "revenue": (450, 300),
        "items": (6, 6),
        "orders": (4, 3),
        "web_orders": (3, 2),
        "avg_amount": (112.5, 100),
        "biggest": (300, 200),
        "smallest": (0, 40),
        "teams": (2, 2),
        "opening_stock": (30, 5),  # both rows of Jan 3; the single row of Feb 1
        "closing_stock": (7, 13),  # the row of Jan 31; both rows of Feb 15
        "big_orders": (2, 1),
        "price_per_item": (450 / 6, 300 / 6),
        "web_share": (0.75, 2 / 3),
        "other_orders": (1, 1),
        "all_counts": (9, 6),
        "revenue_x2": (900, 450),
        "order_value": (450 / 4, 100),
    }
    for metric, (jan, feb) in expected.items():
        assert got[(metric, "2026-01")] == pytest.approx(jan), metric
        assert got[(metric, "2026-02")] == pytest.approx(feb), metric
    first = frame.iloc[0]
    assert (first["period_start"], first["period_end"]) == (
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 31),
    )


def test_ratios_are_ratios_of_totals_not_averages_of_ratios(shop) -> None:
    by_team = values(shop.kpi("order_value", by="team", grain="quarter"), "team")
    total = shop.kpi("order_value", grain="quarter")["value"].item()
    assert by_team[("a",)] == pytest.approx(460 / 4)
    assert by_team[("b",)] == pytest.approx(290 / 3)
    assert total == pytest.approx(750 / 7)
    assert total != pytest.approx((by_team[("a",)] + by_team[("b",)]) / 2)


def test_group_by_and_filters_are_applied_before_aggregating(shop) -> None:
    got = values(shop.kpi("revenue", by=["team"], filters={"channel": "web"}), "period", "team")
    assert got == {
        ("2026-01", "a"): 100,
        ("2026-01", "b"): 50,
        ("2026-02", "a"): 60,
        ("2026-02", "b"): 40,
    }
    got = values(shop.kpi("orders", filters={"team": ["a", "b"], "channel": ["shop"]}), "period")
    assert got == {("2026-01",): 1, ("2026-02",): 1}


def test_a_filtered_count_is_zero_not_missing_where_the_source_has_rows(shop) -> None:
    got = values(shop.kpi("web_orders", by="channel"), "period", "channel")
    assert got[("2026-01", "shop")] == 0


def test_daily_mean_averages_the_daily_totals_over_the_days_with_rows(
    shop_dir: Path,
) -> None:
    config = shop_dir / "reviewkit.yaml"
    config.write_text(
        SHOP_CONFIG
        + "  daily_stock: {source: orders, agg: daily_mean, column: stock}\n"
        + "  web_stock: {source: orders, agg: daily_mean, column: stock, filters: {channel: web}}\n"
    )
    with open_project(shop_dir) as shop:
        frame = shop.kpis(["daily_stock", "web_stock"])
        # Jan: 10 + 20 on the 3rd, 12 on the 5th, 7 on the 31st; Feb: 5 on the 1st, 9 + 4 on the 15th
        assert values(frame, "metric", "period") == {
            ("daily_stock", "2026-01"): pytest.approx(49 / 3),  # not the mean row, 12.25
            ("daily_stock", "2026-02"): pytest.approx(9),
            ("web_stock", "2026-01"): pytest.approx(37 / 3),  # the 5th sold in the shop: 0
            ("web_stock", "2026-02"): pytest.approx(13 / 2),
        }
        assert values(shop.kpi("daily_stock", by="team"), "period", "team") == {
            ("2026-01", "a"): pytest.approx(29 / 3),
            ("2026-01", "b"): pytest.approx(20),
            ("2026-02", "a"): pytest.approx(9),
            ("2026-02", "b"): pytest.approx(4.5),
        }
        assert shop.kpi("daily_stock", grain="quarter")["value"].item() == pytest.approx(67 / 5)


def test_zero_denominator_is_nan_not_infinity(shop) -> None:
    jan31 = shop.kpi("price_per_item", grain="day", start="2026-01-31", end="2026-01-31")
    assert math.isnan(jan31["value"].item())


@pytest.mark.parametrize(
    ("grain", "expected"),
    [
        (
            "day",
            {"2026-01-03": 2, "2026-01-05": 1, "2026-01-31": 1, "2026-02-01": 1, "2026-02-15": 2},
        ),
        # weeks end on Sunday: Jan 3 (Sat) is in the week ending Jan 4; Feb 1 is a Sunday
        ("week", {"2026-W01": 2, "2026-W02": 1, "2026-W05": 2, "2026-W07": 2}),
        ("quarter", {"2026-Q1": 7}),
        ("year", {"2026": 7}),
    ],
)
def test_grains(shop, grain: str, expected: dict[str, int]) -> None:
    got = {k[0]: v for k, v in values(shop.kpi("orders", grain=grain), "period").items()}
    assert got == expected


def test_week_periods_follow_the_configured_week_end(shop) -> None:
    frame = shop.kpi("orders", grain="week")
    first = frame.iloc[0]
    assert (first["period_start"], first["period_end"]) == (
        dt.date(2025, 12, 29),
        dt.date(2026, 1, 4),
    )


def test_date_range_is_inclusive(shop) -> None:
    got = values(shop.kpi("orders", grain="day", start="2026-01-05", end="2026-02-01"), "period")
    assert got == {("2026-01-05",): 1, ("2026-01-31",): 1, ("2026-02-01",): 1}


def test_user_values_are_bound_parameters_never_sql(shop) -> None:
    hostile = "a' OR '1'='1"
    assert shop.kpi("orders", filters={"team": hostile}).empty
    assert shop.sql("SELECT count(*) AS n FROM orders WHERE team = ?", [hostile])["n"].item() == 0
    assert shop.sql("SELECT count(*) AS n FROM orders WHERE team = $t", {"t": "a"})["n"].item() == 4


def test_unknown_metric_dimension_and_grain_are_named(shop) -> None:
    with pytest.raises(QueryError, match=r"unknown metric\(s\): nope; the catalogue has: revenue"):
        shop.kpi("nope")
    with pytest.raises(
        QueryError,
        match=r"cannot group by 'region': it is not a dimension of source 'orders' \(its "
        r"dimensions are: team, channel\)",
    ):
        shop.kpi("orders", by="region")
    with pytest.raises(QueryError, match=r"unknown grain 'fortnight'; use one of: day, week"):
        shop.kpi("orders", grain="fortnight")
    with pytest.raises(
        QueryError, match=r"start date '2026-13-01' is not a date; write YYYY-MM-DD"
    ):
        shop.kpi("orders", start="2026-13-01")


def test_sql_errors_are_query_errors(shop) -> None:
    with pytest.raises(QueryError, match=r"SQL failed: .*nope"):
        shop.sql("SELECT nope FROM orders")


def test_arrow_output_carries_the_same_values(shop) -> None:
    table = shop.kpi_arrow("revenue", by="team")
    assert table.column_names == ["period_start", "period_end", "period", "team", "value"]
    assert table.column("value").to_pylist() == [400.0, 50.0, 60.0, 240.0]


def test_a_query_asked_again_is_read_back_and_a_changed_export_is_asked_anew(
    shop_dir: Path,
) -> None:
    """Results are kept under .reviewkit/cache/results: the same query in a later process reads
    them back (doctoring the kept file shows it is read, not recomputed); a changed export
    changes the key, so a kept result is never stale."""
    with open_project(shop_dir) as first:
        computed = first.kpis(["revenue", "price_per_item"], grain="month", by="team")
    kept = sorted((shop_dir / ".reviewkit" / "cache" / "results").glob("*.parquet"))
    assert len(kept) == 1
    with open_project(shop_dir) as second:
        pd.testing.assert_frame_equal(
            second.kpis(["revenue", "price_per_item"], grain="month", by="team"), computed
        )
    (result,) = kept
    doctored = result.with_name("doctored.parquet")
    duckdb.execute(
        f"COPY (SELECT * REPLACE (revenue * 10 AS revenue) FROM read_parquet('{result}')) "
        f"TO '{doctored}' (FORMAT parquet)"
    )
    doctored.replace(result)
    with open_project(shop_dir) as third:
        frame = third.kpis(["revenue", "price_per_item"], grain="month", by="team")
    assert values(frame, "metric", "period", "team")[("revenue", "2026-01", "a")] == 4000

    orders = shop_dir / "data" / "orders.csv"
    orders.write_text(SHOP_ORDERS + "2026-01-20,a,web,1,1,1\n", encoding="utf-8")
    with open_project(shop_dir) as fourth:
        frame = fourth.kpis(["revenue", "price_per_item"], grain="month", by="team")
    assert values(frame, "metric", "period", "team")[("revenue", "2026-01", "a")] == 401


def test_an_expression_metric_is_run_every_time_and_an_unwritable_cache_still_answers(
    shop_dir: Path,
) -> None:
    """A user's SQL expression may read the clock or another source, which the key cannot
    cover: its query is never kept. A results folder that cannot be written (here a file in its
    place) costs the keeping, never the answer."""
    with open_project(shop_dir) as project:
        project.kpis(["big_orders"], grain="month")
        assert not project.workspace.results.directory.exists()
        project.workspace.results.directory.parent.mkdir(parents=True, exist_ok=True)
        project.workspace.results.directory.write_text("not a folder", encoding="utf-8")
        frame = project.kpis(["revenue"], grain="month")
    assert values(frame, "period")[("2026-01",)] == 450


def test_a_result_duckdb_cannot_write_still_answers_and_leaves_nothing(
    shop_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's own write failing (as on a full disk: an IOException, not an OSError) costs the
    keeping, never the answer: here its temporary file is in a folder that does not exist."""
    replacing = reviewkit.sources.cache.replacing

    @contextlib.contextmanager
    def nowhere(target: Path):
        if target.parent.name != "results":  # the exports' cache is written as ever
            with replacing(target) as tmp:
                yield tmp
        else:
            yield target.parent / "missing" / target.name

    monkeypatch.setattr(reviewkit.sources.cache, "replacing", nowhere)
    with open_project(shop_dir) as project:
        frame = project.kpis(["revenue"], grain="month")
        assert list(project.workspace.results.directory.iterdir()) == []
    assert values(frame, "period")[("2026-01",)] == 450


def test_kept_results_are_pruned_to_the_newest(shop_dir: Path) -> None:
    with open_project(shop_dir) as project:
        project.workspace.results.keep = 3
        for metric in ("revenue", "items", "orders", "biggest", "smallest"):
            project.kpis([metric], grain="month")
        kept = list(project.workspace.results.directory.glob("*.parquet"))
        assert len(kept) == 3
        project.kpis(["smallest"], grain="month")  # the newest: read back, not pruned
        assert sorted(project.workspace.results.directory.glob("*.parquet")) == sorted(kept)


def test_latest_is_the_last_complete_period(shop) -> None:
    # data runs through 2026-02-15: February is in progress, so the latest complete month is January
    assert shop.data_through() == dt.date(2026, 2, 15)
    assert shop.period("latest").label == "2026-01"
    assert shop.period("latest", grain="week").label == "2026-W07"
    assert shop.period("latest", grain="day").label == "2026-02-15"


@pytest.mark.parametrize(
    ("fmt", "value", "text"),
    [
        ("number", 1234.5, "1,234 h"),
        ("number", 4.25, "4.25 h"),
        ("percent", 0.1234, "12.3%"),
        ("currency", -48200.4, "-$48,200"),
        ("bps", 0.0035, "35 bps"),
        ("number", float("nan"), "n/a"),
    ],
)
def test_format_value(fmt: str, value: float, text: str) -> None:
    metric = Metric(name="m", label="M", format=fmt, unit="h" if fmt == "number" else "")
    assert format_value(metric, value) == text


@pytest.mark.parametrize(
    ("fmt", "decimals", "difference", "text"),
    [
        ("percent", None, 0.45 - 0.40, "+5.0 pp"),
        ("percent", None, 0.4654 - 0.4650, "+0.04 pp"),  # was "+0.0 pp"
        ("percent", None, -0.0004, "-0.04 pp"),
        ("percent", 2, 0.00004, "+0.004 pp"),
        ("percent", None, 1e-12, "+<0.0001 pp"),
        ("percent", None, 0.0, "0 pp"),
        ("bps", None, 0.00004, "+0.4 bps"),
        ("score", None, 18.3 - 2.1, "+16.2 points"),
        ("score", 0, 1.0, "+1 point"),
        ("score", 0, -0.3, "-0.3 points"),
        ("number", 1, -1.54, "-1.5 h"),
        ("count", None, 12.5, "+12.5"),  # a number without a unit: no "points"
        ("currency", None, 1234.4, "+$1,234"),
        ("currency", None, 0.4, "+$0.4"),
        ("currency", None, -0.0, "$0"),
    ],
)
def test_a_difference_is_in_the_values_own_unit_and_never_rounds_to_zero(
    fmt: str, decimals: int | None, difference: float, text: str
) -> None:
    unit = "h" if fmt == "number" else ""
    fmt = "number" if fmt == "count" else fmt
    metric = Metric(name="m", label="M", format=fmt, unit=unit, decimals=decimals)
    assert difference_text(metric, difference, signed=True) == text
    assert difference_text(metric, difference) == text.lstrip("+")


@pytest.mark.parametrize(
    ("fmt", "decimals", "unit", "change", "nothing"),
    [
        ("percent", None, "pp", 0.04, True),  # "+0.04 pp": nothing at 0.1 pp
        ("percent", None, "pp", -0.04, True),
        ("percent", None, "pp", 0.06, False),  # "+0.1 pp"
        ("percent", 2, "pp", 0.004, True),
        ("percent", 2, "pp", 0.04, False),
        ("score", 0, "points", 0.3, True),
        ("score", 0, "points", -1.0, False),
        ("currency", None, "points", 0.4, True),  # "+$0.4" of dollars written whole
        ("currency", None, "points", 1234.4, False),
        ("number", None, "percent", 0.04, True),  # a count's change in percent, to 0.1%
        ("number", None, "percent", -0.2, False),
        ("bps", None, "bps", 0.4, True),
    ],
)
def test_a_change_within_rounding_is_nothing_at_its_metrics_decimals(
    fmt: str, decimals: int | None, unit: str, change: float, nothing: bool
) -> None:
    """Neither better nor worse on the scorecard (issue 30): a change that would read 0 at the
    decimals its metric's changes are written with."""
    metric = Metric(name="m", label="M", format=fmt, decimals=decimals)
    assert within_rounding(metric, change, unit) is nothing


@pytest.mark.parametrize(
    ("value", "suffix", "decimals", "text"),
    [
        (9.6, "%", 1, "+9.6%"),
        (0.0417, " pp", 1, "+0.04 pp"),  # was "+0.0 pp"
        (-0.04, "%", 1, "-0.04%"),
        (0.96, "%", 1, "+1.0%"),
        (0.0, "%", 1, "0%"),
        (-0.0, " pp", 1, "0 pp"),
        (1e-9, " pp", 1, "+<0.0001 pp"),
        (-1e-9, " bps", 0, "-<0.001 bps"),
        (0.4, " bps", 0, "+0.4 bps"),
        (float("nan"), "%", 1, "n/a"),
    ],
)
def test_a_change_reads_as_zero_only_when_it_is_zero(
    value: float, suffix: str, decimals: int, text: str
) -> None:
    assert format_change(value, suffix, decimals) == text


def test_check_names_a_bad_expression_with_its_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text(SHOP_ORDERS, encoding="utf-8")
    config = textwrap.dedent("""\
        sources:
          orders:
            path: data/orders.csv
            date: {column: day, format: "%Y-%m-%d"}
            dimensions: [team]
            values: {amount: number}
        metrics:
          bad: {source: orders, expression: "sum(amont)"}
          rowwise: {source: orders, expression: "amount * 2"}
          ghost: {source: orders, agg: count_distinct, column: customer}
        """)
    (tmp_path / "reviewkit.yaml").write_text(config, encoding="utf-8")
    found = [str(p) for p in check_project(tmp_path)]
    assert len(found) == 3
    assert found[0].startswith(
        "reviewkit.yaml:8:25: metrics.bad.expression: metrics bad of source 'orders' failed in "
        'DuckDB: Binder Error: Referenced column "amont" not found'
    )
    assert found[1].startswith("reviewkit.yaml:9:29: metrics.rowwise.expression: metrics rowwise")
    assert "GROUP BY" in found[1]
    assert found[2] == (
        "reviewkit.yaml:10:48: metrics.ghost.column: source 'orders' has no column 'customer'; "
        "its columns are: day, team, channel, amount, items, stock"
    )


def usage_project(root: Path, series: str, agg: str) -> Path:
    """Daily active users of one team, 2026-01-01 to 2026-03-31: ``weekly`` drops from ~1,000
    on weekdays to ~300 at weekends (the weekday explains 99% of the day-to-day variation),
    ``cycling`` grows with an 11-day wiggle and no weekday pattern (0.7%)."""
    (root / "data").mkdir()
    lines = ["day,team,users"]
    for i in range(90):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=i)
        if series == "weekly":
            users = 300 + i if day.weekday() >= 5 else 1000 + 4 * i
        else:
            users = 1000 + 4 * i + 25 * (i * 37 % 11 - 5)
        lines.append(f"{day},a,{users}")
    (root / "data" / "usage.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = textwrap.dedent(f"""\
        sources:
          usage:
            path: data/usage.csv
            date: {{column: day, format: "%Y-%m-%d"}}
            dimensions: [team]
            values: {{users: integer}}
        metrics:
          closing_users:
            source: usage
            agg: {agg}
            column: users
          opening_users: {{source: usage, agg: first, column: users}}
        """)
    (root / "reviewkit.yaml").write_text(config, encoding="utf-8")
    return root


def test_check_warns_when_a_first_or_last_day_level_compares_weekdays(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    problems = check_project(usage_project(tmp_path, "weekly", "last"))
    assert {p.severity for p in problems} == {"warning"}
    advice = (
        "a weekday effect, not a change; use `agg: daily_mean` (the average of the daily totals), "
        "or review it by week (`--grain week`), whose {} days share a weekday"
    )
    assert [str(p) for p in problems] == [
        "reviewkit.yaml:10:5: warning: metrics.closing_users.agg: daily values of 'users' vary by "
        "weekday (the weekday explains 99% of their day-to-day variation), so `agg: last` "
        "compares 2026-03-31 (Tuesday) with 2026-02-28 (Saturday) in 2026-03's MoM: "
        + advice.format("last"),
        # March and February start on a Sunday, so the example is February's MoM
        "reviewkit.yaml:12:34: warning: metrics.opening_users.agg: daily values of 'users' vary "
        "by weekday (the weekday explains 99% of their day-to-day variation), so `agg: first` "
        "compares 2026-02-01 (Sunday) with 2026-01-01 (Thursday) in 2026-02's MoM: "
        + advice.format("first"),
    ]


@pytest.mark.parametrize(
    ("series", "agg"),
    [("cycling", "last"), ("weekly", "daily_mean"), ("weekly", "mean"), ("weekly", "sum")],
)
def test_check_is_quiet_about_levels_without_a_weekly_pattern_or_over_every_day(
    tmp_path: Path, monkeypatch, series: str, agg: str
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "reviewkit.yaml"
    usage_project(tmp_path, series, agg)
    # the `first` metric stays only where the series has no weekly pattern
    if series == "weekly":
        config.write_text(config.read_text().replace("agg: first", f"agg: {agg}"))
    assert check_project(tmp_path) == []


def test_check_needs_eight_weeks_to_call_a_series_weekly(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    usage_project(tmp_path, "weekly", "last")
    data = tmp_path / "data" / "usage.csv"
    data.write_text("".join(data.read_text().splitlines(keepends=True)[:62]))  # 61 days
    assert check_project(tmp_path) == []
