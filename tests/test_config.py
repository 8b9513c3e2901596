"""reviewkit.yaml validation: every error class, with its exact file, line, column and key."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reviewkit.base.errors import ConfigError
from reviewkit.config import load_config

VALID_SOURCE = """\
sources:
  tickets:
    path: data/t.csv
    date: {column: day, format: "%Y-%m-%d"}
    dimensions: [team, channel]
    values: {csat: integer, hours: number}
"""


def problems(write_config, text: str) -> list[str]:
    root = write_config(textwrap.dedent(text))
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    return [str(p) for p in caught.value.problems]


def test_a_valid_config_loads_with_defaults(write_config) -> None:
    root = write_config(
        VALID_SOURCE
        + textwrap.dedent("""\
        metrics:
          csat: {source: tickets, agg: mean, column: csat, format: number, decimals: 2}
          tickets: {source: tickets, agg: count, filters: {channel: [email, chat]}}
          per_ticket: {ratio: [csat, tickets], scale: 100}
        """)
    )
    config = load_config(root)
    assert config.name == root.name
    assert config.calendar.week_ends_on == "sunday"
    assert config.calendar.fiscal_year_start_month == 1
    source = config.sources["tickets"]
    assert source.format == "csv"
    assert source.delimiter == ","
    assert source.value_types == {"csat": "integer", "hours": "number"}
    assert config.metrics["tickets"].filters == (("channel", ("email", "chat")),)
    assert config.metrics["per_ticket"].inputs == ("csat", "tickets")
    assert config.metrics["per_ticket"].scale == 100.0


def test_format_is_inferred_from_the_extension_and_tsv_gets_a_tab(write_config) -> None:
    root = write_config(VALID_SOURCE.replace("data/t.csv", "data/t.tsv") + "metrics: {}\n")
    source = load_config(root).sources["tickets"]
    assert (source.format, source.delimiter) == ("tsv", "\t")


def test_missing_file_says_how_to_create_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"reviewkit.yaml: no such file; create it"):
        load_config(tmp_path)


def test_yaml_syntax_error_has_line_and_column(write_config) -> None:
    assert problems(write_config, "sources:\n  a: [1, 2\nmetrics: {}\n") == [
        "reviewkit.yaml:3:8: YAML syntax error: expected ',' or ']', but got ':'; check the "
        "brackets, quotes and indentation"
    ]


def test_duplicate_keys_are_errors_not_silently_the_last(write_config) -> None:
    text = (
        VALID_SOURCE
        + "metrics:\n  a: {source: tickets, agg: count}\n  a: {source: tickets, agg: count}\n"
    )
    assert problems(write_config, text) == [
        "reviewkit.yaml:9:3: metrics.a: duplicate key (first defined on line 8); keep one of them"
    ]


def test_top_level_must_have_sources_and_metrics(write_config) -> None:
    assert problems(write_config, "name: x\n") == [
        "reviewkit.yaml:1:1: missing required key 'sources'",
        "reviewkit.yaml:1:1: missing required key 'metrics'",
    ]


def test_unknown_keys_list_the_valid_ones_and_suggest(write_config) -> None:
    text = VALID_SOURCE.replace("    path:", "    fromat: csv\n    path:") + "metrcs: {}\n"
    assert problems(write_config, text) == [
        "reviewkit.yaml:1:1: missing required key 'metrics'",
        "reviewkit.yaml:3:5: sources.tickets.fromat: unknown key (did you mean 'format'?); "
        "valid keys are: path, format, engine, table, query, date, lifecycle, dimensions, "
        "values, shape, long, options, on_error, unique, future_dates, description",
        "reviewkit.yaml:8:1: metrcs: unknown key (did you mean 'metrics'?); valid keys are: "
        "name, calendar, sources, metrics, targets, status, outputs, outcomes, include, store, "
        "user, schedule, live_url, delivery, alerts",
    ]


SOURCE_KEYS_LISTED = (
    "valid keys are: path, format, engine, table, query, date, lifecycle, dimensions, values, "
    "shape, long, options, on_error, unique, future_dates, description"
)
OUTCOME_KEYS_LISTED = (
    "valid keys are: id, title, description, owner, team, kpi, baseline, target, lag_days, "
    "parent, impact_grain, explain_by"
)


def test_a_key_at_the_wrong_level_says_where_it_belongs(write_config) -> None:
    text = """\
    sources:
      orders:
        path: data/o.csv
        date: {column: day, format: "%Y-%m-%d"}
        gaps: ignore
        agg: sum
        options: {format: "%d/%m/%Y", on_error: quarantine}
      visits:
        path: data/v.csv
        date: day
        gaps: ignore
        format: "%d/%m/%Y"
    metrics:
      visits: {source: visits, agg: count, path: data/v.csv, by: 2026-12-31}
    outcomes:
      - id: more-visits
        title: More visits
        kpi: {metric: visits}
        filters: {channel: web}
        value: 100
    """
    assert problems(write_config, text) == [
        "reviewkit.yaml:5:5: sources.orders.gaps: unknown key here; `gaps` belongs under "
        f"`date:` (sources: orders: date: gaps:); {SOURCE_KEYS_LISTED}",
        "reviewkit.yaml:6:5: sources.orders.agg: unknown key here; `agg` belongs under a metric "
        f"(metrics: METRIC: agg:); {SOURCE_KEYS_LISTED}",
        "reviewkit.yaml:7:15: sources.orders.options.format: unknown key here; `format` belongs "
        "under `date:` (sources: orders: date: format:); valid keys are: delimiter, encoding, "
        "thousands, decimal, quote",
        "reviewkit.yaml:7:35: sources.orders.options.on_error: unknown key here; `on_error` "
        "belongs directly under the source (sources: orders: on_error:); valid keys are: "
        "delimiter, encoding, thousands, decimal, quote",
        "reviewkit.yaml:11:5: sources.visits.gaps: unknown key here; `gaps` belongs under "
        f"`date:` (sources: visits: date: {{column: day, gaps: ignore}}); {SOURCE_KEYS_LISTED}",
        "reviewkit.yaml:12:5: sources.visits.format: '%d/%m/%Y' is a date format, not a file "
        "format (csv, tsv, parquet, xlsx, json, ndjson); it belongs under `date:` (sources: "
        'visits: date: {column: day, format: "%d/%m/%Y"})',
        "reviewkit.yaml:14:40: metrics.visits.path: unknown key here; `path` belongs under a "
        "source (sources: SOURCE: path:); valid keys are: label, description, source, agg, "
        "column, expression, filters, format, unit, currency, decimals, direction, change, "
        "scale, rollup, at, expansion, threshold, min_responses, comments, sum, difference, product, ratio",
        "reviewkit.yaml:14:58: metrics.visits.by: unknown key here; `by` belongs under an "
        "outcome's `target:` (outcomes: - target: by:); valid keys are: label, description, "
        "source, agg, column, expression, filters, format, unit, currency, decimals, direction, "
        "change, scale, rollup, at, expansion, threshold, min_responses, comments, sum, difference, product, ratio",
        "reviewkit.yaml:19:5: outcomes.0.filters: unknown key here; `filters` belongs under "
        f"`kpi:` (outcomes: - kpi: filters:); {OUTCOME_KEYS_LISTED}",
        "reviewkit.yaml:20:5: outcomes.0.value: unknown key here; `value` belongs under "
        "`baseline:` (outcomes: - baseline: value:) or under `target:` (outcomes: - target: "
        f"value:); {OUTCOME_KEYS_LISTED}",
    ]


def test_wrong_types_and_values(write_config) -> None:
    text = """\
    calendar:
      week_ends_on: sundy
      fiscal_year_start_month: 13
    sources:
      tickets:
        path: [data/t.csv]
        date: {column: day, format: "YYYY-MM-DD"}
        dimensions: team
        values: {csat: integr}
        on_error: ignore
    metrics:
      a: {source: tickets, agg: count, decimals: many, direction: up, label: 5}
    """
    assert problems(write_config, text) == [
        "reviewkit.yaml:2:3: calendar.week_ends_on: 'sundy' is not one of: monday, tuesday, "
        "wednesday, thursday, friday, saturday, sunday (did you mean 'sunday'?)",
        "reviewkit.yaml:3:3: calendar.fiscal_year_start_month: expected a whole number from 1 "
        "to 12, got 13",
        "reviewkit.yaml:6:5: sources.tickets.path: expected text, got a list",
        "reviewkit.yaml:7:25: sources.tickets.date.format: 'YYYY-MM-DD' has no % directives; "
        "write a strptime format such as '%Y-%m-%d' or '%a, %d-%b-%Y'",
        "reviewkit.yaml:9:14: sources.tickets.values.csat: 'integr' is not one of: integer, "
        "number (did you mean 'integer'?)",
        "reviewkit.yaml:10:5: sources.tickets.on_error: 'ignore' is not one of: fail, quarantine",
        "reviewkit.yaml:12:36: metrics.a.decimals: expected a whole number from 0 to 6, got 'many'",
        "reviewkit.yaml:12:52: metrics.a.direction: 'up' is not one of: higher, lower",
        "reviewkit.yaml:12:67: metrics.a.label: expected text, got int 5",
    ]


def test_source_options_are_checked_per_format(write_config) -> None:
    text = """\
    sources:
      a:
        path: data/a.csv
        date: day
        options: {delimeter: ";", encoding: ebcdic, thousands: ".", decimal: ".", sheet: x}
      b:
        path: data/b.parquet
        date: day
        options: {delimiter: ","}
      c:
        path: data/c.txt
        date: day
        shape: long
    metrics: {}
    """
    assert problems(write_config, text) == [
        "reviewkit.yaml:5:15: sources.a.options.delimeter: unknown key (did you mean "
        "'delimiter'?); valid keys are: delimiter, encoding, thousands, decimal, quote",
        "reviewkit.yaml:5:31: sources.a.options.encoding: unsupported encoding 'ebcdic'; use "
        "utf-8 (with or without BOM), latin-1 or utf-16",
        "reviewkit.yaml:5:49: sources.a.options.thousands: the thousands and decimal "
        "separators must differ",
        "reviewkit.yaml:5:79: sources.a.options.sheet: unknown key; valid keys are: delimiter, "
        "encoding, thousands, decimal, quote",
        "reviewkit.yaml:9:15: sources.b.options.delimiter: unknown key; valid keys are: "
        "(none here)",
        "reviewkit.yaml:11:5: sources.c.path: cannot tell the format from '.txt'; add "
        "`format:` (csv, tsv, parquet, xlsx, json, ndjson)",
        "reviewkit.yaml:13:5: sources.c.shape: `shape: long` needs `long: {key: COLUMN, value: "
        "COLUMN}`: the column naming each value and the column holding it",
    ]


def test_names_and_columns_declared_twice(write_config) -> None:
    text = """\
    sources:
      Tickets-2:
        path: data/a.csv
        date: day
      a:
        path: data/a.csv
        date: day
        dimensions: [team, day]
    metrics: {}
    """
    assert problems(write_config, text) == [
        "reviewkit.yaml:2:3: sources.Tickets-2: source name 'Tickets-2' must be lowercase "
        "letters, digits and _, starting with a letter",
        "reviewkit.yaml:8:5: sources.a.dimensions: column 'day' is declared twice (also under "
        "date)",
    ]


def test_missing_references_are_named_with_suggestions(write_config) -> None:
    text = VALID_SOURCE + textwrap.dedent("""\
    metrics:
      a: {source: tikets, agg: count}
      b: {source: tickets, agg: sum, column: csatt}
      c: {source: tickets, agg: count, filters: {region: eu}}
      d: {ratio: [b, zzz]}
      e: {source: tickets, agg: mean}
      f: {source: tickets, agg: count, ratio: [a, b]}
      g: {sum: [a]}
    """)
    assert problems(write_config, text) == [
        "reviewkit.yaml:8:7: metrics.a.source: unknown source 'tikets' (did you mean "
        "'tickets'?); declared sources: tickets",
        "reviewkit.yaml:9:34: metrics.b.column: 'csatt' is not a value column of source "
        "'tickets' (did you mean 'csat'?); its values are: csat, hours (declare it under "
        "sources.tickets.values)",
        "reviewkit.yaml:10:46: metrics.c.filters.region: 'region' is not a dimension of source "
        "'tickets'; its dimensions are: team, channel",
        "reviewkit.yaml:11:18: metrics.d.ratio.1: unknown metric 'zzz'",
        "reviewkit.yaml:12:3: metrics.e: missing required key 'column' (agg 'mean' needs a column)",
        "reviewkit.yaml:13:7: metrics.f.source: a derived metric (ratio) is computed from "
        "other metrics; remove `source` or make it a base metric",
        "reviewkit.yaml:13:24: metrics.f.agg: a derived metric (ratio) is computed from other "
        "metrics; remove `agg` or make it a base metric",
        "reviewkit.yaml:14:7: metrics.g.sum: sum needs at least 2 metrics, got 1",
    ]


def test_metric_cycles_are_named(write_config) -> None:
    text = VALID_SOURCE + textwrap.dedent("""\
    metrics:
      base: {source: tickets, agg: count}
      a: {ratio: [b, base]}
      b: {sum: [c, base]}
      c: {difference: [a, base]}
      selfish: {product: [selfish, base]}
    """)
    assert problems(write_config, text) == [
        "reviewkit.yaml:9:3: metrics.a: derived metrics form a cycle: a -> b -> c -> a; break "
        "it by computing one of them from a source",
        "reviewkit.yaml:12:3: metrics.selfish: derived metrics form a cycle: selfish -> "
        "selfish; break it by computing one of them from a source",
    ]


def test_expression_and_agg_are_exclusive(write_config) -> None:
    text = VALID_SOURCE + 'metrics:\n  a: {source: tickets, expression: "count(*)", agg: count}\n'
    assert problems(write_config, text) == [
        "reviewkit.yaml:8:48: metrics.a.agg: use either `expression` or `agg`/`column`, not both"
    ]


def test_error_message_lists_every_problem(write_config) -> None:
    root = write_config("sources: 5\nmetrics: []\n")
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    assert str(caught.value) == (
        "reviewkit.yaml has 2 problem(s):\n"
        "reviewkit.yaml:1:1: sources: expected a mapping of keys, got int 5\n"
        "reviewkit.yaml:2:1: metrics: expected a mapping of keys, got a list"
    )


def test_expression_metrics_put_filters_inside_the_expression(write_config) -> None:
    text = (
        VALID_SOURCE
        + 'metrics:\n  a: {source: tickets, expression: "count(*)", filters: {team: x}}\n'
    )
    assert problems(write_config, text) == [
        "reviewkit.yaml:8:48: metrics.a.filters: an expression takes no `filters`; write the "
        "condition inside it, e.g. count(*) FILTER (WHERE channel = 'chat')"
    ]


def test_a_change_unit_defaults_by_format_and_pp_is_for_fractions(write_config) -> None:
    metrics = """\
    metrics:
      tickets: {source: tickets, agg: count}
      revenue: {source: tickets, agg: sum, column: hours, format: currency}
      rate: {ratio: [tickets, tickets], format: percent}
      spread: {ratio: [tickets, tickets], format: bps}
      nps: {source: tickets, agg: mean, column: csat, format: score}
      hours: {source: tickets, agg: mean, column: hours, unit: h, change: points}
      rate_bps: {ratio: [tickets, tickets], format: percent, change: bps}
      score_pct: {source: tickets, agg: mean, column: csat, format: score, change: percent}
    """
    config = load_config(write_config(VALID_SOURCE + textwrap.dedent(metrics)))
    assert {name: m.change_unit for name, m in config.metrics.items()} == {
        "tickets": "percent",
        "revenue": "percent",
        "rate": "pp",
        "spread": "bps",
        "nps": "points",
        "hours": "points",
        "rate_bps": "bps",
        "score_pct": "percent",
    }
    wrong = """\
    metrics:
      nps: {source: tickets, agg: mean, column: csat, scale: 100, change: pp}
      csat: {source: tickets, agg: mean, column: csat, format: score, change: bps}
    """
    assert problems(write_config, VALID_SOURCE + textwrap.dedent(wrong)) == [
        "reviewkit.yaml:8:63: metrics.nps.change: 'pp' is a difference of fractions (0.45 - "
        "0.40 = 5.0 pp), for a metric shown as a percent or in bps; nps is format: number, so "
        "its changes are `change: percent` or `change: points` (a difference in its own unit)",
        "reviewkit.yaml:9:67: metrics.csat.change: 'bps' is a difference of fractions (0.45 - "
        "0.40 = 500 bps), for a metric shown as a percent or in bps; csat is format: score, so "
        "its changes are `change: percent` or `change: points` (a difference in its own unit)",
    ]


def test_target_errors(write_config) -> None:
    text = VALID_SOURCE + textwrap.dedent("""\
    metrics:
      csat: {source: tickets, agg: mean, column: csat, change: pct}
    status: {on_track: 0.1, at_risk: 0.05}
    targets:
      - metric: csatt
        value: 4
        by: 2026-12-31
      - metric: csat
        value: 4
        by: 2026-01-01
        baseline: {value: 3.5, date: 2026-06-30}
      - metric: csat
        value: 4
      - metric: csat
        value: 4
        series: {2026-10: 4}
      - metric: csat
        series: {2026-13: 4, FY2026: 4.1}
      - metric: csat
        source: tickets
        column: region
      - metric: csat
        filters: {region: eu}
        value: 4
        by: 2026-12-31
    """)
    assert problems(write_config, text) == [
        "reviewkit.yaml:8:52: metrics.csat.change: 'pct' is not one of: percent, points, pp, "
        "bps (did you mean 'percent'?)",
        "reviewkit.yaml:9:25: status.at_risk: at_risk (0.05) must be at least on_track (0.1): "
        "it is the wider tolerance",
        "reviewkit.yaml:11:5: targets.0.metric: unknown metric 'csatt' (did you mean 'csat'?)",
        "reviewkit.yaml:16:5: targets.1.by: the target date 2026-01-01 is not after the baseline "
        "date 2026-06-30; move the target date later or the baseline earlier",
        "reviewkit.yaml:18:5: targets.2: missing required key 'by': the date the value is due",
        "reviewkit.yaml:20:5: targets.3: a target needs exactly one of `value` (with `by`), "
        "`series` or `source` (with `column`); found value, series",
        "reviewkit.yaml:24:14: targets.4.series.2026-13: cannot read period '2026-13'; write "
        "latest, YYYY-MM-DD, YYYY-Www, YYYY-MM, YYYY-Qn, YYYY, FYyyyy-Qn, FYyyyy, this-month or "
        "last-month (also -week, -quarter, -year, -fiscal-quarter, -fiscal-year)",
        "reviewkit.yaml:27:5: targets.5.column: 'region' is not a value column of source "
        "'tickets'; its values are: csat, hours",
        "reviewkit.yaml:29:15: targets.6.filters.region: 'region' is not a dimension of source "
        "tickets, so this target cannot be matched to a segment",
    ]


def test_outcome_and_output_errors(write_config) -> None:
    root = write_config(
        VALID_SOURCE
        + textwrap.dedent("""\
    metrics:
      csat: {source: tickets, agg: mean, column: csat}
    outputs: {source: tickets, id: key, title: subject, team: owner, effort: points}
    include: [more-outcomes.yaml, missing.yaml]
    outcomes:
      - id: happy
        title: Customers are happy
        kpi: {metric: csat, filters: {region: eu}}
      - id: Happy Customers
        title: x
        kpi: csat
      - id: fast
        title: Fast answers
        kpi: csatt
        parent: happy
      - id: loop-a
        title: a
        kpi: csat
        parent: loop-b
      - id: loop-b
        title: b
        kpi: csat
        parent: loop-a
      - id: late
        title: Late
        kpi: csat
        baseline: {value: 3.5, period: 2026-10}
        target: {value: 4, by: 2026-10-15}
    """)
    )
    (root / "more-outcomes.yaml").write_text(
        textwrap.dedent("""\
    outcomes:
      - id: loop-a
        title: again
        kpi: csat
      - id: orphan
        title: Orphan
        kpi: csat
        parent: nobody
        lag_days: -3
    """),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    assert [str(p) for p in caught.value.problems] == [
        "reviewkit.yaml:9:53: outputs.team: 'owner' is not a dimension of source 'tickets'; add it "
        "to sources.tickets.dimensions",
        "reviewkit.yaml:10:31: include.1: no such file 'missing.yaml' (looked in .)",
        "reviewkit.yaml:14:35: outcomes.0.kpi.filters.region: 'region' is not a dimension of "
        "source tickets (behind metric 'csat')",
        "reviewkit.yaml:15:5: outcomes.1.id: outcome id 'Happy Customers' must be lowercase "
        "letters, digits, - and _",
        "reviewkit.yaml:20:5: outcomes.2.kpi.metric: unknown metric 'csatt' (did you mean 'csat'?)",
        "reviewkit.yaml:22: outcomes.loop-a.parent: outcome parents form a cycle: loop-a -> "
        "loop-b -> loop-a",
        "reviewkit.yaml:26: outcomes.loop-b.parent: outcome parents form a cycle: loop-b -> "
        "loop-a -> loop-b",
        "reviewkit.yaml:34:24: outcomes.5.target.by: the target date 2026-10-15 is not after the "
        "baseline period's end 2026-10-31; move the target date later or the baseline earlier",
        "more-outcomes.yaml:2:5: outcomes.0.id: outcome id 'loop-a' is already used "
        "(reviewkit.yaml:22); ids must be unique",
        "more-outcomes.yaml:5: outcomes.orphan.parent: unknown parent outcome 'nobody'",
        "more-outcomes.yaml:9:5: outcomes.1.lag_days: expected a whole number from 0 to 3650, got -3",
    ]


def test_schedule_is_a_valid_cron_expression(write_config) -> None:
    assert problems(write_config, VALID_SOURCE + 'metrics: {}\nschedule: "0 25 2 * *"\n') == [
        "reviewkit.yaml:8:1: schedule: cron hour field '25': 25 is out of range 0-23"
    ]


def test_validating_a_scheduled_config_stays_light(write_config) -> None:
    """The cron parser lives in reviewkit.base.cron, not with the scheduler that runs reports, so
    checking a reviewkit.yaml with `schedule:` never imports DuckDB, pandas or the report code."""
    root = write_config(VALID_SOURCE + 'metrics: {}\nschedule: "0 6 2 * *"\n')
    heavy = (
        "duckdb",
        "pandas",
        "reviewkit.publish.report",
        "reviewkit.project",
        "reviewkit.publish.schedule",
    )
    code = (
        "import pathlib, sys, reviewkit.config; "
        "config = reviewkit.config.load_config(pathlib.Path(sys.argv[1])); "
        "assert config.schedule == '0 6 2 * *', config.schedule; "
        f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_live_url_is_a_web_address(write_config) -> None:
    base = "name: X\nsources: {}\nmetrics: {}\n"
    assert load_config(write_config(base)).live_url == "http://127.0.0.1:8866/"
    assert load_config(write_config(base + "live_url: https://reviews.example.com")).live_url == (
        "https://reviews.example.com/"
    )
    with pytest.raises(ConfigError, match="live_url: 'reviews' is not a web address"):
        load_config(write_config(base + "live_url: reviews"))


def test_the_store_is_a_file_or_a_postgresql_address_without_a_password(
    write_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = "metrics:\n  n: {source: tickets, agg: count}\n"
    monkeypatch.delenv("REVIEWKIT_STORE", raising=False)
    root = write_config(VALID_SOURCE + metrics)
    assert load_config(root).store_location == root.resolve() / "reviewkit.db"
    root = write_config(VALID_SOURCE + metrics + "store: shared/links.db\n")
    assert load_config(root).store_location == root.resolve() / "shared" / "links.db"
    address = "postgresql://reviews@db.example.com:5432/reviewkit"
    root = write_config(VALID_SOURCE + metrics + f"store: {address}\n")
    assert load_config(root).store_location == address
    # the environment wins, and may carry the secret the file must not
    monkeypatch.setenv("REVIEWKIT_STORE", "postgresql://reviews:s3cret@db/reviewkit")
    assert load_config(root).store_location == "postgresql://reviews:s3cret@db/reviewkit"
    monkeypatch.setenv("REVIEWKIT_STORE", "other.db")
    assert load_config(root).store_location == root.resolve() / "other.db"
    assert problems(
        write_config, VALID_SOURCE + metrics + "store: postgresql://reviews:s3cret@db/rk\n"
    ) == [
        "reviewkit.yaml:9:1: store: the address has a password, which reviewkit.yaml must not "
        "hold (it is shared and kept in git); remove it and set PGPASSWORD or ~/.pgpass, or "
        "give the whole address in $REVIEWKIT_STORE"
    ]
