"""Lifecycle sources (issue 32): entities with a start and an optional end, and the metrics
active, retention, churn and revenue retention over any period, against values computed here
with plain Python over the same rows (not reviewkit's SQL)."""

from __future__ import annotations

import datetime as dt
import math
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from reviewkit import open_project
from reviewkit.base.errors import ConfigError, DataError
from reviewkit.base.periods import Window
from reviewkit.cli import main

TODAY = "2025-03-10"
METRICS = """\
metrics:
  active: {source: accounts, agg: active}
  active_average: {source: accounts, agg: active, at: average}
  retention: {source: accounts, agg: retention, format: percent}
  churn: {source: accounts, agg: churn, format: percent, direction: lower}
  nrr: {source: accounts, agg: revenue_retention, column: mrr, format: percent}
  grr: {source: accounts, agg: revenue_retention, column: mrr, expansion: capped, format: percent}
  enterprise_retention:
    source: accounts
    agg: retention
    filters: {plan: enterprise}
  spells: {source: accounts, agg: count}
"""


@dataclass(frozen=True)
class Spell:
    id: str
    start: dt.date
    end: dt.date | None
    plan: str
    mrr: float | None

    def active(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or self.end > day)


def project(folder: Path, spells: list[Spell], metrics: str = METRICS) -> Path:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    lines = ["account_id,signed_up,cancelled,plan,mrr"]
    for s in spells:
        mrr = "" if s.mrr is None else f"{s.mrr:g}"
        lines.append(f"{s.id},{s.start},{s.end or ''},{s.plan},{mrr}")
    (folder / "data" / "accounts.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "reviewkit.yaml").write_text(
        "sources:\n"
        "  accounts:\n"
        "    path: data/accounts.csv\n"
        "    lifecycle: {id: account_id, start: signed_up, end: cancelled}\n"
        "    dimensions: [plan]\n"
        "    values: {mrr: number}\n" + metrics,
        encoding="utf-8",
    )
    return folder


@pytest.fixture(autouse=True)
def today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock of every test here but those that set their own (the sample's, the 97% year)."""
    monkeypatch.setenv("REVIEWKIT_TODAY", TODAY)


# --- the reference: plain Python over the spells ----------------------------------------------


def active_ids(spells: list[Spell], day: dt.date, plan: str | None = None) -> set[str]:
    return {s.id for s in spells if s.active(day) and plan in (None, s.plan)}


def value_on(spells: list[Spell], entity: str, day: dt.date) -> float | None:
    """The entity's value on ``day``: its active spells' values added (None if one is blank);
    0 when it is not active."""
    values = [s.mrr for s in spells if s.id == entity and s.active(day)]
    if any(v is None for v in values):
        return None
    return float(sum(v for v in values if v is not None))


def expected(
    spells: list[Spell], metric: str, first: dt.date, last: dt.date, plan: str | None = None
) -> float:
    before = first - dt.timedelta(days=1)
    if metric == "active":
        return float(len(active_ids(spells, last, plan)))
    if metric == "active_average":
        days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        return sum(len(active_ids(spells, day, plan)) for day in days) / len(days)
    opening = active_ids(spells, before, plan)
    if metric in ("retention", "churn", "enterprise_retention"):
        if metric == "enterprise_retention":
            opening = active_ids(spells, before, "enterprise")
        if not opening:
            return math.nan
        kept = len(opening & active_ids(spells, last)) / len(opening)
        return 1 - kept if metric == "churn" else kept
    start_total = end_total = 0.0
    for entity in opening:
        start = sum(
            s.mrr or 0.0
            for s in spells
            if s.id == entity and s.active(before) and plan in (None, s.plan)
        )
        blank = any(
            s.mrr is None
            for s in spells
            if s.id == entity and s.active(before) and plan in (None, s.plan)
        )
        end = value_on(spells, entity, last)
        if blank or end is None:
            continue
        start_total += start
        end_total += min(end, start) if metric == "grr" else end
    return end_total / start_total if start_total else math.nan


def months(first: dt.date, last: dt.date) -> Iterator[tuple[dt.date, dt.date]]:
    day = first.replace(day=1)
    while day <= last:
        following = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        yield day, min(following - dt.timedelta(days=1), last)
        day = following


# --- messy data nobody tuned --------------------------------------------------------------------


def messy_spells(seed: int) -> list[Spell]:
    """200 accounts over 2022-2025 with what real exports have: comebacks, value changes as new
    spells, touching and overlapping spells, blank ends, blank values, plan changes, cancellations
    dated in the future (scheduled), and one-day spells."""
    rng = random.Random(seed)
    spells = []
    for n in range(200):
        entity = f"C{n:03d}"
        day = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(0, 900))
        plan = rng.choice(["starter", "pro", "enterprise"])
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            length = rng.choice([1, 20, 90, 200, 400, None])
            end = None if length is None else day + dt.timedelta(days=length)
            mrr = None if rng.random() < 0.03 else float(rng.choice([50, 120, 400, 2500]))
            if day > dt.date.fromisoformat(TODAY):  # a start after today is refused
                break
            spells.append(Spell(entity, day, end, plan, mrr))
            if end is None:
                break
            gap = rng.choice([0, 0, -5, 30, 120])  # touching, overlapping, or a comeback
            day = end + dt.timedelta(days=gap)
            if rng.random() < 0.2:
                plan = rng.choice(["starter", "pro", "enterprise"])
    return spells


def last_day(spells: list[Spell]) -> dt.date:
    today = dt.date.fromisoformat(TODAY)
    return max(d for s in spells for d in (s.start, s.end) if d is not None and d <= today)


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Spell]]:
    spells = messy_spells(7)
    return project(tmp_path_factory.mktemp("messy"), spells), spells


NAMES = ("active", "active_average", "retention", "churn", "nrr", "grr", "enterprise_retention")


def test_every_lifecycle_metric_matches_plain_python_month_by_month(
    messy: tuple[Path, list[Spell]],
) -> None:
    folder, spells = messy
    last = last_day(spells)
    with open_project(folder) as p:
        frame = p.kpis(list(NAMES), grain="month")
    found = {(r.metric, r.period_start): r.value for r in frame.itertuples()}
    first = min(s.start for s in spells)
    for start, end in months(first, last):
        for name in NAMES:
            want = expected(spells, name, start, end)
            got = found[name, start]
            assert (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want), (
                name,
                start,
            )
    assert max(frame["period_start"]) == last.replace(day=1)  # no month after the export's last day


@pytest.mark.parametrize("grain", ["quarter", "year", "week", "fiscal_year"])
def test_lifecycle_metrics_are_computed_over_the_whole_period_at_every_grain(
    messy: tuple[Path, list[Spell]], grain: str
) -> None:
    folder, spells = messy
    last = last_day(spells)
    with open_project(folder) as p:
        frame = p.kpis(list(NAMES), grain=grain, start="2023-01-01", end="2024-12-31")
    assert len(frame) > 0
    for row in frame.itertuples():
        start, end = row.period_start, min(row.period_end, last)
        start = max(start, dt.date(2023, 1, 1))
        end = min(end, dt.date(2024, 12, 31))
        want = expected(spells, row.metric, start, end)
        assert (math.isnan(want) and math.isnan(row.value)) or row.value == pytest.approx(want), (
            row.metric,
            row.period,
        )


def test_a_breakdown_places_each_entity_by_its_spell_at_the_start(
    messy: tuple[Path, list[Spell]],
) -> None:
    folder, spells = messy
    with open_project(folder) as p:
        frame = p.kpis(
            ["active", "retention", "nrr", "grr"],
            grain="quarter",
            start="2023-01-01",
            end="2024-12-31",
            by=["plan"],
        )
        only_pro = p.kpis(
            ["retention"],
            grain="year",
            start="2024-01-01",
            end="2024-12-31",
            filters={"plan": ["pro"]},
        )
    for row in frame.itertuples():
        want = expected(spells, row.metric, row.period_start, row.period_end, row.plan)
        assert (math.isnan(want) and math.isnan(row.value)) or row.value == pytest.approx(want), (
            row.metric,
            row.period,
            row.plan,
        )
    assert set(frame["plan"]) == {"starter", "pro", "enterprise"}
    want = expected(spells, "retention", dt.date(2024, 1, 1), dt.date(2024, 12, 31), "pro")
    assert only_pro["value"].iloc[0] == pytest.approx(want)


def test_a_year_of_97_percent_months_keeps_69_percent_of_a_cohort(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1,000 accounts at the start of 2024, 3% of those left leaving every month (a monthly
    retention of 97%): 12 months keep 0.97^12, about 69%, which is the year's retention."""
    monkeypatch.setenv("REVIEWKIT_TODAY", "2025-01-15")
    spells, left = [], 1000.0
    leaving_by_month = []
    for _ in range(12):
        leaving = round(left * 0.03)
        leaving_by_month.append(leaving)
        left -= leaving
    n = 0
    for month, leaving in enumerate(leaving_by_month):
        for _ in range(leaving):
            end = dt.date(2024, month + 1, 10)
            spells.append(Spell(f"A{n:04d}", dt.date(2023, 6, 1), end, "pro", 100.0))
            n += 1
    while n < 1000:
        spells.append(Spell(f"A{n:04d}", dt.date(2023, 6, 1), None, "pro", 100.0))
        n += 1
    spells.append(Spell("LAST", dt.date(2025, 1, 2), None, "pro", 100.0))  # the export's last day
    with open_project(project(tmp_path, spells)) as p:
        year = p.kpis(["retention", "churn"], grain="year", start="2024-01-01", end="2024-12-31")
        monthly = p.kpis(["retention"], grain="month", start="2024-01-01", end="2024-12-31")
    kept = 1000 - sum(leaving_by_month)
    assert list(year["value"]) == [pytest.approx(kept / 1000), pytest.approx(1 - kept / 1000)]
    assert 0.68 < kept / 1000 < 0.70
    assert all(v == pytest.approx(0.97, abs=0.002) for v in monthly["value"])


def test_a_comparison_of_retention_reads_each_window_whole(messy: tuple[Path, list[Spell]]) -> None:
    folder, spells = messy
    with open_project(folder) as p:
        row = p.compare("retention", "2024-Q3").iloc[0]
    assert row["value"] == pytest.approx(
        expected(spells, "retention", dt.date(2024, 7, 1), dt.date(2024, 9, 30))
    )
    assert row["flags"] == [] or all("avg monthly" not in f for f in row["flags"])


def test_any_window_is_read_whole_a_trailing_year_and_a_year_to_date(
    messy: tuple[Path, list[Spell]],
) -> None:
    """Windows (what comparisons, periods to date and trailing twelve months ask for) are
    computed over their own first and last days, clipped to the export's last day."""
    folder, spells = messy
    last = last_day(spells)
    windows = [
        Window("trailing 12 months", dt.date(2024, 3, 1), dt.date(2025, 2, 28)),
        Window("year to date", dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
    ]
    with open_project(folder) as p:
        frame = p.workspace.window_values(list(NAMES), windows)
    for row in frame.itertuples():
        window = next(w for w in windows if w.name == row.window)
        want = expected(spells, row.metric, window.start, min(window.end, last))
        assert (math.isnan(want) and math.isnan(row.value)) or row.value == pytest.approx(want), (
            row.window,
            row.metric,
        )


# --- bad input -------------------------------------------------------------------------------------


def test_a_bad_end_date_names_the_file_and_line(tmp_path: Path) -> None:
    spells = [Spell("A", dt.date(2024, 1, 1), None, "pro", 1.0)]
    folder = project(tmp_path, spells)
    path = folder / "data" / "accounts.csv"
    path.write_text(path.read_text() + "B,2024-02-01,2024-13-45,pro,3\n", encoding="utf-8")
    with pytest.raises(DataError) as caught, open_project(folder) as p:
        p.kpis(["retention"], grain="month")
    text = str(caught.value)
    assert "accounts.csv:3" in text and "cancelled" in text and "2024-13-45" in text


def test_a_blank_start_is_refused_and_a_blank_end_is_still_active(tmp_path: Path) -> None:
    spells = [Spell("A", dt.date(2024, 1, 1), None, "pro", 1.0)]
    folder = project(tmp_path, spells)
    path = folder / "data" / "accounts.csv"
    path.write_text(path.read_text() + "B,,2024-02-01,pro,3\n", encoding="utf-8")
    with pytest.raises(DataError) as caught, open_project(folder) as p:
        p.kpis(["active"], grain="month")
    assert "accounts.csv:3" in str(caught.value) and "signed_up" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("agg: retention, format", "agg: sum, column: mrr, format"),
            None,  # a sum over a lifecycle source is a plain metric of its start dates: fine
        ),
        (
            ("    lifecycle: {id", "    date: signed_up\n    lifecycle: {id"),
            "remove `date:`",
        ),
        (
            ("agg: churn,", "agg: churn, column: mrr,"),
            "agg 'churn' counts entities, not a column's values; remove `column`",
        ),
        (
            ("agg: active, at: average", "agg: retention, at: average"),
            "only used with `agg: active`",
        ),
        (
            ("expansion: capped", "expansion: sometimes"),
            "expansion",
        ),
        (
            ("end: cancelled}", "end: plan}"),
            "column 'plan' is declared twice",
        ),
        (
            ("end: cancelled}", "end: cancelled, changes: mrr_chnages}"),
            "'mrr_chnages' is not a source of dated value changes",
        ),
        (
            ("end: cancelled}", "end: cancelled, changes: accounts}"),
            "'accounts' is not a source of dated value changes",
        ),
        (
            (
                "end: cancelled}\n    dimensions: [plan]\n    values: {mrr: number}\n",
                "end: cancelled, changes: moves}\n    dimensions: [plan]\n"
                "    values: {mrr: number}\n  moves: {path: data/accounts.csv, date: signed_up}\n",
            ),
            "metric 'nrr' reads 'mrr', which the changes source 'moves' does not declare",
        ),
    ],
)
def test_lifecycle_config_mistakes_are_named(
    tmp_path: Path, change: tuple[str, str], message: str | None
) -> None:
    folder = project(tmp_path, [Spell("A", dt.date(2024, 1, 1), None, "pro", 1.0)])
    config = folder / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8")
    assert change[0] in text
    config.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    if message is None:
        with open_project(folder):
            return
    with pytest.raises(ConfigError) as caught, open_project(folder):
        pass
    assert message in str(caught.value)


def test_a_lifecycle_metric_on_a_dated_source_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.csv").write_text("day,n\n2024-01-01,3\n", encoding="utf-8")
    (tmp_path / "reviewkit.yaml").write_text(
        "sources:\n  t: {path: data/t.csv, date: day, values: {n: integer}}\n"
        "metrics:\n  kept: {source: t, agg: retention}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["check", "--project", str(tmp_path)])
    assert result.exit_code == 1
    assert "agg 'retention' needs a lifecycle source" in result.output


# --- the sample company: the account export and the monthly snapshot agree ----------------------


def test_the_samples_account_export_gives_the_snapshots_monthly_retention_and_nrr(
    sample_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both exports describe the same customers: for every closed month and team, the logo
    retention and net revenue retention the lifecycle source computes from start and end days
    equal the snapshot's (plain DuckDB over the Parquet: accounts at the start, active or
    churned in the month, and their MRR at its start and end)."""
    monkeypatch.setenv("REVIEWKIT_TODAY", "2026-11-20")
    snapshot = duckdb.connect().execute(
        "SELECT CAST(month AS DATE), team, "
        "count(*) FILTER (WHERE status = 'active') / count(*), sum(mrr) / sum(starting_mrr) "
        f"FROM read_parquet('{sample_dir / 'data' / 'subscriptions.parquet'}') "
        "WHERE status IN ('active', 'churned') GROUP BY ALL"
    )
    want = {(month, team): (kept, nrr) for month, team, kept, nrr in snapshot.fetchall()}
    assert len(want) == 34 * 5
    with open_project(sample_dir) as p:
        frame = p.kpis(["retention", "nrr"], grain="month", end="2026-10-31", by=["team"])
    got = frame.pivot_table(index=["period_start", "team"], columns="metric", values="value")
    found = {key: (row["retention"], row["nrr"]) for key, row in got.iterrows() if key in want}
    assert found.keys() == want.keys()
    for key, (kept, nrr) in want.items():
        assert found[key] == (pytest.approx(kept), pytest.approx(nrr)), key


def test_a_stay_export_with_a_changes_export_gives_the_spells_numbers(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other shape CRMs export: a row per stay (signed up, cancelled) and an export of MRR
    changes. Made here from the sample's spells (a spell starting the day the previous one
    ended is the same stay at a new MRR), it gives the same NRR, GRR, retention and cohorts as
    the spell export, month by month, by plan and over a year. A change outside every stay is
    not read; a change on a stay's first day replaces its MRR."""
    monkeypatch.setenv("REVIEWKIT_TODAY", "2026-11-20")
    spells = pd.read_csv(sample_dir / "data" / "accounts.csv", dtype={"mrr": str})
    spells = spells.sort_values(["account_id", "started_on"], kind="stable")
    stays, changes = [], []
    for row in spells.to_dict("records"):
        last = stays[-1] if stays else None
        if (
            last
            and last["account_id"] == row["account_id"]
            and last["cancelled_on"] == row["started_on"]
        ):
            last["cancelled_on"] = row["cancelled_on"]
            changes.append([row["account_id"], row["started_on"], row["mrr"]])
        else:
            stays.append(dict(row))
    assert len(changes) > 1000 and len(stays) < len(spells)
    # noise: a change long before the account's first stay, read by none
    changes.append([stays[0]["account_id"], "2001-01-01", "999999"])
    # a stay whose MRR was entered wrong and corrected on its first day
    first = next(s for s in stays if s["mrr"] == s["mrr"])  # not blank
    changes.append([first["account_id"], first["started_on"], first["mrr"]])
    first["mrr"] = "1"
    folder = tmp_path / "stays"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    pd.DataFrame(stays).to_csv(folder / "data" / "accounts.csv", index=False)
    pd.DataFrame(changes, columns=["account_id", "changed_on", "mrr"]).to_csv(
        folder / "data" / "mrr_changes.csv", index=False
    )
    config = folder / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8").replace(
        "    lifecycle: {id: account_id, start: started_on, end: cancelled_on}\n",
        "    lifecycle: {id: account_id, start: started_on, end: cancelled_on, "
        "changes: mrr_changes}\n",
    )
    text = text.replace(
        "sources:\n",
        "sources:\n  mrr_changes:\n    path: data/mrr_changes.csv\n"
        "    date: {column: changed_on, gaps: ignore}\n    values: {mrr: number}\n",
        1,
    )
    text = text.replace(
        "metrics:\n",
        "metrics:\n  grr: {source: accounts, agg: "
        "revenue_retention, column: mrr, expansion: capped}\n",
        1,
    )
    config.write_text(text, encoding="utf-8")
    sample = folder.parent / "spells"
    shutil.copytree(folder, sample)
    shutil.copyfile(sample_dir / "data" / "accounts.csv", sample / "data" / "accounts.csv")
    (sample / "reviewkit.yaml").write_text(
        text.replace(", changes: mrr_changes}", "}"), encoding="utf-8"
    )
    asked = {"grain": "month", "end": "2026-10-31", "by": ["plan"]}
    answers = []
    for root in (folder, sample):
        with open_project(root) as p:
            answers.append(
                (
                    p.kpis(["nrr", "grr", "retention", "customers"], **asked),
                    p.kpis(["nrr", "grr"], grain="year", end="2025-12-31"),
                    p.cohorts("nrr", latest=6),
                )
            )
    for got, want in zip(answers[0], answers[1], strict=True):
        pd.testing.assert_frame_equal(got, want)
    assert answers[0][0]["value"].notna().sum() > 400


# --- cohorts -----------------------------------------------------------------------------------


def expected_cohorts(
    spells: list[Spell],
    last: dt.date,
    *,
    grain: str = "month",
    weighed: bool = False,
    plan: str | None = None,
) -> dict[tuple[dt.date, int], tuple[int, float]]:
    """Per (cohort's first day, age): the cohort's size and the share of it (or of its first
    spells' MRR) active on the last day of the age's month (or year); only ages whose period
    ended by ``last``."""
    first: dict[str, Spell] = {}
    for s in sorted(spells, key=lambda s: s.start):
        first.setdefault(s.id, s)

    def opening(day: dt.date) -> dt.date:
        return day.replace(day=1) if grain == "month" else day.replace(month=1, day=1)

    def ends(start: dt.date) -> Iterator[dt.date]:
        if grain == "month":
            yield from (end for _, end in months(start, dt.date(2030, 1, 1)))
        else:
            yield from (dt.date(year, 12, 31) for year in range(start.year, 2030))

    cohorts: dict[dt.date, list[Spell]] = {}
    for s in first.values():
        if plan in (None, s.plan):
            cohorts.setdefault(opening(s.start), []).append(s)
    found = {}
    for start, members in cohorts.items():
        for age, end in enumerate(ends(start)):
            if end > last:
                break
            if weighed:  # members whose value is blank (first spell, or at the end) left out
                base = kept = 0.0
                for m in members:
                    then = value_on(spells, m.id, end)
                    if m.mrr is None or then is None:
                        continue
                    base, kept = base + m.mrr, kept + then
                value = kept / base if base else math.nan
            else:
                alive = active_ids(spells, end)
                value = sum(m.id in alive for m in members) / len(members)
            found[start, age] = (len(members), value)
    return found


def test_cohort_retention_matches_plain_python_and_leaves_young_cells_out(
    messy: tuple[Path, list[Spell]],
) -> None:
    folder, spells = messy
    last = last_day(spells)
    with open_project(folder) as p:
        logos = p.cohorts("retention")
        money = p.cohorts("nrr", filters={"plan": ["pro"]})
        churn = p.cohorts("churn")
    for frame, want in (
        (logos, expected_cohorts(spells, last)),
        (money, expected_cohorts(spells, last, weighed=True, plan="pro")),
    ):
        got = {(r.cohort, r.age): (r.size, r.value) for r in frame.itertuples()}
        assert got.keys() == want.keys()  # no cell for an age a cohort has not reached
        for key, (size, value) in want.items():
            assert got[key][0] == size, key
            assert (math.isnan(value) and math.isnan(got[key][1])) or got[key][1] == pytest.approx(
                value
            ), key
    assert list(churn["value"]) == pytest.approx([1 - v for v in logos["value"]])
    assert logos["period"].iloc[0] == f"{logos['cohort'].iloc[0]:%Y-%m}"


def test_cohorts_as_of_a_past_day_read_nothing_after_it(messy: tuple[Path, list[Spell]]) -> None:
    """A review of a past month draws its latest cohorts as they stood at the month's end: later
    starts, ends and ages are not read (the spells that ended later count as active then)."""
    folder, spells = messy
    through = (last_day(spells) - dt.timedelta(days=240)).replace(day=1) - dt.timedelta(days=1)
    with open_project(folder) as p:
        frame = p.cohorts("retention", through=through, latest=4)
    want = expected_cohorts(spells, through)
    kept = {start for start, _ in months(through - dt.timedelta(days=100), through)}
    assert len(kept) == 4  # the cohorts of the latest four months, some of them empty
    got = {(r.cohort, r.age): (r.size, r.value) for r in frame.itertuples()}
    assert got == {k: (size, pytest.approx(v)) for k, (size, v) in want.items() if k[0] in kept}
    assert got and max(got)[0] >= min(kept)


def test_reviewkit_cohorts_prints_the_grid_and_refuses_other_metrics(
    messy: tuple[Path, list[Spell]],
) -> None:
    folder, spells = messy
    runner = CliRunner()
    result = runner.invoke(
        main, ["cohorts", "retention", "--grain", "year", "--project", str(folder)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    want = expected_cohorts(spells, last_day(spells), grain="year")
    years = sorted({start for start, _ in want})
    ages = sorted({age for _, age in want})
    assert lines[1].split() == ["cohort", "(year)", "size", *map(str, ages)]
    for line, start in zip(lines[3:], years, strict=False):
        cells = sorted((age, size, value) for (s, age), (size, value) in want.items() if s == start)
        assert line.split() == [
            str(start.year),
            f"{cells[0][1]:,}",
            *(f"{100 * value:.1f}%" for _, _, value in cells),
        ]
    assert "blank: not reached yet" in lines[-1]
    latest = runner.invoke(
        main,
        ["cohorts", "retention", "--grain", "year", "--latest", "2", "--project", str(folder)],
    )
    assert latest.exit_code == 0, latest.output
    assert latest.output.splitlines()[3:-1] == lines[3 + len(years) - 2 : 3 + len(years)]
    bad = runner.invoke(main, ["cohorts", "active", "--project", str(folder)])
    assert bad.exit_code == 1
    assert "cohorts need a retention metric of a lifecycle source" in bad.output
    assert "agg: active" in bad.output


def test_the_cohort_chart_draws_only_the_cells_reached(messy: tuple[Path, list[Spell]]) -> None:
    from reviewkit.present import charts  # noqa: PLC0415

    folder, _ = messy
    with open_project(folder) as p:
        spec = charts.cohort_chart(p, "retention", grain="quarter").to_dict()
        frame = p.cohorts("retention", grain="quarter")
    (rows,) = spec["datasets"].values()  # the cells and their labels share one dataset
    assert len(rows) == len(frame) and {r["age"] for r in rows} == set(frame["age"])
    assert [r["text"] for r in rows] == [f"{100 * v:.1f}%" for v in frame["value"]]
    assert spec["title"] == "retention by cohort"  # the label, here the name
