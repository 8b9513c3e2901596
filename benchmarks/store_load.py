"""Benchmark 4, the store under load: 8 processes saving links and check-ins as fast as they can
for 20 s (``--tiny``: 2 processes for 2 s), as Voila kernels of 8 viewers would.

reviewkit: each process opens ``reviewkit.store.core.Store`` once and alternates ``store.link(...)``
and ``store.checkin(...)``, each a new entity (one event each). A save is acknowledged when the
call returns; each process logs every acknowledged id and its latency (line-buffered, so a
killed process keeps its log). Afterwards every acknowledged id is looked up in the store (lost:
acknowledged but absent), the events are counted, and ``Store.verify()`` and SQLite's
``PRAGMA integrity_check`` must pass.

The peer is what an analyst might use instead: a shared DuckDB file, opened, inserted into and
closed per save, retrying while another process holds its lock (STACK-FACTS: DuckDB locks the
whole file per process). The same processes, the same duration, the same accounting. The sides
alternate, each run on a fresh file; medians over the runs (lost: summed over all runs).

Targets (issue 8): p99 save latency under 50 ms, and zero lost.
"""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import harness

TARGET_P99_MS = 50.0
#: how long past the deadline a process may take before it counts as hung and is killed
GRACE = 30.0
PERIOD = "2026-10"


# --- the worker processes -----------------------------------------------------------------------


def reviewkit_saver(path: Path, number: int) -> tuple[Callable[[int], str], Callable[[], None]]:
    """Save ``i`` through the store (a link for even ``i``, a check-in for odd); its key."""
    from reviewkit.store.core import Decision, Store  # noqa: PLC0415 (in the worker process)

    store = Store(path, actor=f"worker-{number}")

    def save(i: int) -> str:
        if i % 2 == 0:
            output = f"W{number}-{i}"
            store.link(
                output,
                f"outcome-{i % 7}",
                hypothesis=f"worker {number} save {i}",
                size=i / 10,
                lag_days=i % 90,
            )
            return f"L:{output}"
        outcome = f"W{number}-outcome-{i}"
        store.checkin(
            outcome,
            PERIOD,
            status="at risk",
            note=f"note {i}",
            decisions=[Decision(f"decision {i}", owner=f"worker-{number}")],
        )
        return f"C:{outcome}"

    return save, store.close


DUCKDB_TABLES = (
    "CREATE TABLE links (output_id TEXT, outcome_id TEXT, hypothesis TEXT, size DOUBLE, "
    "lag_days INTEGER, author TEXT, saved_at TIMESTAMP)",
    "CREATE TABLE checkins (outcome_id TEXT, period TEXT, status TEXT, note TEXT, "
    "decisions TEXT, author TEXT, saved_at TIMESTAMP)",
)


def duckdb_saver(path: Path, number: int) -> tuple[Callable[[int], str], Callable[[], None]]:
    """The naive peer: connect, insert, close per save; retry while the file is locked."""
    import duckdb  # noqa: PLC0415 (in the worker process)

    def insert(statement: str, values: list[Any]) -> None:
        pause = 0.001
        while True:
            try:
                connection = duckdb.connect(str(path))
            except duckdb.IOException as exc:  # "Could not set lock on file": another writer
                if "lock" not in str(exc).lower():
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
                continue
            try:
                connection.execute(statement, values)
            finally:
                connection.close()
            return

    def save(i: int) -> str:
        author = f"worker-{number}"
        if i % 2 == 0:
            output = f"W{number}-{i}"
            insert(
                "INSERT INTO links VALUES (?, ?, ?, ?, ?, ?, now())",
                [output, f"outcome-{i % 7}", f"worker {number} save {i}", i / 10, i % 90, author],
            )
            return f"L:{output}"
        outcome = f"W{number}-outcome-{i}"
        insert(
            "INSERT INTO checkins VALUES (?, ?, ?, ?, ?, ?, now())",
            [outcome, PERIOD, "at risk", f"note {i}", f'[{{"text": "decision {i}"}}]', author],
        )
        return f"C:{outcome}"

    return save, lambda: None


SAVERS = {"reviewkit": reviewkit_saver, "duckdb": duckdb_saver}


def worker(
    kind: str, path: Path, number: int, duration: float, ready: Any, go: Any, log: Path
) -> None:
    """Open the store, say ready, wait for go, then save for ``duration`` seconds; the log has
    ``A key seconds`` per acknowledged save, ``E error`` per failed one, ``D elapsed`` at the
    end."""
    with log.open("w", buffering=1) as out:
        save, close = SAVERS[kind](path, number)
        ready.put(number)
        go.wait()
        started = time.monotonic()
        deadline = started + duration
        i = 0
        while time.monotonic() < deadline:
            began = time.perf_counter()
            try:
                key = save(i)
            except Exception as exc:  # counted, not acknowledged
                text = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
                out.write(f"E {text}\n")
            else:
                out.write(f"A {key} {time.perf_counter() - began:.6f}\n")
            i += 1
        out.write(f"D {time.monotonic() - started:.6f}\n")
        close()


# --- one run of one side ------------------------------------------------------------------------


@dataclass
class Run:
    """What the logs of one run say."""

    acknowledged: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0


def read_logs(logs: list[Path]) -> Run:
    run = Run()
    for log in logs:
        for line in log.read_text().splitlines():
            mark, _, rest = line.partition(" ")
            if mark == "A":
                key, seconds = rest.rsplit(" ", 1)
                run.acknowledged.add(key)
                run.latencies.append(float(seconds))
            elif mark == "E":
                run.errors.append(rest)
            elif mark == "D":
                run.elapsed = max(run.elapsed, float(rest))
    return run


def prepare(kind: str, path: Path) -> None:
    """A fresh, empty store of the side's kind at ``path``."""
    if kind == "reviewkit":
        from reviewkit.store.core import Store  # noqa: PLC0415

        Store(path, actor="benchmark").close()
        return
    import duckdb  # noqa: PLC0415

    with duckdb.connect(str(path)) as connection:
        for statement in DUCKDB_TABLES:
            connection.execute(statement)


def stored(kind: str, path: Path) -> tuple[set[str], int, list[str]]:
    """The keys found in the store, its event count (reviewkit) and the checks that failed."""
    if kind == "reviewkit":
        from reviewkit.store.core import Store  # noqa: PLC0415

        failed = []
        with Store(path, actor="benchmark") as store:
            keys = {f"L:{link.output_id}" for link in store.links()}
            keys |= {f"C:{c.outcome_id}" for c in store.checkins()}
            if not store.verify():
                failed.append("Store.verify() is false")
        with sqlite3.connect(path) as connection:
            events = connection.execute("SELECT count(*) FROM events").fetchone()[0]
            check = connection.execute("PRAGMA integrity_check").fetchall()
        connection.close()
        if check != [("ok",)]:
            failed.append(f"integrity_check: {check[:3]}")
        return keys, events, failed
    import duckdb  # noqa: PLC0415

    try:
        with duckdb.connect(str(path), read_only=True) as connection:
            keys = {
                f"L:{r[0]}" for r in connection.execute("SELECT output_id FROM links").fetchall()
            }
            rows = connection.execute("SELECT outcome_id FROM checkins").fetchall()
            keys |= {f"C:{r[0]}" for r in rows}
            total = connection.execute(
                "SELECT (SELECT count(*) FROM links) + (SELECT count(*) FROM checkins)"
            ).fetchone()
    except duckdb.Error as exc:
        return set(), 0, [f"unreadable: {exc}"]
    return keys, int(total[0]) if total else 0, []


def run_side(kind: str, processes: int, duration: float, folder: Path) -> dict[str, float]:
    """One run: ``processes`` workers saving for ``duration`` seconds into a fresh store."""
    folder.mkdir(parents=True)
    path = folder / ("reviewkit.db" if kind == "reviewkit" else "naive.duckdb")
    prepare(kind, path)
    context = mp.get_context("spawn")
    ready, go = context.Queue(), context.Event()
    logs = [folder / f"worker-{n}.log" for n in range(processes)]
    workers = [
        context.Process(target=worker, args=(kind, path, n, duration, ready, go, logs[n]))
        for n in range(processes)
    ]
    for process in workers:
        process.start()
    for _ in workers:
        ready.get(timeout=120)
    go.set()
    began = time.monotonic()
    for process in workers:
        process.join(timeout=max(0.0, began + duration + GRACE - time.monotonic()))
    hung = [process for process in workers if process.is_alive()]
    for process in hung:
        process.kill()
        process.join()
    run = read_logs(logs)
    keys, rows, failed = stored(kind, path)
    lost = run.acknowledged - keys
    latencies = harness.Samples(kind, sorted(run.latencies))
    if failed or run.errors:
        print(f"{folder.name}: {'; '.join(failed + sorted(set(run.errors))[:3])}")
    return {
        "saves_per_s": len(run.acknowledged) / (run.elapsed or duration),
        "p50_ms": latencies.quantile(0.5) * 1000 if run.latencies else float("nan"),
        "p99_ms": latencies.quantile(0.99) * 1000 if run.latencies else float("nan"),
        "max_ms": max(run.latencies, default=float("nan")) * 1000,
        "acknowledged": len(run.acknowledged),
        "lost": len(lost),
        "unacknowledged_rows": rows - len(run.acknowledged & keys),
        "errors": len(run.errors),
        "hung": len(hung),
        "failed_checks": len(failed),
    }


def main() -> None:
    options = harness.arguments(__doc__.splitlines()[0], repeat=3)
    processes, duration = (2, 2.0) if options.tiny else (8, 20.0)
    work = options.work / "store_load"
    if work.exists():
        import shutil  # noqa: PLC0415

        shutil.rmtree(work)
    work.mkdir(parents=True)
    runs = {"reviewkit": 0, "duckdb": 0}

    def side(kind: str) -> Callable[[], dict[str, float]]:
        def one() -> dict[str, float]:
            runs[kind] += 1
            return run_side(kind, processes, duration, work / f"{kind}-{runs[kind]}")

        return one

    print(
        f"# Store under load: {processes} processes saving links and check-ins for {duration:g} s"
    )
    print(harness.machine())
    print(
        "reviewkit: Store (SQLite, WAL, BEGIN IMMEDIATE, synchronous=FULL), one per process; "
        "peer: a shared DuckDB file opened, inserted into and closed per save, retrying on its "
        "lock"
    )
    found = harness.alternate(
        {"reviewkit": side("reviewkit"), "duckdb": side("duckdb")}, options.repeat
    )

    def total(name: str, key: str) -> int:
        return round(sum(found[name].extra[key]))

    labels = {"reviewkit": "reviewkit Store", "duckdb": "DuckDB open/insert/close"}
    rows = [
        [
            label,
            found[name].median_of("saves_per_s"),
            found[name].median_of("p50_ms"),
            found[name].median_of("p99_ms"),
            max(found[name].extra["p99_ms"]),
            found[name].median_of("max_ms"),
            f"{round(found[name].median_of('acknowledged')):,}",
            total(name, "lost"),
            total(name, "unacknowledged_rows"),
            total(name, "errors"),
            total(name, "hung"),
            "ok" if total(name, "failed_checks") == 0 else "FAILED",
        ]
        for name, label in labels.items()
    ]
    print()
    print(
        harness.table(
            f"Medians of {options.repeat} run(s) per side, alternating (lost, extra rows, errors "
            "and hung: summed over the runs)",
            [
                "side",
                "saves/s",
                "p50 ms",
                "p99 ms",
                "worst p99 ms",
                "max ms",
                "acknowledged",
                "lost",
                "extra rows",
                "errors",
                "hung",
                "checks",
            ],
            rows,
        )
    )
    for name, label in labels.items():
        lost = ", ".join(str(round(n)) for n in found[name].extra["lost"])
        failed = sum(1 for n in found[name].extra["failed_checks"] if n)
        print(f"{label}, per run: lost {lost}; runs with a failed check: {failed}")
    ratio = found["reviewkit"].median_of("saves_per_s") / found["duckdb"].median_of("saves_per_s")
    p99 = found["duckdb"].median_of("p99_ms") / found["reviewkit"].median_of("p99_ms")
    print(
        f"ratio: reviewkit saves {ratio:.2f}x as many per second as the DuckDB peer, with a "
        f"p99 latency {p99:.2f}x lower"
    )
    print()
    print(
        harness.verdict(
            "target p99 latency under 50 ms (median of runs), ms",
            found["reviewkit"].median_of("p99_ms"),
            TARGET_P99_MS,
            higher_is_better=False,
        )
    )
    print(
        harness.verdict(
            "target zero lost (acknowledged saves missing, all runs)",
            total("reviewkit", "lost"),
            0,
            higher_is_better=False,
        )
    )
    print(
        harness.verdict(
            "target store intact (verify() and integrity_check failures, all runs)",
            total("reviewkit", "failed_checks"),
            0,
            higher_is_better=False,
        )
    )


if __name__ == "__main__":
    main()
