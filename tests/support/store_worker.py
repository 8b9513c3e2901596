"""A separate process writing to a store, as a Voila kernel would; driven by tests/test_store.py.

Usage: ``python tests/support/store_worker.py MODE STORE [ARGS]``, where STORE is a SQLite file's path or
a PostgreSQL address, and MODE is

``save WORKER N``
    open the store, print ``ready``, wait for ``go`` on stdin, then save N links and N check-ins
    (alternating) under names unique to WORKER, and print ``done SECONDS``.
``commit``
    save links ``L0``, ``L1``... forever, printing each id once its transaction has committed.
``hold K``
    commit K links (printing each id), then stop inside the next link's transaction just before
    its COMMIT (event and link written, not committed), print ``holding`` and sleep until killed.
``write``
    open the store and save one link; print ``ok``, or the StoreError and exit with status 3.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from reviewkit.store.core import Decision, Store, StoreError


def save(store: Store, worker: str, count: int) -> None:
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("expected 'go' on stdin")
    start = time.perf_counter()
    for i in range(count):
        store.link(
            f"W{worker}-{i}",
            f"outcome-{i % 7}",
            hypothesis=f"worker {worker} save {i}",
            size=i / 10,
            lag_days=i,
        )
        store.checkin(
            f"W{worker}-outcome-{i}",
            "2026-10",
            status="at risk",
            note=f"note {i}",
            decisions=[Decision(f"decision {i}", owner=worker)],
        )
    print(f"done {time.perf_counter() - start:.3f}", flush=True)


def commit(store: Store) -> None:
    i = 0
    while True:
        store.link(f"L{i}", "outcome")
        print(f"L{i}", flush=True)
        i += 1


def hold(store: Store, count: int) -> None:
    for i in range(count):
        store.link(f"L{i}", "outcome")
        print(f"L{i}", flush=True)

    def pause_before_commit(statement: str) -> None:
        if statement == "COMMIT":
            print("holding", flush=True)
            time.sleep(600)

    # The store's one connection (idle between saves): the next link's event and row are
    # written, its COMMIT waits.
    (conn,) = store._db._idle
    conn.set_trace_callback(pause_before_commit)
    store.link("half", "outcome")


def write(path: Path) -> None:
    try:
        with Store(path, actor="worker") as store:
            store.link("RO-1", "outcome")
    except StoreError as exc:
        print(exc, flush=True)
        raise SystemExit(3) from None
    print("ok", flush=True)


def main(argv: list[str]) -> None:
    mode, location = argv[0], argv[1]
    if mode == "write":
        write(Path(location))
        return
    with Store(location, actor=f"worker-{mode}") as store:
        if mode == "save":
            save(store, argv[2], int(argv[3]))
        elif mode == "commit":
            commit(store)
        elif mode == "hold":
            hold(store, int(argv[2]))
        else:
            raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
