"""The `reviewkit` command line, in-process (CliRunner) and once as the installed console script."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from reviewkit import open_project
from reviewkit.cli import main


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_check_is_silent_and_exits_0_on_a_clean_project(shop_dir: Path) -> None:
    assert run("check") == (0, "", "ok: project is valid\n")


def test_check_prints_one_line_per_problem_and_exits_1(shop_dir: Path) -> None:
    config = shop_dir / "reviewkit.yaml"
    config.write_text(config.read_text().replace("agg: sum, column: amount", "agg: total"))
    (shop_dir / "data" / "orders.csv").write_text(
        "day,team,channel,amount,items,stock\nx,a,web,1,1,1\n"
    )
    code, out, err = run("check", "--project", str(shop_dir))
    assert code == 1
    assert out == (
        "reviewkit.yaml:10:29: metrics.revenue.agg: 'total' is not one of: sum, mean, min, max, "
        "count, count_distinct, first, last, daily_mean, nps, satisfaction, active, retention, "
        "churn, revenue_retention\n"
    )
    assert err == "1 error(s); fix them and run `reviewkit check` again\n"
    config.write_text(config.read_text().replace("agg: total", "agg: sum, column: amount"))
    code, out, _ = run("check")
    assert code == 1
    assert out == (
        "data/orders.csv:2: column 'day': cannot read 'x' as a date in format '%Y-%m-%d'; "
        "row: x,a,web,1,1,1\n"
        "reviewkit.yaml:4: sources.orders: source 'orders' has 1 bad row(s); fix them in the "
        "export, or set `on_error: quarantine` under sources.orders to set them aside (they are "
        "then counted in every output)\n"
    )


def test_check_groups_a_flood_of_bad_rows_and_names_the_likely_fix(shop_dir: Path) -> None:
    days = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(1_000)]
    amounts = [f"{(i * 7919) % 20_000 / 4:,.2f}" for i in range(len(days))]
    lines = [
        "day,team,channel,amount,items,stock",
        *(f'{d},a,web,"{a}",1,1' for d, a in zip(days, amounts, strict=True)),
    ]
    (shop_dir / "data" / "orders.csv").write_text("\n".join(lines) + "\n")
    bad = [n for n, a in enumerate(amounts, start=2) if "," in a]
    code, out, err = run("check")
    assert code == 1
    assert out.splitlines() == [
        f"data/orders.csv: {len(bad)} bad row(s) in 1 group(s) by column and cause; the first "
        "3 rows of each follow",
        *(
            f"data/orders.csv:{n}: column 'amount': cannot read '{amounts[n - 2]}' as a number; "
            f"row: {lines[n - 1]}"
            for n in bad[:3]
        ),
        f"data/orders.csv: ... and {len(bad) - 3} more row(s) like these",
        f"data/orders.csv: column 'amount': values like '{amounts[bad[0] - 2]}' use ',' between "
        'thousands; likely fix: set `thousands: ","` under sources.orders.options',
        f"reviewkit.yaml:4: sources.orders: source 'orders' has {len(bad)} bad row(s); fix them "
        "in the export, or set `on_error: quarantine` under sources.orders to set them aside "
        "(they are then counted in every output)",
    ]
    assert err == "7 error(s); fix them and run `reviewkit check` again\n"


def test_kpis_table_for_a_period_by_team(shop_dir: Path) -> None:
    code, out, err = run(
        "kpis",
        "--period",
        "2026-01",
        "--by",
        "team",
        "--metric",
        "revenue",
        "--metric",
        "web_share",
        "--metric",
        "price_per_item",
    )
    assert (code, err) == (0, "")
    assert out == (
        "Shop · month 2026-01 (2026-01-01 to 2026-01-31) · data through 2026-02-15\n"
        "metric              a       b\n"
        "--------------  -----  ------\n"
        "revenue          $400     $50\n"
        "web_share       66.7%  100.0%\n"
        "price_per_item     80      50\n"
        "note: 2026-01 starts before the data does (29 of 31 days)\n"
    )


def test_kpis_latest_is_the_latest_complete_month(shop_dir: Path) -> None:
    code, out, _ = run("kpis", "--metric", "orders")
    assert code == 0
    assert out.splitlines()[0].startswith("Shop · month 2026-01 ")
    assert out.splitlines()[3].split()[:2] == ["orders", "4"]


def test_kpis_csv_and_json(shop_dir: Path) -> None:
    code, out, _ = run(
        "kpis", "--period", "2026-02", "--metric", "orders", "--by", "team", "--format", "csv"
    )
    assert code == 0
    assert (
        out
        == "period,team,metric,label,value\n2026-02,a,orders,orders,1.0\n2026-02,b,orders,orders,2.0\n"
    )
    code, out, _ = run(
        "kpis",
        "--period",
        "2026-W05",
        "--grain",
        "week",
        "--metric",
        "web_share",
        "--filter",
        "team=b",
        "--format",
        "json",
    )
    data = json.loads(out)
    assert (code, data["period"], data["start"], data["end"]) == (
        0,
        "2026-W05",
        "2026-01-26",
        "2026-02-01",
    )
    (row,) = data["rows"]
    assert row == {
        "metric": "web_share",
        "label": "web_share",
        "period": "2026-W05",
        "value": 0.0,
        "text": "0.0%",
        "coverage": "7 of 7 days",
        "previous_period": "2026-W04",
        "previous_change": None,
        "previous_change_text": "n/a (no value for 2026-W04)",
        "year_ago_period": "2025-W05",
        "year_ago_change": None,
        "year_ago_change_text": "n/a (no value for 2025-W05)",
        "change_unit": "pp",
        "target": None,
        "target_text": "",
        "attainment": None,
        "gap": None,
        "projection": None,
        "status": "n/a",
        "status_reason": "no target for this period",
        "flags": ["2025-W05 has no data"],
        "responses": None,  # a survey metric's answers and 95% interval
        "low": None,
        "high": None,
    }


def test_kpis_errors_are_one_readable_line(shop_dir: Path) -> None:
    assert run("kpis", "--period", "2026-13") == (
        1,
        "",
        "Error: cannot read period '2026-13'; write latest, YYYY-MM-DD, YYYY-Www, YYYY-MM, "
        "YYYY-Qn, YYYY, FYyyyy-Qn, FYyyyy, this-month or last-month (also -week, -quarter, "
        "-year, -fiscal-quarter, -fiscal-year)\n",
    )
    code, _, err = run("kpis", "--by", "region")
    assert code == 1
    assert err.startswith(
        "Error: cannot group by 'region': it is not a dimension of source 'orders'"
    )
    code, _, err = run("kpis", "--filter", "team")
    assert code == 2
    assert "'team' is not DIM=VALUE" in err


def test_sql_binds_parameters(shop_dir: Path) -> None:
    code, out, _ = run(
        "sql",
        "SELECT team, sum(amount) AS revenue FROM orders WHERE channel = ? "
        "GROUP BY team ORDER BY team",
        "--param",
        "web",
        "--format",
        "csv",
    )
    assert (code, out) == (0, "team,revenue\na,160.0\nb,90.0\n")
    code, _, err = run("sql", "SELECT * FROM nowhere")
    assert code == 1
    assert err.startswith(
        "Error: SQL failed: Catalog Error: Table with name nowhere does not exist!"
    )


def test_init_scaffolds_a_project_that_checks_clean(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("init", "fresh")
    assert code == 0
    assert out.splitlines()[:5] == [
        f"created fresh/{name}"
        for name in (
            ".gitignore",
            "data/issues.csv",
            "data/kpis.csv",
            "links.yaml",
            "reviewkit.yaml",
        )
    ]
    assert run("check", "--project", "fresh") == (0, "", "ok: project is valid\n")
    assert run("kpis", "--project", "fresh", "--period", "2026-W47")[1].splitlines()[3].split()[
        :5
    ] == ["Sign-ups", "a", "day", "40.6", "+13.1%"]
    assert run("links", "import", "--project", "fresh", "fresh/links.yaml")[1] == (
        "1 created, 0 updated, 0 unchanged\n"
    )
    code, _, err = run("init", "fresh")
    assert (code, err) == (
        1,
        "Error: fresh/reviewkit.yaml already exists; choose an empty directory or edit that file\n",
    )


def test_latest_is_refused_while_the_data_covers_no_whole_period(tmp_path: Path) -> None:
    # two weeks of November: `latest` month was October, before the data, all n/a with exit 0
    run("init", str(tmp_path / "fresh"))
    code, out, err = run("kpis", "--project", str(tmp_path / "fresh"))
    assert (code, out) == (1, "")
    assert err == (
        "Error: no month is complete yet: the data starts 2026-11-09 and runs through "
        "2026-11-22, so there is no latest one; ask for 2026-11 (in progress) or a shorter "
        "period, such as a week\n"
    )
    code, out, _ = run("kpis", "--project", str(tmp_path / "fresh"), "--grain", "week")
    assert code == 0
    assert "week 2026-W47 (2026-11-16 to 2026-11-22)" in out


def test_init_example_is_the_sample_company(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("init", "north", "--example")
    assert code == 0
    assert "created north/links.yaml" not in out  # the starter's examples are not the sample's
    assert {p.name for p in (tmp_path / "north" / "data").iterdir()} >= {
        "support_tickets.csv",
        "nps_responses.csv",
        "subscriptions.parquet",
        "product_activity.xlsx",
        "issues_export.csv",
    }
    assert run("check", "--project", "north") == (0, "", "ok: project is valid\n")


def test_sample_refuses_a_negative_seed_naming_the_option_and_range(tmp_path: Path) -> None:
    code, out, err = run("sample", "--dir", str(tmp_path / "north"), "--seed", "-1")
    assert (code, out) == (2, "")
    assert err.endswith("Error: Invalid value for '--seed': -1 is not in the range x>=0.\n")
    assert not (tmp_path / "north").exists()


def test_every_command_has_help() -> None:
    for command in main.commands:
        code, out, _ = run(command, "--help")
        assert code == 0 and out.startswith(f"Usage: main {command}")


def test_console_script_runs_the_demo_commands(sample_dir: Path) -> None:
    script = shutil.which("reviewkit", path=str(Path(__import__("sys").executable).parent))
    result = subprocess.run(
        [script, "kpis", "--project", str(sample_dir), "--by", "team"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Northwind Cloud · month 2026-10 (2026-10-01 to 2026-10-31)")
    assert lines[1].split() == ["metric", "billing", "growth", "mobile", "onboarding", "support"]
    assert "n/a" not in result.stdout


def test_the_samples_nps_changes_in_points(sample_dir: Path) -> None:
    # NPS from the raw answers: % of 9-10 minus % of 0-6, per month
    answers = pd.read_csv(sample_dir / "data" / "nps_responses.csv", sep=";", encoding="utf-8-sig")
    month = pd.to_datetime(answers["responded_on"], format="%a, %d-%b-%Y").dt.to_period("M")
    net = (answers["score"] >= 9).astype(int) - (answers["score"] <= 6).astype(int)
    nps = net.groupby(month).mean() * 100
    now, before, year_ago = (nps[pd.Period(m, "M")] for m in ("2026-10", "2026-09", "2025-10"))
    assert round(now) == 25 and abs(now - before) >= 0.5 and abs(now - year_ago) >= 0.5

    def points(change: float) -> list[str]:  # decimals: 0, as NPS itself is shown
        return [f"{change:+.0f}", "point" if round(abs(change)) == 1 else "points"]

    code, out, _ = run(
        "kpis", "--project", str(sample_dir), "--period", "2026-10", "--metric", "nps"
    )
    assert code == 0
    # the value with its 95% margin and the answers behind it (issue 32)
    october = answers[month == pd.Period("2026-10", "M")]["score"]
    p, d = (october >= 9).mean(), (october <= 6).mean()
    margin = 1.96 * 100 * ((p + d - (p - d) ** 2) / len(october)) ** 0.5
    (line,) = (line for line in out.splitlines() if line.startswith("NPS "))
    assert line.split()[:8] == [
        "NPS", "25", f"±{margin:.1f}", f"({len(october):,})",
        *points(now - before), *points(now - year_ago),
    ]  # fmt: skip
    code, out, _ = run(
        "kpis", "--project", str(sample_dir), "--period", "2026-10", "--format", "json"
    )
    (row,) = (r for r in json.loads(out)["rows"] if r["metric"] == "nps")
    assert row["change_unit"] == "points"
    assert row["previous_change"] == pytest.approx(now - before)
    assert row["year_ago_change"] == pytest.approx(now - year_ago)


def test_the_samples_active_users_average_the_days_instead_of_taking_the_last(
    sample_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    code, out, _ = run(
        "kpis", "--project", str(sample_dir), "--period", "2026-10", "--metric", "active_users"
    )
    # the users of Saturday 31 October were 65.6% fewer than those of Wednesday 30 September;
    # per day, October's were as many (the same weekday grew 2-4%; October has more weekend days)
    assert code == 0
    assert out.splitlines()[-1].split() == [
        *("Average", "daily", "active", "users"),
        *("9,125", "-0.1%", "+31.1%"),
    ]
    assert run("check", "--project", str(sample_dir)) == (0, "", "ok: project is valid\n")

    project = tmp_path / "north"
    shutil.copytree(sample_dir, project, ignore=shutil.ignore_patterns("*.db*"))
    config = project / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("agg: daily_mean", "agg: last"), encoding="utf-8")
    monkeypatch.chdir(project)
    line = text[: text.index("agg: daily_mean")].count("\n") + 1
    assert run("check") == (
        0,
        f"reviewkit.yaml:{line}:5: warning: metrics.active_users.agg: daily values of "
        "'active_users' vary by weekday (the weekday explains 94% of their day-to-day "
        "variation), so `agg: last` compares 2026-10-31 (Saturday) with 2026-09-30 (Wednesday) "
        "in 2026-10's MoM: a weekday effect, not a change; use `agg: daily_mean` (the average "
        "of the daily totals), or review it by week (`--grain week`), whose last days share a "
        "weekday\n",
        "ok: project is valid (1 warning(s))\n",
    )


def test_outcomes_and_links_round_trip(sample_dir: Path, tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "north"
    shutil.copytree(sample_dir, project, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    monkeypatch.chdir(project)
    code, out, _ = run("links", "import", "data/links.yaml")
    assert code == 0 and out.endswith("created, 0 updated, 0 unchanged\n")
    code, out, _ = run("outcomes", "--period", "2026-10")
    lines = out.splitlines()
    assert code == 0 and lines[0] == "Outcomes · 2026-10"
    # what needs a decision first (customer-love is off track), each child under its parent
    assert lines[3].split()[0] == "customer-love" and lines[3].split()[-2:] == ["off", "track"]
    assert lines[6].split()[0] == "retention" and lines[7].startswith("  billing-churn")
    assert run("links", "export", "review.csv")[1] == "wrote review.csv, review.checkins.csv\n"
    assert run("links", "import", "review.csv")[1] == "0 created, 0 updated, 127 unchanged\n"
    text = (project / "review.csv").read_text(encoding="utf-8-sig")
    (project / "review.csv").write_text(text.replace(",low,", ",lowish,", 1), encoding="utf-8")
    code, _, err = run("links", "import", "review.csv")
    assert code == 1
    assert "review.csv:2" in err and "lowish" in err and "nothing imported" in err


def test_users_add_list_and_remove(shop_dir: Path) -> None:
    runner = CliRunner()
    project = ["--project", str(shop_dir)]
    added = runner.invoke(main, ["users", "add", *project, "Priya Raman", "--email", "p@x.io"])
    assert added.exit_code == 0, added.output
    assert "Priya Raman (contributor) can sign in with this token, shown only now:" in added.output
    token = added.output.strip().splitlines()[-1]
    assert len(token) >= 40
    stored = b"".join(f.read_bytes() for f in shop_dir.glob("reviewkit.db*"))
    assert stored and token.encode() not in stored  # only its hash is kept
    runner.invoke(main, ["users", "add", *project, "Luis", "--role", "viewer"])
    listed = runner.invoke(main, ["users", "list", *project])
    assert listed.output.splitlines()[0].startswith("Luis: viewer, added ")
    assert listed.output.splitlines()[1].startswith("Priya Raman <p@x.io>: contributor, added ")
    again = runner.invoke(main, ["users", "add", *project, "Luis"])
    assert again.exit_code == 1 and "Luis can already sign in" in again.output
    removed = runner.invoke(main, ["users", "remove", *project, "Luis"])
    assert removed.output == "Luis can no longer sign in\n"
    assert "Luis" not in runner.invoke(main, ["users", "list", *project]).output


# -- the comparisons a scorecard shows, at every grain -------------------------------------------

#: Three years of daily orders, more of them each year; 2024-06-12 is missing, so comparisons
#: with it carry a flag.
YEARS_CONFIG = """\
name: Years
calendar: {week_ends_on: sunday, fiscal_year_start_month: 4}
sources:
  orders:
    path: data/orders.csv
    date: {column: day, format: "%Y-%m-%d"}
    values: {amount: number}
metrics:
  revenue: {source: orders, agg: sum, column: amount}
  orders: {source: orders, agg: count}
"""


@pytest.fixture
def years_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    rows = ["day,amount"]
    day = dt.date(2023, 1, 1)
    while day.year < 2026:
        if day != dt.date(2024, 6, 12):
            n = day.toordinal()
            rows += [f"{day},{10 + n * 7919 % 97 + 20 * (day.year - 2023)}"] * (1 + (n % 3 == 0))
        day += dt.timedelta(days=1)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "reviewkit.yaml").write_text(YEARS_CONFIG, encoding="utf-8")
    return tmp_path


#: (period, the comparison with the previous period or None, its dates (start, end), the
#: previous period's and the year-earlier period's), worked out by hand: weeks end on Sunday,
#: a day's and a week's year earlier is 364 days back, fiscal years start in April.
GRAIN_CASES = [
    ("2025-06-15", "DoD", ("2025-06-15",) * 2, ("2025-06-14",) * 2, ("2024-06-16",) * 2),
    (
        "2025-W24",
        "WoW",
        ("2025-06-09", "2025-06-15"),
        ("2025-06-02", "2025-06-08"),
        ("2024-06-10", "2024-06-16"),
    ),
    (
        "2025-06",
        "MoM",
        ("2025-06-01", "2025-06-30"),
        ("2025-05-01", "2025-05-31"),
        ("2024-06-01", "2024-06-30"),
    ),
    (
        "2025-Q2",
        "QoQ",
        ("2025-04-01", "2025-06-30"),
        ("2025-01-01", "2025-03-31"),
        ("2024-04-01", "2024-06-30"),
    ),
    (
        "FY2026-Q1",
        "QoQ",
        ("2025-04-01", "2025-06-30"),
        ("2025-01-01", "2025-03-31"),
        ("2024-04-01", "2024-06-30"),
    ),
    # a year's previous period is the year earlier: one comparison
    ("2025", None, ("2025-01-01", "2025-12-31"), None, ("2024-01-01", "2024-12-31")),
    ("FY2025", None, ("2024-04-01", "2025-03-31"), None, ("2023-04-01", "2024-03-31")),
]


def duckdb_totals(csv: Path, span: tuple[str, ...]) -> dict[str, float]:
    """revenue and orders over the dates of ``span``, by plain DuckDB over the raw file."""
    with duckdb.connect() as db:
        revenue, orders = db.execute(
            "SELECT sum(amount), count(*) FROM read_csv(?, header = true) "
            "WHERE day BETWEEN ? AND ?",
            [str(csv), dt.date.fromisoformat(span[0]), dt.date.fromisoformat(span[-1])],
        ).fetchone()
    return {"revenue": float(revenue), "orders": float(orders)}


def percent_change(now: float, before: float) -> float:
    return (now - before) / abs(before) * 100


def percent_text(change: float) -> str:
    """A change as the table shows it: exactly no change is 0%."""
    return "0%" if change == 0 else f"{change:+.1f}%"


def table_cells(out: str) -> tuple[list[str], dict[str, list[str]]]:
    """The headers and the rows (by metric) of the table `reviewkit kpis` prints."""
    lines = out.splitlines()
    spans = [m.span() for m in re.finditer(r"-+", lines[2])]
    cells = [[line[a:b].strip() for a, b in spans] for line in lines[1:] if line[:1] != "["]
    headers, rows = cells[0], cells[2:]
    return headers, {row[0]: row for row in rows}


@pytest.mark.parametrize(("period", "previous", "span", "before", "year_ago"), GRAIN_CASES)
def test_kpis_columns_name_distinct_comparisons_at_every_grain(
    years_dir: Path,
    period: str,
    previous: str | None,
    span: tuple[str, ...],
    before: tuple[str, ...] | None,
    year_ago: tuple[str, ...],
) -> None:
    csv = years_dir / "data" / "orders.csv"
    now, earlier = duckdb_totals(csv, span), duckdb_totals(csv, year_ago)
    last = duckdb_totals(csv, before) if before else None
    code, out, err = run("kpis", "--period", period)
    assert (code, err) == (0, "")
    headers, rows = table_cells(out)
    changes = [previous, "YoY"] if previous else ["YoY"]
    assert headers == ["metric", "value", *changes, "target", "status", "flags"]
    assert len(set(headers)) == len(headers)
    for metric in ("revenue", "orders"):
        row = dict(zip(headers, rows[metric], strict=True))
        assert row["YoY"] == percent_text(percent_change(now[metric], earlier[metric]))
        if previous and last:
            assert row[previous] == percent_text(percent_change(now[metric], last[metric]))
        marks = re.findall(r"\[\d+\]", row["flags"])
        assert len(marks) == len(set(marks)), row  # a flag is named once
    code, out, _ = run("kpis", "--period", period, "--format", "csv")
    header = out.splitlines()[0].split(",")
    assert code == 0 and len(set(header)) == len(header)
    code, out, _ = run("kpis", "--period", period, "--format", "json")
    for row in json.loads(out)["rows"]:
        metric = row["metric"]
        assert row["year_ago_change"] == pytest.approx(percent_change(now[metric], earlier[metric]))
        assert len(set(row["flags"])) == len(row["flags"])
        # the machine-readable columns keep both comparisons, each naming its period
        if previous is None:
            assert row["previous_period"] == row["year_ago_period"]
            assert row["previous_change"] == row["year_ago_change"]
        else:
            assert row["previous_period"] != row["year_ago_period"]


def test_commands_that_record_say_when_only_root_is_found(
    shop_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    """The commands record under the name the widgets save under (issue 29); when that is only
    the OS user root, the change is still recorded (scripts, cron and containers run as root)
    but a warning on stderr says how to set a name."""
    home = tmp_path / "home"
    home.mkdir()
    for name in ("REVIEWKIT_USER", "JUPYTERHUB_USER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(home / ".gitconfig"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CEILING_DIRECTORIES": str(shop_dir.parent),
        "LOGNAME": "root",
        "USER": "root",
    }.items():
        monkeypatch.setenv(name, value)
    warning = (
        "warning: recorded as 'root', the OS user, which says nothing about who made the "
        'change: to record your name, set REVIEWKIT_USER (export REVIEWKIT_USER="Ana Lima"), '
        "add `user: Ana Lima` to reviewkit.yaml, or run git config --global user.name "
        '"Ana Lima"\n'
    )
    project = ["--project", str(shop_dir)]
    code, out, err = run("events", "add", *project, "Sale", "--date", "2026-01-10")
    assert (code, out, err) == (0, "added event 1: Sale (on 2026-01-10)\n", warning)
    assert run("events", "remove", *project, "1")[2] == warning
    assert run("users", "add", *project, "Luis")[2] == warning
    assert run("users", "remove", *project, "Luis")[2] == warning
    assert run("events", *project)[2] == ""  # reading records nothing
    with open_project(shop_dir) as opened:
        assert {event.actor for event in opened.store.events()} == {"root"}
    subprocess.run(["git", "init", "-q", str(shop_dir)], check=True)
    subprocess.run(["git", "-C", str(shop_dir), "config", "user.name", "Ana Lima"], check=True)
    assert run("events", "add", *project, "Sale", "--date", "2026-01-10")[2] == ""
    with open_project(shop_dir) as opened:
        assert opened.store.events()[-1].actor == "Ana Lima"
