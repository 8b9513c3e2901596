"""Benchmark 9 (issue 32): monthly logo retention by team from a lifecycle export, against a
hand-written DuckDB query over the same file.

The export: ``--entities`` accounts (1M; 10,000 with ``--tiny``) over 2021-2025, each in one of
5 teams, one spell each, or two (a fifth of them: a new MRR from a day inside the first), about
60% cancelled on a later day, written once as Parquet (seeded: the same file every run).

- **reviewkit**: a ``reviewkit.yaml`` declaring the file as ``lifecycle: {id, start, end}`` and
  ``retention: {agg: retention}``, then ``project.kpis(["retention"], grain="month",
  by="team", start="2025-01-01", end="2025-12-31")``: a year of monthly retention per team. Each
  run opens the project afresh (its kept results deleted first), as a new question does.
- **bare DuckDB**: the query an analyst fluent in SQL would write over ``read_parquet``: the
  12 months as a series, the accounts active on the day before each (start before the month,
  no end before it) per team, those still active on its last day, the share.

Both run in this process, alternating; medians are reported, and both answers are checked
equal (60 month x team values within 1e-12) before any time is printed. Target: reviewkit
within 2x of bare DuckDB.

    python benchmarks/lifecycle_retention.py [--tiny] [--repeat N] [--work DIR] [--entities N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
from pathlib import Path
from typing import Final

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
import harness

from reviewkit import open_project

FULL: Final = 1_000_000
TINY: Final = 10_000
TEAMS: Final = ("ads", "billing", "growth", "mobile", "web")
FIRST: Final = dt.date(2021, 1, 1)
DAYS: Final = (dt.date(2025, 12, 31) - FIRST).days + 1
TARGET: Final = 2.0

PROJECT_YAML: Final = """\
# Written by benchmarks/lifecycle_retention.py: a lifecycle export and its monthly retention.
name: Lifecycle benchmark
sources:
  accounts:
    path: data/accounts.parquet
    lifecycle: {id: account_id, start: started_on, end: cancelled_on}
    dimensions: [team]
    values: {mrr: number}
metrics:
  retention: {source: accounts, agg: retention, format: percent}
"""

HAND_WRITTEN: Final = """
WITH spells AS (SELECT * FROM read_parquet($path)),
months AS (
    SELECT CAST(m AS DATE) AS first_day,
           CAST(m + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE) AS last_day
    FROM unnest(generate_series(DATE '2025-01-01', DATE '2025-12-01', INTERVAL 1 MONTH)) AS t(m)
),
opening AS (
    SELECT DISTINCT m.first_day, s.team, s.account_id FROM months m JOIN spells s
    ON s.started_on < m.first_day AND (s.cancelled_on IS NULL OR s.cancelled_on >= m.first_day)
),
closing AS (
    SELECT DISTINCT m.first_day, s.account_id FROM months m JOIN spells s
    ON s.started_on <= m.last_day AND (s.cancelled_on IS NULL OR s.cancelled_on > m.last_day)
)
SELECT o.first_day AS period_start, o.team, count(c.account_id) / count(*) AS value
FROM opening o LEFT JOIN closing c USING (first_day, account_id)
GROUP BY ALL ORDER BY ALL
"""


def write_export(path: Path, entities: int) -> None:
    """The seeded lifecycle export (see the module docstring)."""
    rng = np.random.default_rng(32)
    start = rng.integers(0, DAYS - 30, size=entities)
    life = rng.exponential(700.0, size=entities).astype(np.int64) + 1
    end = np.where(start + life < DAYS, start + life, -1)  # -1: still active
    team = rng.integers(0, len(TEAMS), size=entities)
    mrr = np.round(rng.lognormal(5.0, 0.8, size=entities), 2)
    ids = np.arange(entities)
    # a fifth change MRR on a day inside their spell: the second spell runs on from there
    moved = (rng.random(entities) < 0.2) & ((np.where(end < 0, DAYS, end) - start) > 2)
    cut = start + ((np.where(end < 0, DAYS, end) - start) * rng.random(entities)).astype(np.int64)
    cut = np.maximum(cut, start + 1)
    first_end = np.where(moved, cut, end)
    second = np.flatnonzero(moved)
    epoch = np.datetime64(FIRST.isoformat(), "D")

    def days(values: np.ndarray) -> pa.Array:
        dates = epoch + values.astype("timedelta64[D]")
        return pa.array(dates, pa.date32(), mask=values < 0)

    table = pa.table(
        {
            "account_id": pa.array([f"A{i:07d}" for i in np.concatenate([ids, second])]),
            "team": pa.array(TEAMS).take(pa.array(np.concatenate([team, team[second]]))),
            "started_on": days(np.concatenate([start, cut[second]])),
            "cancelled_on": days(np.concatenate([first_end, end[second]])),
            "mrr": pa.array(np.concatenate([mrr, np.round(mrr[second] * 1.2, 2)])),
        }
    )
    pq.write_table(table, path)


def discard(_: object) -> None:
    """A side's answer is not kept (it was checked once, before the timings)."""


def more(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entities", type=int, default=None, help="accounts (1,000,000)")


def main() -> None:
    options = harness.arguments(__doc__.splitlines()[0], repeat=7, more=more)
    # the export ends on 2025-12-31: its answers must not depend on the day the benchmark runs
    os.environ["REVIEWKIT_TODAY"] = "2026-01-15"
    entities = options.entities or (TINY if options.tiny else FULL)
    folder = options.work / f"lifecycle-{entities}"
    export = folder / "data" / "accounts.parquet"
    if not export.exists():
        (folder / "data").mkdir(parents=True, exist_ok=True)
        write_export(export, entities)
    (folder / "reviewkit.yaml").write_text(PROJECT_YAML, encoding="utf-8")

    def reviewkit() -> pd.DataFrame:
        shutil.rmtree(folder / ".reviewkit" / "cache" / "results", ignore_errors=True)
        with open_project(folder) as project:
            frame = project.kpis(
                ["retention"], grain="month", by="team", start="2025-01-01", end="2025-12-31"
            )
        return frame[["period_start", "team", "value"]]

    def bare() -> pd.DataFrame:
        with duckdb.connect() as con:
            return con.execute(HAND_WRITTEN, {"path": str(export)}).df()

    ours, theirs = reviewkit(), bare()  # the same numbers, and the file in the page cache
    theirs["period_start"] = [pd.Timestamp(d).date() for d in theirs["period_start"]]
    merged = ours.merge(theirs, on=["period_start", "team"], suffixes=("", "_duckdb"))
    if len(merged) != 12 * len(TEAMS) or len(ours) != len(merged):
        raise SystemExit(f"the answers differ in their rows: {len(ours)} and {len(theirs)}")
    difference = float((merged["value"] - merged["value_duckdb"]).abs().max())
    if difference > 1e-12:
        raise SystemExit(f"the answers differ: by up to {difference}")

    samples = harness.alternate(
        {"reviewkit": lambda: discard(reviewkit()), "bare DuckDB": lambda: discard(bare())},
        options.repeat,
    )
    rows = [[name, s.median, s.quantile(0.9)] for name, s in samples.items()]
    ratio = samples["reviewkit"].median / samples["bare DuckDB"].median
    print(f"# Monthly retention by team for 2025 from a lifecycle export of {entities:,} accounts")
    print(harness.machine())
    rows_in_file = pq.ParquetFile(export).metadata.num_rows
    print(
        f"{rows_in_file:,} spells; answers equal (max difference {difference:g}); "
        f"{options.repeat} runs each, alternating"
    )
    print(harness.table("seconds", ["side", "median", "p90"], rows))
    print(f"reviewkit / bare DuckDB: {ratio:.2f}x")
    print(
        harness.verdict(
            "target reviewkit within 2x of bare DuckDB, x", ratio, TARGET, higher_is_better=False
        )
    )


if __name__ == "__main__":
    main()
