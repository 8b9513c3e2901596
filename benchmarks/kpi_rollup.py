"""Benchmark 1 (issues 8 and 17): KPI roll-up over the sample's big event-level export.

Monthly KPIs by team for 30 months (May 2024 to October 2026) from the support-ticket export
that ``reviewkit sample --scale N`` writes (one row per ticket: a ~1.09 GB CSV for 10M rows, and
the same rows as Parquet), three metrics: tickets opened (a count), resolution hours (a sum) and
CSAT (a mean of an integer column that is mostly empty).

- **reviewkit**: a small ``reviewkit.yaml`` declaring the export (explicit columns, as a user
  would), then ``project.kpis([...], grain="month", by="team", start=..., end=...)``. *Cold* is
  the first run (no ``.reviewkit/cache``: it is deleted before each cold run); *warm* is the run
  right after it, over unchanged exports, answered from the results it kept; *new query* is a
  query not asked before over the same cached exports (the kept results are deleted first).
- **pandas**: the code an analyst would write: ``pd.read_csv(path, parse_dates=["created_at"])``
  (plain; a second row with ``engine="pyarrow"``) or ``pd.read_parquet(path)``, then one
  ``groupby([pd.Grouper(key="created_at", freq="MS"), "team"]).agg(...)`` and the 30 months kept.
  (Aggregating before filtering is the faster order in pandas: the strongest plain peer.)
- **bare DuckDB**: the one query over the export, no cache and no checks: ``read_csv`` with the
  columns and their types given (as reviewkit declares them) or ``read_parquet``, then
  ``GROUP BY`` month and team. The limit of any design that reads the export with DuckDB.
- **Polars**: lazy ``scan_csv`` (the columns' types given) or ``scan_parquet``, filtered to the
  30 months and grouped by month and team, collected once.

Every side runs in its own process (``python kpi_rollup.py --worker SIDE ...``), so its time is
a user's wall time (interpreter start and imports included) and its peak RSS is its own. The
sides alternate within each repetition; medians are reported. Every side's result is checked
equal to pandas' (same month x team rows, values within 1e-9 relative) before any timing is
printed. The exports sit in the OS page cache for every side alike (they were just written).

    python benchmarks/kpi_rollup.py [--tiny] [--repeat N] [--work DIR] [--rows N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).parent))
import harness

FULL_ROWS: Final = 10_000_000
TINY_ROWS: Final = 20_000
#: 30 whole months, inclusive.
START: Final = "2024-05-01"
END: Final = "2026-10-31"
MONTHS: Final = 30
METRICS: Final = ("tickets", "resolution_hours", "csat")
REL_TOL: Final = 1e-9

#: The benchmark's project: the big export declared with explicit columns, three metrics.
PROJECT_YAML: Final = """\
# Written by benchmarks/kpi_rollup.py: the scaled support-ticket export and three KPIs.
name: KPI roll-up benchmark ({kind})
sources:
  tickets:
    path: {path}
{declaration}
metrics:
  tickets:
    label: Tickets opened
    source: tickets
    agg: count
  resolution_hours:
    label: Resolution hours
    source: tickets
    agg: sum
    column: resolution_hours
  csat:
    label: CSAT
    source: tickets
    agg: mean
    column: csat
"""
CSV_DECLARATION: Final = """\
    format: csv
    date:
      column: created_at
      format: "%Y-%m-%d %H:%M:%S"
    dimensions: [team, channel, priority]
    values:
      resolution_hours: number
      first_response_seconds: integer
      csat: integer
    options:
      delimiter: ","
      encoding: utf-8
      thousands: ","
      decimal: "."
    on_error: fail"""
PARQUET_DECLARATION: Final = """\
    format: parquet
    date:
      column: created_at
    dimensions: [team, channel, priority]
    values:
      resolution_hours: number
      first_response_seconds: integer
      csat: integer
    on_error: fail"""

#: side -> (worker, export format, reviewkit cache state or None)
SIDES: Final = {
    "pandas read_csv": ("pandas-csv", "csv", None),
    "bare DuckDB CSV": ("duckdb", "csv", None),
    "Polars scan_csv": ("polars", "csv", None),
    "reviewkit CSV cold": ("reviewkit", "csv", "cold"),
    "reviewkit CSV warm": ("reviewkit", "csv", "warm"),
    "reviewkit CSV new query": ("reviewkit", "csv", "new query"),
    "pandas read_csv pyarrow": ("pandas-csv-pyarrow", "csv", None),
    "pandas read_parquet": ("pandas-parquet", "parquet", None),
    "bare DuckDB Parquet": ("duckdb", "parquet", None),
    "Polars scan_parquet": ("polars", "parquet", None),
    "reviewkit Parquet cold": ("reviewkit", "parquet", "cold"),
    "reviewkit Parquet warm": ("reviewkit", "parquet", "warm"),
    "reviewkit Parquet new query": ("reviewkit", "parquet", "new query"),
}
#: the export's columns and types, given to the peers that take them (as reviewkit declares)
COLUMNS: Final = {
    "ticket_id": "VARCHAR",
    "created_at": "TIMESTAMP",
    "team": "VARCHAR",
    "channel": "VARCHAR",
    "priority": "VARCHAR",
    "subject": "VARCHAR",
    "resolution_hours": "DOUBLE",
    "first_response_seconds": "BIGINT",
    "csat": "BIGINT",
}

Row = tuple[str, str, float, float, float]  # month, team, tickets, resolution_hours, csat


# -- the measured workers (each in its own process) ----------------------------------------------


def worker_reviewkit(project: Path) -> list[Row]:
    from reviewkit.project import open_project  # noqa: PLC0415 (timed with the worker)

    with open_project(project) as opened:
        long = opened.kpis(list(METRICS), grain="month", by="team", start=START, end=END)
    found: dict[tuple[str, str], dict[str, float]] = {}
    for period, team, metric, value in zip(
        long["period"], long["team"], long["metric"], long["value"], strict=True
    ):
        found.setdefault((str(period), str(team)), {})[str(metric)] = float(value)
    return [
        (month, team, values["tickets"], values["resolution_hours"], values["csat"])
        for (month, team), values in sorted(found.items())
    ]


def worker_pandas(path: Path, how: str) -> list[Row]:
    import pandas as pd  # noqa: PLC0415 (timed with the worker)

    if how == "pandas-parquet":
        df = pd.read_parquet(path)
    elif how == "pandas-csv-pyarrow":
        df = pd.read_csv(path, parse_dates=["created_at"], engine="pyarrow")
    else:
        df = pd.read_csv(path, parse_dates=["created_at"])
    monthly = (
        df.groupby([pd.Grouper(key="created_at", freq="MS"), "team"])
        .agg(
            tickets=("ticket_id", "size"),
            resolution_hours=("resolution_hours", "sum"),
            csat=("csat", "mean"),
        )
        .reset_index()
    )
    monthly = monthly[monthly["created_at"].between(START, END)]
    return [
        (f"{month:%Y-%m}", str(team), float(tickets), float(hours), float(csat))
        for month, team, tickets, hours, csat in monthly.itertuples(index=False)
    ]


def worker_duckdb(path: Path) -> list[Row]:
    import duckdb  # noqa: PLC0415 (timed with the worker)

    if path.suffix == ".csv":
        columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in COLUMNS.items()) + "}"
        scan = (
            f"read_csv($path, header=true, columns={columns}, timestampformat='%Y-%m-%d %H:%M:%S')"
        )
    else:
        scan = "read_parquet($path)"
    rows = duckdb.connect().execute(
        "SELECT strftime(date_trunc('month', created_at), '%Y-%m') AS month, team, "
        "count(*)::DOUBLE, sum(resolution_hours), avg(csat) "
        f"FROM {scan} WHERE created_at >= $start::DATE AND created_at < $end::DATE + 1 "
        "GROUP BY ALL ORDER BY ALL",
        {"path": str(path), "start": START, "end": END},
    )
    return [(m, t, float(n), float(h), float(c)) for m, t, n, h, c in rows.fetchall()]


def worker_polars(path: Path) -> list[Row]:
    import datetime as dt  # noqa: PLC0415

    import polars as pl  # noqa: PLC0415 (timed with the worker)

    if path.suffix == ".csv":
        types = {"VARCHAR": pl.String, "TIMESTAMP": pl.Datetime, "DOUBLE": pl.Float64}
        schema = {k: types.get(v, pl.Int64) for k, v in COLUMNS.items()}
        frame = pl.scan_csv(path, schema=schema)
    else:
        frame = pl.scan_parquet(path)
    start, end = dt.datetime.fromisoformat(START), dt.datetime.fromisoformat(END)
    monthly = (
        frame.filter(pl.col("created_at") < end + dt.timedelta(days=1))
        .filter(pl.col("created_at") >= start)
        .group_by(pl.col("created_at").dt.strftime("%Y-%m").alias("month"), "team")
        .agg(
            pl.len().cast(pl.Float64),
            pl.col("resolution_hours").sum(),
            pl.col("csat").mean(),
        )
        .sort("month", "team")
        .collect()
    )
    return [(m, t, float(n), float(h), float(c)) for m, t, n, h, c in monthly.iter_rows()]


def worker(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="kpi_rollup.py --worker")
    parser.add_argument(
        "--worker", required=True, choices=sorted({w for w, _, _ in SIDES.values()})
    )
    parser.add_argument("--data", type=Path, required=True, help="export (pandas) or project")
    parser.add_argument("--out", type=Path, required=True, help="result JSON")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    if options.worker == "reviewkit":
        rows = worker_reviewkit(options.data)
    elif options.worker == "duckdb":
        rows = worker_duckdb(options.data)
    elif options.worker == "polars":
        rows = worker_polars(options.data)
    else:
        rows = worker_pandas(options.data, options.worker)
    seconds = time.perf_counter() - started
    options.out.write_text(json.dumps({"seconds": seconds, "rows": rows}), encoding="utf-8")


# -- the driver ---------------------------------------------------------------------------------


def sample(work: Path, rows: int) -> Path:
    """The scaled sample under ``work`` (generated once per size, reused after)."""
    folder = work / f"kpi_rollup-{rows}"
    done = folder / ".complete"
    if done.exists() and done.read_text(encoding="utf-8").strip() == str(rows):
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    print(f"generating {rows:,} tickets into {folder} ...", flush=True)
    harness.run_process(
        [harness.PYTHON, "-m", "reviewkit", "sample", "--scale", str(rows), "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
    )
    print(f"generated in {time.perf_counter() - started:.1f} s", flush=True)
    done.write_text(str(rows), encoding="utf-8")
    return folder


def project(folder: Path, kind: str) -> Path:
    """A one-source project over the CSV or Parquet export (rewritten each run)."""
    directory = folder / f"project-{kind}"
    directory.mkdir(exist_ok=True)
    export = (folder / "data" / f"support_tickets.{kind}").resolve()
    declaration = CSV_DECLARATION if kind == "csv" else PARQUET_DECLARATION
    text = PROJECT_YAML.format(kind=kind, path=json.dumps(str(export)), declaration=declaration)
    config = directory / "reviewkit.yaml"
    if not config.exists() or config.read_text(encoding="utf-8") != text:
        config.write_text(text, encoding="utf-8")
    return directory


def equal(found: Sequence[Sequence[Any]], expected: Sequence[Sequence[Any]]) -> str | None:
    """None when the results agree (keys exactly, values within REL_TOL), else the first gap."""
    found_rows = {(r[0], r[1]): r[2:] for r in found}
    expected_rows = {(r[0], r[1]): r[2:] for r in expected}
    if found_rows.keys() != expected_rows.keys():
        extra = sorted(found_rows.keys() - expected_rows.keys())[:3]
        missing = sorted(expected_rows.keys() - found_rows.keys())[:3]
        return f"different rows: extra {extra}, missing {missing}"
    for key, values in expected_rows.items():
        for metric, want, got in zip(METRICS, values, found_rows[key], strict=True):
            both_nan = math.isnan(want) and math.isnan(got)
            if not both_nan and not math.isclose(got, want, rel_tol=REL_TOL, abs_tol=0.0):
                return f"{key} {metric}: {got!r} != {want!r}"
    return None


def main() -> None:
    if "--worker" in sys.argv[1:]:
        worker(sys.argv[1:])
        return
    started = time.perf_counter()
    # --rows N (e.g. 2000000 to profile at a moderate size) is ours; the rest is the harness's
    size = argparse.ArgumentParser(add_help=False)
    size.add_argument("--rows", type=int, default=None)
    chosen, sys.argv[1:] = size.parse_known_args(sys.argv[1:])
    options = harness.arguments((__doc__ or "").splitlines()[0], repeat=3)
    rows = chosen.rows or (TINY_ROWS if options.tiny else FULL_ROWS)
    load_before = os.getloadavg()
    folder = sample(options.work, rows)
    exports = {kind: folder / "data" / f"support_tickets.{kind}" for kind in ("csv", "parquet")}
    projects = {kind: project(folder, kind) for kind in exports}
    results = folder / "results"
    results.mkdir(exist_ok=True)
    outputs: dict[str, list[Any]] = {}
    compute: dict[str, list[float]] = {}

    def side(name: str) -> Callable[[], dict[str, float]]:
        how, kind, cache = SIDES[name]
        data = projects[kind] if how == "reviewkit" else exports[kind]
        out = results / f"{name.replace(' ', '-')}.json"

        def run() -> dict[str, float]:
            if cache == "cold":
                shutil.rmtree(projects[kind] / ".reviewkit", ignore_errors=True)
            elif cache and not (projects[kind] / ".reviewkit" / "cache").is_dir():
                raise SystemExit(f"{name}: no cache to be warm from")
            if cache == "new query":  # the exports' cache kept, no result kept
                results_kept = projects[kind] / ".reviewkit" / "cache" / "results"
                shutil.rmtree(results_kept, ignore_errors=True)
            out.unlink(missing_ok=True)
            command = [harness.PYTHON, __file__, "--worker", how, "--data", str(data)]
            measured = harness.run_process([*command, "--out", str(out)])
            result = json.loads(out.read_text(encoding="utf-8"))
            outputs.setdefault(name, []).append(result["rows"])
            compute.setdefault(name, []).append(result["seconds"])
            return measured

        return run

    samples = harness.alternate({name: side(name) for name in SIDES}, options.repeat)

    # equal results first: no timing is reported for a wrong answer
    reference = outputs["pandas read_csv"][0]
    if len(reference) != MONTHS * 5:
        raise SystemExit(f"expected {MONTHS} months x 5 teams, pandas gave {len(reference)} rows")
    for name, runs in outputs.items():
        for number, found in enumerate(runs, start=1):
            gap = equal(found, reference)
            if gap:
                raise SystemExit(f"{name} (run {number}) differs from pandas read_csv: {gap}")

    wall = {name: s.median_of("wall") for name, s in samples.items()}
    peak = {name: s.median_of("peak_mb") for name, s in samples.items()}
    sizes = {kind: path.stat().st_size for kind, path in exports.items()}
    table = []
    for name, (_, kind, _) in SIDES.items():
        table.append(
            [
                name,
                wall[name],
                min(samples[name].extra["wall"]),
                sorted(compute[name])[len(compute[name]) // 2],
                peak[name],
                f"{rows / wall[name]:,.0f}",
                sizes[kind] / 1e6 / wall[name],
            ]
        )
    load_after = os.getloadavg()
    print(harness.machine())
    print(
        f"export: {rows:,} tickets; CSV {sizes['csv'] / 1e6:,.1f} MB, Parquet "
        f"{sizes['parquet'] / 1e6:,.1f} MB; query: {len(METRICS)} KPIs ({', '.join(METRICS)}) "
        f"by month x team, {MONTHS} months ({START} to {END}) = {len(reference)} rows"
    )
    print(
        f"{options.repeat} runs per side, alternating; load average before "
        f"{load_before[0]:.2f}, after {load_after[0]:.2f}"
    )
    print(f"results equal on every run ({len(reference)} rows, values within {REL_TOL:g} rel.)")
    print()
    print(
        harness.table(
            "KPI roll-up: median wall time per process (start, imports and query)",
            ["side", "median s", "min s", "in-process s", "peak RSS MB", "rows/s", "MB/s"],
            table,
        )
    )
    print(
        "in-process s: the worker's own timing of its imports and query (no interpreter "
        "start); rows/s and MB/s:\nthe export's rows and bytes (CSV or Parquet) over the "
        "median time"
    )
    print()

    def ratio(peer: str, side: str) -> float:
        """How many times faster ``side`` is than ``peer`` (of median wall times)."""
        return wall[peer] / wall[side]

    def memory(side: str, peer: str) -> float:
        return peak[side] / peak[peer]

    rk_csv, rk_pq = "reviewkit CSV cold", "reviewkit Parquet cold"
    warm_csv, warm_pq = "reviewkit CSV warm", "reviewkit Parquet warm"
    ratios = [
        ["pandas read_csv / reviewkit CSV cold", ratio("pandas read_csv", rk_csv), ">= 2x"],
        ["reviewkit CSV cold / bare DuckDB CSV", 1 / ratio("bare DuckDB CSV", rk_csv), "<= 1.25"],
        [
            "pandas read_csv pyarrow / reviewkit CSV cold",
            ratio("pandas read_csv pyarrow", rk_csv),
            "",
        ],
        ["Polars scan_csv / reviewkit CSV cold", ratio("Polars scan_csv", rk_csv), ""],
        ["pandas read_csv / reviewkit CSV warm", ratio("pandas read_csv", warm_csv), ">= 8x"],
        ["Polars scan_csv / reviewkit CSV warm", ratio("Polars scan_csv", warm_csv), ">= 1x"],
        ["reviewkit CSV cold / warm", ratio(rk_csv, warm_csv), ""],
        [
            "reviewkit CSV cold peak / pandas read_csv peak",
            memory(rk_csv, "pandas read_csv"),
            "<= 0.33",
        ],
        [
            "pandas read_parquet / reviewkit Parquet cold",
            ratio("pandas read_parquet", rk_pq),
            ">= 1x",
        ],
        [
            "reviewkit Parquet cold / bare DuckDB Parquet",
            1 / ratio("bare DuckDB Parquet", rk_pq),
            "<= 1.25",
        ],
        ["Polars scan_parquet / reviewkit Parquet cold", ratio("Polars scan_parquet", rk_pq), ""],
        [
            "pandas read_parquet / reviewkit Parquet warm",
            ratio("pandas read_parquet", warm_pq),
            ">= 8x",
        ],
        [
            "Polars scan_parquet / reviewkit Parquet warm",
            ratio("Polars scan_parquet", warm_pq),
            ">= 1x",
        ],
        ["reviewkit Parquet cold / warm", ratio(rk_pq, warm_pq), ""],
        [
            "reviewkit Parquet cold peak / pandas peak",
            memory(rk_pq, "pandas read_parquet"),
            "<= 0.33",
        ],
    ]
    print(
        harness.table(
            "Ratios (of medians)",
            ["ratio", "value", "target"],
            [[name, f"{value:.2f}", target] for name, value, target in ratios],
        )
    )
    print()
    verdicts = [
        harness.verdict(
            f"target: {name} {target}",
            value,
            float(target.lstrip("<>= ").rstrip("x")),
            higher_is_better=target.startswith(">="),
        )
        for name, value, target in ratios
        if target
    ]
    print("\n".join(verdicts))
    if options.tiny:
        print("(--tiny is a smoke run: start-up and imports dominate; the verdicts mean nothing)")
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
