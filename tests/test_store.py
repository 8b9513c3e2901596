"""The store on real SQLite files and a real PostgreSQL server (every test that takes the
``store`` fixture runs on both): entities, the event log and undo, export/import, copying a store
between them, several processes writing at once or being killed mid-write
(tests/support/store_worker.py is the other side), and several threads sharing one store."""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from click.testing import CliRunner

from reviewkit.base import clock
from reviewkit.cli import main
from reviewkit.store.core import (
    CHECKIN,
    IMPORT_STAMPS,
    LINK,
    SCHEMA_VERSION,
    CheckIn,
    Decision,
    Entity,
    ImportResult,
    Link,
    Store,
    StoreError,
    convert_fields,
    store_as_of,
)
from reviewkit.store.files import export_links, import_links
from tests.support.postgres import PostgresServer

WORKER = Path(__file__).with_name("support") / "store_worker.py"
HOSTILE = [
    '=HYPERLINK("http://x")',
    "-1+1",
    "@SUM(A1)",
    "+33 6 12",
    "\tindented",
    "\rcarriage",
    "'already quoted",
    "-5% churn",
    "ünïcødé → 日本語 🚀",
    'line one\nline two, with comma and "quotes"\r\nthree',
    "  spaces around  ",
    "",
]


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work in tmp_path, so that messages show paths as users see them (relative)."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A new store, in a SQLite file and in a PostgreSQL database."""
    if request.param == "sqlite":
        location: Path | str = tmp_path / "store.sqlite"
    else:
        location = request.getfixturevalue("pg_url")
    with Store(location, actor="ana") as opened:
        yield opened


def tamper(store: Store, *statements: str) -> None:
    """Run ``statements`` on the store's tables the way another tool would, behind its back."""
    if isinstance(store.location, Path):
        with raw(store.location) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    with psycopg.connect(store.location, autocommit=True) as conn:
        conn.execute("SET search_path TO reviewkit")
        for statement in statements:
            conn.execute(statement)


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection, to look at the file the way another tool would."""
    return sqlite3.connect(path, timeout=30, isolation_level=None)


def integrity(path: Path) -> str:
    with raw(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def count(path: Path, table: str) -> int:
    conn = raw(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


# --- opening ----------------------------------------------------------------------------------


def test_new_store_settings_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "store.sqlite"
    with Store(path, actor="ana") as store:
        with store._db.read("checking its settings") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
            assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")
            }
            assert {"events", "links", "checkins", "manual_outputs", "reviews"} <= tables
        store.link("A", "B")
    with Store(path, actor="bo") as again:  # reopening migrates nothing and keeps the data
        assert [link.output_id for link in again.links()] == ["A"]


def test_default_actor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWKIT_USER", "carla")
    with Store(tmp_path / "s.sqlite") as store:
        assert store.actor == "carla"
        assert store.link("A", "B").author == "carla"
        assert store.link("A", "C", author="dan").author == "dan"
        assert [e.actor for e in store.events()] == ["carla", "dan"]


def test_not_a_store(tmp_path: Path) -> None:
    text = tmp_path / "notes.sqlite"
    text.write_text("hello, this is not SQLite at all" * 100)
    with pytest.raises(StoreError, match=r"notes\.sqlite: not a SQLite file"):
        Store(text)
    other = tmp_path / "other.sqlite"
    with raw(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match=r"other\.sqlite: a SQLite database, but not a reviewkit"):
        Store(other)
    newer = tmp_path / "newer.sqlite"
    Store(newer).close()
    with raw(newer) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match=r"newer.sqlite: .*newer reviewkit \(schema 99"):
        Store(newer)


def test_closed_store_says_so(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.close()
    store.close()
    with pytest.raises(StoreError, match=r"s\.sqlite: the store is closed"):
        store.links()


def test_events_are_append_only(store: Store) -> None:
    store.link("A", "B")
    for statement in ("UPDATE events SET actor = 'x'", "DELETE FROM events"):
        with pytest.raises((sqlite3.DatabaseError, psycopg.Error), match="append-only"):
            tamper(store, statement)
    assert [e.actor for e in store.events()] == ["ana"]


def test_lock_held_too_long_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path, actor="ana") as store:
        store.link("A", "B")
    blocker = raw(path)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with Store(path, actor="bo", timeout=0.3) as waiting:
            assert len(waiting.links()) == 1  # readers are not blocked by a writer
            start = time.perf_counter()
            with pytest.raises(StoreError) as caught:
                waiting.link("C", "D")
            waited = time.perf_counter() - start
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert 0.3 <= waited < 3
    message = str(caught.value)
    assert message.startswith("store.sqlite: the store stayed locked by another writer")
    assert "for more than 0.3 s while saving link C→D" in message
    assert "finish or close it, then try again" in message
    with Store(path) as store:
        store.link("C", "D")
        assert len(store.links()) == 2
        assert store.verify()


def _run_restricted(path: Path) -> subprocess.CompletedProcess[str]:
    """Run the worker's `write` mode as a user that file permissions apply to. As root (where
    chmod blocks nothing), drop the capabilities that bypass them with setpriv."""
    command = [sys.executable, str(WORKER), "write", str(path)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        drop = "--bounding-set=-dac_override,-dac_read_search"
        if setpriv is None or subprocess.run([setpriv, drop, "true"], check=False).returncode:
            pytest.skip("running as root without setpriv able to drop CAP_DAC_OVERRIDE")
        command = [setpriv, drop, *command]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=60, cwd=path.parent, check=False
    )


def test_read_only_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        store.link("A", "B")
    path.chmod(0o444)
    try:
        done = _run_restricted(path)
    finally:
        path.chmod(0o644)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith("store.sqlite: cannot write while saving link RO-1→outcome")
    assert "read-only for this user" in done.stdout
    assert "Traceback" not in done.stderr
    with Store(path) as store:
        assert [link.output_id for link in store.links()] == ["A"]
        assert store.verify()


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    Store(path).close()
    path.chmod(0o000)
    try:
        done = _run_restricted(path)
    finally:
        path.chmod(0o644)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith("store.sqlite: cannot open the store")
    assert "Traceback" not in done.stderr


# --- links ------------------------------------------------------------------------------------


def test_link_create_update_keeps_created_at(store: Store) -> None:
    first = store.link("ONB-241", "activation-onboarding", hypothesis="Fewer steps", size=2.5)
    assert first == Link(
        "ONB-241",
        "activation-onboarding",
        "Fewer steps",
        "increase",
        2.5,
        None,
        "medium",
        "ana",
        first.created_at,
        first.created_at,
    )
    assert first.created_at.tzinfo == dt.UTC
    second = store.link(
        "ONB-241",
        "activation-onboarding",
        hypothesis="Fewer steps, clearer copy",
        direction="decrease",
        lag_days=30,
        confidence="HIGH",
        author="bo",
    )
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    assert (second.direction, second.confidence, second.author) == ("decrease", "high", "bo")
    assert store.links() == [second]
    events = store.events()
    assert [(e.kind, e.key, e.actor) for e in events] == [
        ("link", "ONB-241→activation-onboarding", "ana"),
        ("link", "ONB-241→activation-onboarding", "bo"),
    ]
    assert events[0].before is None
    assert events[1].before == events[0].after
    assert events[1].after is not None
    assert events[1].after["hypothesis"] == "Fewer steps, clearer copy"
    assert store.verify()


def test_saving_an_unchanged_link_records_nothing(store: Store) -> None:
    first = store.link("A", "B", hypothesis="h")
    assert store.link("A", "B", hypothesis="h", author="bo") == first
    assert len(store.events()) == 1


def test_links_filter_and_order(store: Store) -> None:
    store.link("B", "x")
    store.link("A", "y")
    store.link("A", "x")
    assert [(k.output_id, k.outcome_id) for k in store.links()] == [
        ("A", "x"),
        ("A", "y"),
        ("B", "x"),
    ]
    assert [k.output_id for k in store.links(outcome_id="x")] == ["A", "B"]
    assert [k.outcome_id for k in store.links(output_id="A")] == ["x", "y"]
    assert store.links(outcome_id="x", output_id="B")[0].output_id == "B"


def test_unlink(store: Store) -> None:
    kept = store.link("A", "B", hypothesis="h")
    assert store.unlink("A", "B", author="bo") == kept
    assert store.links() == []
    last = store.events()[-1]
    assert (last.kind, last.actor, last.after) == ("unlink", "bo", None)
    with pytest.raises(StoreError, match=r": there is no link A→B to remove"):
        store.unlink("A", "B")
    assert store.verify()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"direction": "up"}, "direction 'up' is not one of increase, decrease"),
        ({"confidence": "hgh"}, "confidence 'hgh' is not one of low, medium, high"),
        ({"size": float("nan")}, "size nan is not a number"),
        ({"lag_days": -3}, "lag_days -3 is not a whole number of days"),
        ({"lag_days": 1.5}, "lag_days 1.5 is not a whole number of days"),
        ({"hypothesis": 5}, "hypothesis 5 is not text"),
    ],
)
def test_link_rejects_bad_values(store: Store, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(
        StoreError, match=re.escape(f"{store.shown}: cannot save link A→B")
    ) as caught:
        store.link("A", "B", **kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert store.events() == []


def test_link_rejects_bad_ids(store: Store) -> None:
    with pytest.raises(StoreError) as caught:
        store.link(" A", "", confidence="x")
    message = str(caught.value)
    assert "output_id ' A' has spaces around it; remove them" in message
    assert "outcome_id is missing or empty" in message
    assert "confidence 'x'" in message  # every problem at once


def test_values_are_bound_not_spliced(store: Store) -> None:
    nasty = "x'); DROP TABLE links; --"
    store.link(nasty, "B", hypothesis="<script>alert(1)</script>")
    link = store.links()[0]
    assert (link.output_id, link.hypothesis) == (nasty, "<script>alert(1)</script>")


# --- check-ins, outputs, reviews --------------------------------------------------------------


def test_checkin_create_replace(store: Store) -> None:
    decisions = [
        Decision("Ship checklist", "ana", dt.date(2026, 11, 30)),
        Decision("Drop the tour", done=True),
    ]
    first = store.checkin(
        "activation",
        "2026-10",
        status="at risk",
        proposed_status="off track",
        confidence="low",
        note="Signups dipped",
        decisions=decisions,
    )
    assert first == CheckIn(
        "activation",
        "2026-10",
        "at risk",
        "off track",
        "low",
        "Signups dipped",
        tuple(decisions),
        "ana",
        first.created_at,
        first.created_at,
    )
    second = store.checkin("activation", "2026-10", status="on track", author="bo")
    assert second.created_at == first.created_at
    assert (second.note, second.decisions, second.proposed_status) == ("", (), None)
    store.checkin("activation", "2026-11", status="off track")
    store.checkin("retention", "2026-10", status="on track")
    assert [(c.outcome_id, c.period) for c in store.checkins()] == [
        ("activation", "2026-10"),
        ("activation", "2026-11"),
        ("retention", "2026-10"),
    ]
    assert [c.outcome_id for c in store.checkins(period="2026-10")] == ["activation", "retention"]
    assert [c.period for c in store.checkins(outcome_id="activation", period="2026-11")] == [
        "2026-11"
    ]
    assert store.events(key="activation@2026-10")[1].before == store.events()[0].after
    assert store.verify()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"period": "Oct 2026"}, "period 'Oct 2026' is not a period label"),
        ({"period": "fy2027"}, "period 'fy2027' is not a period label; write one like 'FY2027'"),
        ({"period": "2026-13"}, "period '2026-13' is not a period label"),
        ({"status": "fine"}, "status 'fine' is not one of on track, at risk, off track"),
        ({"proposed_status": "n/a"}, "proposed_status 'n/a' is not one of"),
        ({"decisions": ["do it"]}, "decisions[1] 'do it' is not a decision"),
        ({"decisions": [Decision("  ")]}, "decisions[1].text is missing or empty"),
    ],
)
def test_checkin_rejects_bad_values(store: Store, kwargs: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"period": "2026-10", "status": "on track", **kwargs}
    with pytest.raises(StoreError, match="cannot save checkin") as caught:
        store.checkin("activation", **values)  # type: ignore[arg-type]
    assert message in str(caught.value)


def test_period_labels_of_every_grain(store: Store) -> None:
    for period in ("2026-10-05", "2026-W41", "2026-10", "2026-Q4", "2026", "FY2027-Q1", "FY2027"):
        assert store.checkin("o", period, status="on track").period == period


def test_manual_outputs(store: Store) -> None:
    added = store.add_output(
        "DOC-9",
        title="Pricing page rewrite",
        team="growth",
        delivered=dt.date(2026, 10, 3),
        type="content",
        effort=3,
        url="https://example.com/doc-9",
        labels=["pricing", "q4"],
    )
    assert (added.effort, added.labels, added.delivered) == (
        3.0,
        ("pricing", "q4"),
        dt.date(2026, 10, 3),
    )
    replaced = store.add_output(
        "DOC-9", title="Pricing page", team="growth", delivered=dt.date(2026, 10, 4)
    )
    assert replaced.created_at == added.created_at
    assert (replaced.url, replaced.labels, replaced.type) == (None, (), "")
    assert store.manual_outputs() == [replaced]
    assert store.remove_output("DOC-9") == replaced
    assert store.manual_outputs() == []
    with pytest.raises(StoreError, match="there is no output DOC-9 to remove"):
        store.remove_output("DOC-9")
    with pytest.raises(StoreError, match="labels 'pricing' is not a list of labels"):
        store.add_output("X", title="t", team="g", delivered=dt.date(2026, 1, 1), labels="pricing")
    assert [e.kind for e in store.events()] == ["output", "output", "remove_output"]
    assert store.verify()


def test_reviews(store: Store) -> None:
    company = store.complete_review("2026-10")
    growth = store.complete_review("2026-10", team="growth", author="bo")
    assert (company.team, growth.team, growth.author) == (None, "growth", "bo")
    again = store.complete_review("2026-10")
    assert again.completed_at > company.completed_at
    assert store.reviews() == [again, growth]
    assert [e.key for e in store.events()] == [
        "review:2026-10",
        "review:2026-10:growth",
        "review:2026-10",
    ]
    assert store.verify()


# --- history, undo, rebuild -------------------------------------------------------------------


def test_undo_link_update_then_create(store: Store) -> None:
    created = store.link("A", "B", hypothesis="first")
    store.link("A", "B", hypothesis="second", size=1.0)
    first_undo = store.undo()
    assert first_undo is not None
    assert (first_undo.kind, first_undo.undoes) == ("undo", 2)
    assert store.links() == [created]  # back to the before image, timestamps included
    second_undo = store.undo()
    assert second_undo is not None
    assert second_undo.undoes == 1
    assert store.links() == []
    assert store.undo() is None
    assert [(e.kind, e.undoes) for e in store.events()] == [
        ("link", None),
        ("link", None),
        ("undo", 2),
        ("undo", 1),
    ]
    assert store.verify()


def test_undo_unlink_restores_the_link(store: Store) -> None:
    created = store.link("A", "B", hypothesis="h", lag_days=14)
    store.unlink("A", "B")
    store.undo()
    assert store.links() == [created]
    assert store.verify()


def test_undo_checkin_replace_restores_the_previous_one(store: Store) -> None:
    first = store.checkin("o", "2026-10", status="at risk", note="why", decisions=[Decision("x")])
    store.checkin("o", "2026-10", status="on track")
    store.undo()
    assert store.checkins() == [first]
    store.undo()
    assert store.checkins() == []
    assert store.verify()


def test_undo_is_per_actor(store: Store) -> None:
    store.link("A", "B", author="ana")
    store.link("C", "D", author="bo")
    store.link("E", "F", author="ana")
    store.undo(author="bo")
    assert [k.output_id for k in store.links()] == ["A", "E"]
    store.undo(author="ana")
    assert [k.output_id for k in store.links()] == ["A"]
    assert store.undo(author="bo") is None
    assert store.verify()


def test_undo_refuses_to_overwrite_someone_elses_later_change(store: Store) -> None:
    store.link("A", "B", hypothesis="ana's", author="ana")
    store.link("A", "B", hypothesis="bo's", author="bo")
    with pytest.raises(StoreError, match=r"cannot undo link A→B \(event 1\): bo changed it since"):
        store.undo(author="ana")
    assert store.links()[0].hypothesis == "bo's"
    assert len(store.events()) == 2


def test_undo_of_outputs_and_reviews(store: Store) -> None:
    store.add_output("X", title="t", team="g", delivered=dt.date(2026, 1, 1))
    store.remove_output("X")
    store.complete_review("2026-10")
    store.undo()
    assert store.reviews() == []
    store.undo()
    assert [o.output_id for o in store.manual_outputs()] == ["X"]
    assert store.verify()


def test_events_filters_and_changes_since(store: Store) -> None:
    store.link("old", "o")
    store.link("gone", "o")
    review = store.complete_review("2026-09")
    store.link("kept", "o", author="bo")
    store.link("new", "o")
    store.link("oops", "o")
    store.undo()  # undoes "oops": the pair cancels out
    store.unlink("gone", "o")
    store.undo()  # undoes the unlink: cancels out
    store.undo()  # undoes "new": cancels out
    store.undo()  # undoes the review, which happened before: a real change
    after = store.events(since=review.completed_at)
    assert [e.key for e in after[:2]] == ["kept→o", "new→o"]
    assert all(e.at > review.completed_at for e in after)
    assert [(e.kind, e.key) for e in store.changes_since(review.completed_at)] == [
        ("link", "kept→o"),
        ("undo", "review:2026-09"),
    ]
    assert [e.kind for e in store.events(key="gone→o")] == ["link", "unlink", "undo"]
    assert store.events(since=clock.now(dt.UTC)) == []
    assert [k.output_id for k in store.links()] == ["gone", "kept", "old"]
    assert store.verify()


def test_verify_detects_drift_and_rebuild_repairs_it(store: Store) -> None:
    store.link("A", "B", hypothesis="h")
    store.checkin("o", "2026-10", status="on track")
    store.link("C", "D")
    store.unlink("C", "D")
    assert store.verify()
    tamper(
        store,
        "UPDATE links SET hypothesis = 'edited behind our back'",
        "DELETE FROM checkins",
        "INSERT INTO links VALUES ('X', 'Y', '', 'increase', NULL, NULL, 'low', 'z', 't', 't')",
    )
    assert not store.verify()
    store.rebuild()
    assert store.verify()
    assert [(k.output_id, k.hypothesis) for k in store.links()] == [("A", "h")]
    assert [c.outcome_id for c in store.checkins()] == ["o"]


def test_store_as_of_an_event_replays_the_log_up_to_it(store: Store, tmp_path: Path) -> None:
    store.link("A", "B", hypothesis="first")
    store.checkin("B", "2026-10", status="at risk", note="slow start")
    store.add_output("M-1", title="By hand", team="t", delivered=dt.date(2026, 10, 3))
    position = store.events()[-1].id
    then = (store.links(), store.checkins(), store.manual_outputs(), store.reviews())
    store.link("A", "B", hypothesis="edited later")
    store.link("C", "B")
    store.unlink("A", "B")
    store.checkin("B", "2026-10", status="on track")
    store.complete_review("2026-10")
    events = store.events()
    file = store.location.read_bytes() if isinstance(store.location, Path) else None

    with store_as_of(store.location, tmp_path / "then.sqlite", position) as copy:
        assert (copy.links(), copy.checkins(), copy.manual_outputs(), copy.reviews()) == then
        assert copy.events() == events[: len(copy.events())]
        assert copy.events()[-1].id == position
        assert copy.verify()
    assert store.events() == events  # the original is only read
    assert file is None or store.location.read_bytes() == file

    with pytest.raises(StoreError, match="already exists"):
        store_as_of(store.location, tmp_path / "then.sqlite", position)
    with pytest.raises(StoreError, match=f"ends at event {events[-1].id}, before event 99"):
        store_as_of(store.location, tmp_path / "later.sqlite", 99)
    with pytest.raises(StoreError, match="no store here"):
        store_as_of(tmp_path / "missing.sqlite", tmp_path / "x.sqlite", 1)
    (tmp_path / "other.sqlite").write_bytes(b"not a database, just text" * 100)
    with pytest.raises(StoreError, match="not a SQLite file, so not a reviewkit store"):
        store_as_of(tmp_path / "other.sqlite", tmp_path / "y.sqlite", 1)
    with store_as_of(store.location, tmp_path / "empty.sqlite", 0) as empty:
        assert empty.events() == [] and empty.links() == []


# --- export and import ------------------------------------------------------------------------


def fill(store: Store) -> None:
    """Links and check-ins with every hostile text in every text field, unicode, numbers."""
    for i, text in enumerate(HOSTILE):
        store.link(
            f"OUT-{i}",
            text.strip() or "blank",
            hypothesis=text,
            direction="decrease" if i % 2 else "increase",
            size=[None, -5.0, 0.1, 1e-7, 12345.678][i % 5],
            lag_days=[None, 0, 30][i % 3],
            confidence=("low", "medium", "high")[i % 3],
            author=text.strip() or "ana",
        )
        store.checkin(
            text.strip() or "blank",
            "2026-10",
            status=("on track", "at risk", "off track")[i % 3],
            proposed_status=(None, "off track")[i % 2],
            note=text,
            decisions=[Decision(text or "x", text, dt.date(2026, 11, i + 1), bool(i % 2))],
        )


@pytest.mark.parametrize("name", ["export.yaml", "export.yml", "export.csv"])
def test_export_import_round_trip(tmp_path: Path, name: str, location: Path | str) -> None:
    with Store(tmp_path / "a.sqlite", actor="ana") as source:
        fill(source)
        written = export_links(source, tmp_path / "out" / name)
        links, checkins = source.links(), source.checkins()
    assert len(links) == len(checkins) == len(HOSTILE)
    with Store(location, actor="bo") as target:  # a SQLite file, or PostgreSQL
        assert import_links(target, written[0]) == ImportResult(2 * len(HOSTILE), 0, 0)
        assert target.links() == links
        assert target.checkins() == checkins
        assert {e.actor for e in target.events()} == {"bo"}
        again = export_links(target, tmp_path / "again" / name)
        assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]
        # idempotent: re-importing what is there appends nothing
        events = len(target.events())
        assert import_links(target, written[0]) == ImportResult(0, 0, 2 * len(HOSTILE))
        assert len(target.events()) == events
        assert target.verify()


def uncommented(text: str) -> str:
    """The export with its commented examples' lines (``# - key:`` and ``#   key:``) made YAML,
    as a user would uncomment them; the prose comments stay comments."""
    return re.sub(r"^# (?=- |  )", "", text, flags=re.M)


def test_an_empty_store_exports_a_commented_template_that_imports_as_is(tmp_path: Path) -> None:
    path = tmp_path / "links.yaml"
    with Store(tmp_path / "s.sqlite", actor="bo") as store:
        assert export_links(store, path) == [path]
        text = path.read_text(encoding="utf-8")
        assert "\nlinks:\n# - output_id: WEB-12 " in text and "\ncheckins:\n# - outcome_id:" in text
        assert import_links(store, path) == ImportResult(0, 0, 0)  # as it is: nothing
        assert store.events() == []
        # uncommented, the examples are one link and one check-in with every field, as written
        path.write_text(uncommented(text), encoding="utf-8")
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        every = {"author", "created_at", "updated_at"}
        assert set(raw["links"][0]) == {*LINK.fields, *every}
        assert set(raw["checkins"][0]) == {*CHECKIN.fields, *every}
        assert set(raw["checkins"][0]["decisions"][0]) == {"text", "owner", "due", "done"}
        assert import_links(store, path) == ImportResult(2, 0, 0)
        (link,) = store.links()
        (checkin,) = store.checkins()
    assert link == Link(
        "WEB-12",
        "more-signups",
        "Fewer fields, so fewer visitors give up half-way",
        "increase",
        3.0,
        7,
        "medium",
        "ana",
        dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC),
    )
    assert (checkin.period, checkin.status, checkin.proposed_status, checkin.decisions) == (
        "2026-11",
        "at risk",
        "off track",
        (Decision("Try a one-field form", "ana", dt.date(2026, 12, 15), False),),
    )


def test_only_an_empty_list_gets_the_commented_example(tmp_path: Path) -> None:
    path = tmp_path / "links.yaml"
    with Store(tmp_path / "s.sqlite", actor="bo") as store:
        store.link("A-1", "act", hypothesis="h")
        export_links(store, path)
        text = path.read_text(encoding="utf-8")
        assert "# - output_id:" not in text and "\ncheckins:\n# - outcome_id:" in text
        assert import_links(store, path) == ImportResult(0, 0, 1)
        store.checkin("act", "2026-10", status="on track")
        export_links(store, path)
        assert "# -" not in path.read_text(encoding="utf-8")


def test_csv_export_neutralises_formulas(tmp_path: Path) -> None:
    with Store(tmp_path / "a.sqlite") as store:
        fill(store)
        links_path, checkins_path = export_links(store, tmp_path / "links.csv")
    assert checkins_path.name == "links.checkins.csv"
    assert links_path.read_bytes().startswith(b"\xef\xbb\xbfoutput_id,outcome_id,hypothesis,")
    for path in (links_path, checkins_path):
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        for row in rows:
            for column, cell in row.items():
                if column in ("size", "lag_days"):
                    continue  # numbers: a spreadsheet reads -5.0 as minus five, harmlessly
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    text = links_path.read_text(encoding="utf-8-sig")
    for hostile in ('\'=HYPERLINK(""http://x"")', "'-1+1", "'@SUM(A1)", "'-5% churn", "''already"):
        assert hostile in text


def test_import_updates_changed_rows_and_keeps_created_at(tmp_path: Path) -> None:
    path = tmp_path / "links.yaml"
    with Store(tmp_path / "s.sqlite", actor="ana") as store:
        before = store.link("A", "B", hypothesis="old idea")
        store.link("C", "D")
        export_links(store, path)
        path.write_text(path.read_text().replace("old idea", "new idea"))
        assert import_links(store, path, author="bo") == ImportResult(0, 1, 1)
        (after, _) = store.links()
        assert (after.hypothesis, after.author) == ("new idea", "bo")
        assert after.created_at == before.created_at
        assert after.updated_at > before.updated_at
        event = store.events()[-1]
        assert (event.kind, event.actor, event.key) == ("link", "bo", "A→B")
        assert event.before is not None
        assert event.after is not None
        assert (event.before["hypothesis"], event.after["hypothesis"]) == ("old idea", "new idea")
        assert store.verify()


def test_import_hand_written_minimal_files(tmp_path: Path) -> None:
    yaml_path = tmp_path / "hand.yaml"
    yaml_path.write_text(
        "links:\n"
        "- {output_id: ONB-1, outcome_id: activation, confidence: High, size: 3}\n"
        "checkins:\n"
        "- outcome_id: activation\n"
        "  period: 2026-10\n"
        "  status: At Risk\n"
        "  decisions: [{text: call them, due: 2026-11-02}]\n",
        encoding="utf-8",
    )
    csv_path = tmp_path / "hand.csv"
    csv_path.write_text("outcome_id,output_id\nretention,ONB-2\n", encoding="utf-8")
    with Store(tmp_path / "s.sqlite", actor="ana") as store:
        assert import_links(store, yaml_path) == ImportResult(2, 0, 0)
        assert import_links(store, csv_path) == ImportResult(1, 0, 0)
        links = store.links()
        assert [(k.output_id, k.confidence, k.size, k.author) for k in links] == [
            ("ONB-1", "high", 3.0, "ana"),
            ("ONB-2", "medium", None, "ana"),
        ]
        (checkin,) = store.checkins()
        assert checkin.status == "at risk"
        assert checkin.decisions == (Decision("call them", "", dt.date(2026, 11, 2)),)


BAD_LINKS = """\
output_id,outcome_id,hypothesis,direction,size,lag_days,confidence
OK-1,activation,fine,increase,1.5,,medium
OK-2,activation,"size is
wrong",increase,abc,,low
OK-3,activation,typo,increase,,,hgh
OK-4,activation,,sideways,,-2,high
OK-1,activation,duplicate,increase,,,low
"""

BAD_CHECKINS = """\
outcome_id,period,status,decisions
activation,2026-10,on track,
activation,Oct,on track,"[{""text"": ""x""}"
"""


def test_import_csv_is_all_or_nothing_and_reports_every_problem(tmp_path: Path) -> None:
    links = tmp_path / "links.csv"
    links.write_text(BAD_LINKS, encoding="utf-8")
    (tmp_path / "links.checkins.csv").write_text(BAD_CHECKINS, encoding="utf-8")
    with Store(tmp_path / "s.sqlite") as store:
        store.link("KEEP", "me")
        with pytest.raises(StoreError) as caught:
            import_links(store, links)
        assert [k.output_id for k in store.links()] == ["KEEP"]
        assert store.checkins() == []
        assert len(store.events()) == 1
    message = str(caught.value)
    lines = message.splitlines()
    assert lines[0] == "links.csv: nothing imported; fix these and import again:"
    assert lines[1:] == [
        "links.checkins.csv:3: period 'Oct' is not a period label; write one like '2026-10'",
        "links.checkins.csv:3: decisions is not valid JSON (Expecting ',' delimiter at character "
        '15); write a list like [{"text": "Ship the new checklist", "owner": "ana", "due": '
        '"2026-11-30", "done": false}]',
        "links.csv:3: size 'abc' is not a number; write one like 2.5, or leave it empty",
        "links.csv:5: confidence 'hgh' is not one of low, medium, high",
        "links.csv:6: direction 'sideways' is not one of increase, decrease",
        "links.csv:6: lag_days '-2' is not a whole number of days (0 or more); write the days "
        "from delivery until the KPI should move, e.g. 30, or leave it empty for the outcome's "
        "lag",
        "links.csv:7: link OK-1→activation is already on line 2; keep one of them",
    ]
    assert len(caught.value.problems) == 7


def test_import_csv_header_problems(tmp_path: Path) -> None:
    path = tmp_path / "links.csv"
    path.write_text("output_id,outcom_id,output_id\nA,B,C\n", encoding="utf-8")
    with Store(tmp_path / "s.sqlite") as store, pytest.raises(StoreError) as caught:
        import_links(store, path)
    message = str(caught.value)
    assert (
        "links.csv:1:2: unknown column 'outcom_id'; the columns are output_id, outcome_id,"
        in message
    )
    assert "links.csv:1:3: column 'output_id' appears twice; keep one" in message
    assert "links.csv:1: column 'outcome_id' is missing; add it" in message


BAD_YAML = """\
links:
- output_id: OK-1
  outcome_id: activation
  confidence: hgh
- output_id: OK-2
  outcome_id: activation
  size: lots
  colour: blue
checkins:
- outcome_id: activation
  period: 2026-10
  status: meh
  decisions:
  - text: follow up
    due: someday
"""


def test_import_yaml_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_YAML, encoding="utf-8")
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(StoreError) as caught:
            import_links(store, path)
        assert store.events() == []
    assert str(caught.value).splitlines()[1:] == [
        "bad.yaml:4:15: confidence 'hgh' is not one of low, medium, high",
        "bad.yaml:8:3: key 'colour' is unknown; keys are output_id, outcome_id, hypothesis, "
        "direction, size, lag_days, confidence, author, created_at, updated_at",
        "bad.yaml:12:11: status 'meh' is not one of on track, at risk, off track",
        "bad.yaml:15:10: decisions[1].due 'someday' is not a date; write it as YYYY-MM-DD",
    ]


def test_import_yaml_syntax_error_and_wrong_shapes(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("links:\n- output_id: [unclosed\n", encoding="utf-8")
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(StoreError, match=r"broken.yaml:3:1: YAML syntax error"):
            import_links(store, path)
        path.write_text("- just a list\n", encoding="utf-8")
        with pytest.raises(StoreError, match=r"broken.yaml: expected `links:` and `checkins:`"):
            import_links(store, path)
        path.write_text("links: yes\noutcomes: []\n", encoding="utf-8")
        with pytest.raises(StoreError) as caught:
            import_links(store, path)
        assert "broken.yaml:1: links is not a list" in str(caught.value)
        assert "broken.yaml:2:1: top-level key 'outcomes' is not links or checkins" in str(
            caught.value
        )
        path.write_text("links:\ncheckins: []\n", encoding="utf-8")
        assert import_links(store, path) == ImportResult(0, 0, 0)


def test_import_refuses_unknown_ids_when_told_which_exist(tmp_path: Path) -> None:
    path = tmp_path / "links.csv"
    path.write_text("output_id,outcome_id\nONB-1,activation\nONB-9,activation\nONB-1,churn\n")
    (tmp_path / "links.checkins.csv").write_text(
        "outcome_id,period,status\nchurn,2026-10,at risk\n"
    )
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(StoreError) as caught:
            import_links(store, path, known_outputs={"ONB-1"}, known_outcomes={"activation"})
        assert store.events() == []
        assert str(caught.value).splitlines()[1:] == [
            "links.checkins.csv:2: outcome_id 'churn' is not a known outcome; fix the id or add "
            "the outcome",
            "links.csv:3: output_id 'ONB-9' is not a known output; fix the id or add the output",
            "links.csv:4: outcome_id 'churn' is not a known outcome; fix the id or add the outcome",
        ]
        result = import_links(store, path, known_outputs={"ONB-1", "ONB-9"}, known_outcomes=None)
        assert result == ImportResult(4, 0, 0)


def test_import_and_export_file_problems(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite") as store:
        with pytest.raises(StoreError, match=r"links.txt: unknown export format '.txt'"):
            export_links(store, tmp_path / "links.txt")
        with pytest.raises(StoreError, match=r"missing.csv: cannot read it"):
            import_links(store, tmp_path / "missing.csv")
        with pytest.raises(StoreError, match=r"x.checkins.csv: this is the check-ins half"):
            import_links(store, tmp_path / "x.checkins.csv")
        latin = tmp_path / "latin.csv"
        latin.write_bytes("output_id,outcome_id\nCAF\xc9,x\n".encode("latin-1"))
        with pytest.raises(StoreError, match=r"latin.csv: not UTF-8 text"):
            import_links(store, latin)


# --- several processes ------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a new store goes: a SQLite file's path, or a new PostgreSQL database's address."""
    if request.param == "sqlite":
        return tmp_path / "shared.sqlite"
    return str(request.getfixturevalue("pg_url"))


def counts(location: Path | str) -> tuple[int, int, int]:
    """Events, links and check-ins, read in one statement (one snapshot) by another client."""
    query = (
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM links), "
        "(SELECT count(*) FROM checkins)"
    )
    if isinstance(location, Path):
        conn = raw(location)
        try:
            return tuple(conn.execute(query).fetchone())
        finally:
            conn.close()
    with psycopg.connect(location, autocommit=True) as pg:
        pg.execute("SET search_path TO reviewkit")
        return tuple(pg.execute(query).fetchone())


def test_eight_processes_write_at_once_and_lose_nothing(location: Path | str) -> None:
    workers, each = 8, 100
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), "save", str(location), str(w), str(each)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for w in range(workers)
    ]
    try:
        for proc in procs:  # every worker has opened (and raced to create) the store
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        go = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        polls, last = 0, 0
        with Store(location, actor="reader") as reader:
            while any(proc.poll() is None for proc in procs) or polls == 0:
                # events and state always agree
                events, links, checkins = counts(location)
                assert events == links + checkins
                assert events >= last
                last = events
                if polls % 10 == 0:
                    assert reader.verify()
                polls += 1
                time.sleep(0.01)
        writing = time.perf_counter() - go
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert [proc.returncode for proc in procs] == [0] * workers, outputs
    total = workers * each * 2
    with Store(location) as store:
        links, checkins = store.links(), store.checkins()
        assert len(links) + len(checkins) == total
        assert {k.output_id for k in links} == {
            f"W{w}-{i}" for w in range(workers) for i in range(each)
        }
        assert len(store.events()) == total
        assert store.verify()
    assert counts(location)[0] == total
    assert not isinstance(location, Path) or integrity(location) == "ok"
    print(
        f"\n{workers} processes x {2 * each} saves: {writing:.2f} s writing "
        f"({total / writing:.0f} saves/s), {time.perf_counter() - start:.2f} s in all, "
        f"{polls} reader polls; per worker: {[o.split()[-1] for o in outputs]}"
    )


def _wait_for(proc: subprocess.Popen[str], line: str) -> list[str]:
    """Lines the worker printed before ``line`` (fails if it exits first)."""
    assert proc.stdout is not None
    seen: list[str] = []
    while True:
        got = proc.stdout.readline()
        assert got, f"worker exited ({proc.wait()}) before printing {line!r}: {seen}"
        if got.strip() == line:
            return seen
        seen.append(got.strip())


def test_killed_mid_transaction_loses_only_the_half_transaction(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "hold", str(path), "5"], stdout=subprocess.PIPE, text=True
    )
    try:
        committed = _wait_for(proc, "holding")
        assert committed == [f"L{i}" for i in range(5)]
        with Store(path, timeout=0.2) as other:
            assert [k.output_id for k in other.links()] == sorted(committed)  # half is invisible
            with pytest.raises(StoreError, match="stayed locked by another writer"):
                other.link("blocked", "o")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Store(path, actor="after") as store:
        assert sorted(k.output_id for k in store.links()) == sorted(committed)
        assert len(store.events()) == 5
        assert store.verify()
        store.link("after-kill", "o")
        assert len(store.links()) == 6
        assert store.verify()
    assert integrity(path) == "ok"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_at_random_points_never_loses_a_commit(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "store.sqlite"
    delay = random.Random(seed).uniform(0.05, 0.4)
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), "commit", str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        time.sleep(delay)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
    # read(), not communicate(timeout=...): that reads the pipe itself and would drop the lines
    # readline() took in with the first one (a parent late to read gets several at once)
    with proc.stdout:
        rest = proc.stdout.read()
    proc.wait(timeout=30)
    acknowledged = {first, *rest.split()}
    with Store(path) as store:
        stored = {k.output_id for k in store.links()}
        assert acknowledged <= stored, f"seed {seed}: lost {sorted(acknowledged - stored)}"
        assert len(stored - acknowledged) <= 1  # at most the one committed but not yet printed
        assert len(store.events()) == len(stored)
        assert store.verify()
        store.link("after-kill", "o")
    assert integrity(path) == "ok"
    print(f"\nseed {seed}: killed after {delay:.2f} s, {len(acknowledged)} commits acknowledged")


# --- several threads --------------------------------------------------------------------------

#: Seconds any thread's work may take: a deadlock fails the test instead of hanging it.
THREADED = 60


def test_a_store_opened_on_one_thread_is_used_from_another(location: Path | str) -> None:
    """JupyterLab 4.6 delivers widget messages on a kernel subshell thread (issue 29): the store
    opened on the main thread is read there twice in a row (a second key typed in a search box),
    written there, and the main thread sees the change."""
    with Store(location, actor="ana") as store:
        store.link("A", "o")
        with ThreadPoolExecutor(1, thread_name_prefix="subshell") as subshell:
            first = subshell.submit(store.manual_outputs).result(timeout=THREADED)
            second = subshell.submit(store.manual_outputs).result(timeout=THREADED)
            links = subshell.submit(store.links).result(timeout=THREADED)
            saved = subshell.submit(store.link, "B", "o").result(timeout=THREADED)
        assert first == second == []
        assert [k.output_id for k in links] == ["A"]
        assert saved.author == "ana"
        assert [k.output_id for k in store.links()] == ["A", "B"]
        assert store.verify()


def finished(futures: Sequence[Future[Any]], check: Callable[[], bool]) -> list[Any]:
    """The futures' results, asserting ``check()`` on this thread until all are done; fails
    when they take more than :data:`THREADED` seconds."""
    deadline = time.monotonic() + THREADED
    while not all(future.done() for future in futures):
        assert time.monotonic() < deadline, "the threads did not finish: a deadlock?"
        assert check()
    return [future.result(timeout=0) for future in futures]


def test_threads_read_and_write_one_store_at_once_and_lose_nothing(location: Path | str) -> None:
    workers, each = 8, 20

    def work(worker: int) -> int:
        reads = 0
        for i in range(each):
            store.link(f"T{worker}-{i}", f"outcome-{i % 3}", hypothesis=f"thread {worker}")
            store.checkin(f"T{worker}-outcome", "2026-10", status="at risk", note=f"save {i}")
            mine = store.links(output_id=f"T{worker}-{i}")
            assert [(k.hypothesis, k.author) for k in mine] == [(f"thread {worker}", "ana")]
            assert len(store.links()) >= i + 1
            assert store.checkins(outcome_id=f"T{worker}-outcome")[0].note == f"save {i}"
            store.manual_outputs()
            reads += 4
        return reads

    with Store(location, actor="ana") as store:
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(work, worker) for worker in range(workers)]
            reads = finished(futures, store.verify)  # the main thread reads meanwhile
        assert reads == [4 * each] * workers
        links, checkins = store.links(), store.checkins()
        assert {k.output_id for k in links} == {
            f"T{w}-{i}" for w in range(workers) for i in range(each)
        }
        assert [(c.outcome_id, c.note) for c in checkins] == [
            (f"T{w}-outcome", f"save {each - 1}") for w in range(workers)
        ]
        assert len(store.events()) == 2 * workers * each
        assert store.verify()
    assert counts(location) == (2 * workers * each, workers * each, workers)
    assert not isinstance(location, Path) or integrity(location) == "ok"


def held_import(
    store: Store, output_id: str, *, fail: bool
) -> tuple[threading.Event, threading.Event, Callable[[], ImportResult]]:
    """An import that stops inside its write transaction, after its first link: returns the
    event set once it holds the transaction, the one that lets it go on, and the import to run
    (on another thread). ``fail``: it then fails, so the transaction must be rolled back."""
    holding, going_on = threading.Event(), threading.Event()
    values, _ = convert_fields(LINK.fields, {"output_id": output_id, "outcome_id": "o"})
    stamps, _ = convert_fields(IMPORT_STAMPS, {})

    def records() -> Iterator[tuple[Entity, dict[str, object], dict[str, object]]]:
        yield LINK, values, stamps
        holding.set()
        assert going_on.wait(THREADED)
        if fail:
            raise RuntimeError("the import failed half-way")

    return holding, going_on, lambda: store.merge(records(), doing="importing")


def test_a_write_on_one_thread_never_takes_in_another_threads_statements(
    location: Path | str,
) -> None:
    """One thread's write transaction is open (its first link written, not committed) while
    another thread saves a link: that save waits for it, then commits alone; the first then
    fails and rolls back. Only the second link is stored: nothing half-written, nothing lost."""
    with Store(location, actor="ana") as store, ThreadPoolExecutor(2) as pool:
        holding, going_on, half_done = held_import(store, "HALF", fail=True)
        failing = pool.submit(half_done)
        assert holding.wait(THREADED)
        other = pool.submit(store.link, "OTHER", "o")
        time.sleep(0.5)  # the save reaches the write lock held by the import
        assert not other.done()  # and waits there
        going_on.set()
        with pytest.raises(RuntimeError, match="failed half-way"):
            failing.result(timeout=THREADED)
        assert other.result(timeout=THREADED).output_id == "OTHER"
        assert [k.output_id for k in store.links()] == ["OTHER"]
        assert [e.key for e in store.events()] == ["OTHER→o"]
        assert store.verify()


def connections(location: Path | str) -> int:
    """How many connections reviewkit has open to the store: the PostgreSQL sessions it named,
    or, for SQLite, whether its WAL files are still there (the last connection closed removes
    them)."""
    if isinstance(location, Path):
        return sum(location.with_name(location.name + s).exists() for s in ("-wal", "-shm"))
    with psycopg.connect(location, autocommit=True) as pg:
        query = (
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'reviewkit' AND datname = current_database()"
        )
        deadline = time.monotonic() + 10  # a closed session's server process ends soon after
        while (found := pg.execute(query).fetchone()[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        return int(found)


def test_closing_closes_the_connection_of_every_thread(location: Path | str) -> None:
    """Threads used the store at once, and one is inside a write transaction as the store is
    closed: that transaction ends as it began (committed), nothing new starts, and every
    connection of every thread is closed."""
    store = Store(location, actor="ana")
    with ThreadPoolExecutor(4) as pool:
        started = [pool.submit(store.links) for _ in range(16)]
        assert [len(found) for found in finished(started, lambda: True)] == [0] * 16
        holding, going_on, held = held_import(store, "HELD", fail=False)
        importing = pool.submit(held)
        assert holding.wait(THREADED)
        store.close()
        with pytest.raises(StoreError, match="the store is closed"):
            pool.submit(store.links).result(timeout=THREADED)
        going_on.set()
        assert importing.result(timeout=THREADED) == ImportResult(1, 0, 0)
    assert connections(location) == 0
    with Store(location) as again:
        assert [k.output_id for k in again.links()] == ["HELD"]
        assert again.verify()


# --- one store for many hosts: PostgreSQL -----------------------------------------------------


def test_a_store_moves_to_postgresql_and_back_losslessly(tmp_path: Path, pg_url: str) -> None:
    """`reviewkit store migrate`: every event (ids, times, authors), every entity and its
    history, hostile text included; checked by verify() and a diff of the exports."""
    original = tmp_path / "original.sqlite"
    with Store(original, actor="ana") as store:
        fill(store)
        store.add_output("M-1", title="By hand 🚀", team="t", delivered=dt.date(2026, 10, 3))
        store.unlink("OUT-1", HOSTILE[1].strip())
        store.undo()  # the unlink: an undo event that names the one it undoes
        store.complete_review("2026-10", team="t")
        token = store.add_person("Priya Raman", email="priya@example.com")
        events = store.events()
        export_links(store, tmp_path / "original.yaml")
        export_links(store, tmp_path / "original.csv")
    runner = CliRunner()
    there = runner.invoke(main, ["store", "migrate", "--from", str(original), "--to", pg_url])
    assert there.exit_code == 0, there.output
    assert f"copied {len(events)} events ({len(HOSTILE)} links" in there.output
    back = tmp_path / "back.sqlite"
    again = runner.invoke(main, ["store", "migrate", "--from", pg_url, "--to", str(back)])
    assert again.exit_code == 0, again.output
    for location in (pg_url, back):
        with Store(location) as copy:
            assert copy.verify()
            assert copy.events() == events
            assert copy.person_for_token(token).name == "Priya Raman"  # type: ignore[union-attr]
            assert (copy.manual_outputs()[0].title, copy.reviews()[0].team) == ("By hand 🚀", "t")
            export_links(copy, tmp_path / "copy.yaml")
            export_links(copy, tmp_path / "copy.csv")
        for name in ("yaml", "csv", "checkins.csv"):
            assert (tmp_path / f"copy.{name}").read_bytes() == (
                tmp_path / f"original.{name}"
            ).read_bytes()
        with Store(location) as copy:  # new events number after the copied ones
            assert copy.link("NEW", "o").created_at and copy.events()[-1].id == events[-1].id + 1


def test_migrate_never_writes_over_a_store(tmp_path: Path, pg_url: str) -> None:
    with Store(tmp_path / "a.sqlite") as store:
        store.link("A", "B")
    with Store(pg_url) as busy:
        busy.link("C", "D")
    runner = CliRunner()
    refused = runner.invoke(
        main, ["store", "migrate", "--from", str(tmp_path / "a.sqlite"), "--to", pg_url]
    )
    assert refused.exit_code == 1
    assert "already holds a store with events; copy into a new, empty one" in refused.output
    with Store(pg_url) as busy:
        assert [k.output_id for k in busy.links()] == ["C"]
    refused = runner.invoke(
        main, ["store", "migrate", "--from", pg_url, "--to", str(tmp_path / "a.sqlite")]
    )
    assert "a.sqlite: already exists; pass a new path for the copy" in refused.output


def test_an_unreachable_server_is_a_clear_error_and_saving_resumes_when_it_is_back() -> None:
    """The server goes away mid-session (killed, as a crash would): the save that meets it
    says the store is unreachable and nothing was saved; what was acknowledged is kept; the
    next save after the server is back connects again. A server restarted between two saves
    is not an error at all: the first save after it connects again by itself."""
    server = PostgresServer()
    try:
        url = server.new_database()
        with Store(url, actor="ana") as store:
            store.link("A", "o")
            server.kill()
            with pytest.raises(StoreError) as caught:
                store.link("B", "o")
            message = str(caught.value)
            assert message.startswith(f"{url}: the store's PostgreSQL server cannot be reached")
            assert "so nothing was saved; check that it is running and reachable" in message
            with pytest.raises(StoreError, match="cannot be reached while opening the store"):
                Store(url)
            server.start()
            store.link("C", "o")
            assert [k.output_id for k in store.links()] == ["A", "C"]
            server.stop()
            server.start()
            store.link("D", "o")
            assert [k.output_id for k in store.links()] == ["A", "C", "D"]
            assert store.verify()
    finally:
        server.remove()


def test_a_password_is_never_shown(pg_url: str) -> None:
    with_password = pg_url.replace("reviewkit@", "reviewkit:s3cret@")
    with Store(with_password) as store:  # trusted locally: the password is not checked
        assert "s3cret" not in store.shown and "reviewkit:***@" in store.shown
        assert "s3cret" not in repr(store)


# --- people who sign in -----------------------------------------------------------------------


def test_people_sign_in_with_tokens_kept_only_as_hashes(store: Store) -> None:
    token = store.add_person("Priya Raman", email="priya@example.com", role="contributor")
    viewer = store.add_person("Luis", role="viewer", author="admin")
    assert len(token) >= 40 and token != viewer
    priya = store.person_for_token(token)
    assert priya is not None and (priya.name, priya.email, priya.role) == (
        "Priya Raman",
        "priya@example.com",
        "contributor",
    )
    assert store.person_for_token(viewer).added_by == "admin"  # type: ignore[union-attr]
    assert store.person_for_token(token + "x") is None and store.person_for_token("") is None
    assert [p.name for p in store.people()] == ["Luis", "Priya Raman"]
    with pytest.raises(StoreError, match="Priya Raman can already sign in; to give them a new"):
        store.add_person("Priya Raman")
    with pytest.raises(StoreError, match="role 'owner' is not one of viewer, contributor"):
        store.add_person("Ana", role="owner")
    store.remove_person("Priya Raman")
    assert store.person_for_token(token) is None
    with pytest.raises(StoreError, match="nobody called 'Priya Raman' can sign in"):
        store.remove_person("Priya Raman")
    again = store.add_person("Priya Raman", role="viewer")
    assert store.person_for_token(again).role == "viewer"  # type: ignore[union-attr]
    assert store.person_for_token(token) is None
    assert store.events() == []  # people are not links or check-ins: no event
