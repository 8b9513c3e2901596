"""Business events (issue 28): a price change, an outage, a campaign, recorded in the store
against KPIs. The store's side runs on a real SQLite file and a real PostgreSQL server (as in
tests/test_store.py); `reviewkit events` runs through the command's entry point."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from reviewkit.cli import main
from reviewkit.store.backends import PG_SCHEMA, SCHEMA_VERSION
from reviewkit.store.core import BusinessEvent, Store, StoreError, store_as_of

D = dt.date


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a new store goes: a SQLite file's path, or a new PostgreSQL database's address."""
    if request.param == "sqlite":
        return tmp_path / "store.sqlite"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(location: Path | str) -> Iterator[Store]:
    with Store(location, actor="ana") as opened:
        yield opened


def behind_its_back(location: Path | str, *statements: str) -> None:
    """Run ``statements`` on the store's database as another tool (or an older reviewkit) would."""
    if isinstance(location, Path):
        conn = sqlite3.connect(location, isolation_level=None)
        try:
            for statement in statements:
                conn.execute(statement)
        finally:
            conn.close()
        return
    with psycopg.connect(location, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {PG_SCHEMA}")
        for statement in statements:
            conn.execute(statement)


# --- the store ---------------------------------------------------------------------------------


def test_add_list_and_remove(store: Store) -> None:
    sale = store.add_event(
        "Autumn sale",
        D(2026, 10, 5),
        end=D(2026, 10, 11),
        metrics=["mrr", "signups"],
        scope=[("team", "growth"), ("plan", "pro")],
    )
    outage = store.add_event("Payment outage", D(2026, 9, 30), author="bo")
    assert (sale.id, outage.id) == (1, 2)
    assert sale == BusinessEvent(
        1,
        "Autumn sale",
        D(2026, 10, 5),
        D(2026, 10, 11),
        ("mrr", "signups"),
        (("team", "growth"), ("plan", "pro")),
        "ana",
        sale.created_at,
    )
    assert sale.created_at.tzinfo is not None
    assert (outage.end, outage.metrics, outage.scope, outage.author) == (None, (), (), "bo")
    # by start, then id; what was added is what is read back
    assert store.business_events() == [outage, sale]
    third = store.add_event("Same day", D(2026, 9, 30))
    assert [e.id for e in store.business_events()] == [2, 3, 1]

    assert store.remove_event(2, author="bo") == outage
    assert [e.id for e in store.business_events()] == [3, 1]
    with pytest.raises(StoreError, match=r"there is no event 2 to remove; `reviewkit events`"):
        store.remove_event(2)
    with pytest.raises(StoreError, match=r"there is no event 99 to remove"):
        store.remove_event(99)
    # every change is in the log, under its author; a removed id is never given again
    assert [(e.kind, e.key, e.actor) for e in store.events()] == [
        ("business_event", "event:1", "ana"),
        ("business_event", "event:2", "bo"),
        ("business_event", "event:3", "ana"),
        ("remove_event", "event:2", "bo"),
    ]
    assert store.add_event("Later", D(2026, 11, 1)).id == 4
    store.remove_event(4)
    assert store.add_event("Later again", D(2026, 11, 1)).id == 5
    # undo brings a removed event back with its id; the log still replays to the tables
    store.remove_event(5)
    store.undo()
    assert [e.id for e in store.business_events()] == [3, 1, 5]
    assert store.verify()
    store.rebuild()
    assert [e.id for e in store.business_events()] == [3, 1, 5]
    assert third in store.business_events()


def test_a_new_store_opened_again_keeps_its_events(location: Path | str) -> None:
    with Store(location, actor="ana") as store:
        added = store.add_event("Price rise", D(2026, 10, 1), metrics=["mrr"])
    with Store(location, actor="bo") as again:
        assert again.business_events() == [added]


def test_filtering_by_metric(store: Store) -> None:
    store.add_event("Price rise", D(2026, 10, 1), metrics=["mrr"])
    store.add_event("Outage", D(2026, 9, 1))  # every KPI
    store.add_event("Campaign", D(2026, 8, 1), metrics=["signups", "mrr"])
    store.add_event("Survey change", D(2026, 7, 1), metrics=["nps"])

    def titles(metric: str | None) -> list[str]:
        return [e.title for e in store.business_events(metric=metric)]

    assert titles("mrr") == ["Campaign", "Outage", "Price rise"]
    assert titles("nps") == ["Survey change", "Outage"]
    assert titles("churn_rate") == ["Outage"]
    assert titles(None) == ["Survey change", "Campaign", "Outage", "Price rise"]


def test_metrics_and_scope_are_kept_once_in_the_order_given(store: Store) -> None:
    event = store.add_event(
        "x",
        "2026-10-01",  # type: ignore[arg-type]  # text in the store's date format is accepted
        metrics=("nps", "mrr", "nps"),
        scope={"team": "growth"},
    )
    assert (event.start, event.metrics, event.scope) == (
        D(2026, 10, 1),
        ("nps", "mrr"),
        (("team", "growth"),),
    )
    both = store.add_event(
        "y", D(2026, 10, 1), scope=[("team", "growth"), ("team", "mobile"), ("team", "growth")]
    )
    assert both.scope == (("team", "growth"), ("team", "mobile"))


@pytest.mark.parametrize(
    ("kwargs", "messages"),
    [
        ({"title": "  "}, ["title is missing or empty; fill it in"]),
        ({"title": None}, ["title is missing or empty; fill it in"]),
        (
            {"end": D(2026, 10, 4)},
            [
                "end 2026-10-04 is before start 2026-10-05; give the last day of the range, on "
                "or after the start (or no end for a change on one day)"
            ],
        ),
        (
            {"start": "5/10/2026", "end": "2026-02-30"},
            [
                "start '5/10/2026' is not a date; write it as YYYY-MM-DD",
                "end '2026-02-30' is not a date; write it as YYYY-MM-DD",
            ],
        ),
        ({"start": None}, ["start is missing; write the date as YYYY-MM-DD"]),
        (
            {"title": "", "metrics": "mrr", "scope": [("team",)]},
            [
                "title is missing or empty; fill it in",
                "metrics 'mrr' is not a list of metric names; pass e.g. ['mrr', 'nps']",
                "scope[1] ('team',) is not a (dimension, value) pair, e.g. ('team', 'growth')",
            ],
        ),
        (
            {"metrics": ["mrr", " nps"], "scope": [("team", "")]},
            [
                "metrics[2] ' nps' has spaces around it; remove them",
                "scope[1].value is missing or empty; fill it in",
            ],
        ),
    ],
)
def test_invalid_events_are_refused_naming_every_problem(
    store: Store, kwargs: dict[str, object], messages: list[str]
) -> None:
    given: dict[str, object] = {"title": "Sale", "start": D(2026, 10, 5), **kwargs}
    with pytest.raises(StoreError) as caught:
        store.add_event(**given)  # type: ignore[arg-type]
    lines = str(caught.value).splitlines()
    assert lines[0] == f"{store.shown}: cannot add event {given['title']!r}:"
    assert lines[1:] == [f"- {message}" for message in messages]
    assert store.business_events() == [] and store.events() == []


def test_a_bad_id_or_author_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match=r"event id 'x' is not an event's id; give the number"):
        store.remove_event("x")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match=r"event id 0 is not an event's id"):
        store.remove_event(0)
    with pytest.raises(StoreError, match=r"author is missing or empty"):
        store.add_event("Sale", D(2026, 10, 5), author=" ")


TITLES = [
    "Robert'); DROP TABLE business_events; --",
    'The "big" sale; 50% off',
    "x' OR '1'='1",
    "?, ?); DELETE FROM events; --",
    "$1 price: $$ quoted $$",
    "ünïcødé → 日本語 🚀",
    "line one\nline two",
]


def test_sql_in_a_title_or_scope_stays_text(store: Store) -> None:
    for number, title in enumerate(TITLES, 1):
        store.add_event(
            title,
            D(2026, 10, number),
            metrics=["mrr'; --"],
            scope=[("team", title.replace("\n", " ").strip())],
        )
    found = store.business_events()
    assert [e.title for e in found] == TITLES
    assert all(e.metrics == ("mrr'; --",) for e in found)
    assert [e.scope[0][1] for e in found] == [t.replace("\n", " ") for t in TITLES]
    assert [e.title for e in store.business_events(metric="mrr'; --")] == TITLES
    store.remove_event(1)
    assert len(store.business_events()) == len(TITLES) - 1
    assert len(store.events()) == len(TITLES) + 1 and store.verify()


def test_writers_at_once_get_distinct_ids(location: Path | str) -> None:
    """Adding is one serialised write: stores writing at once never give one id twice."""
    writers, each = 4, 8
    errors: list[BaseException] = []

    def write(number: int) -> None:
        try:
            with Store(location, actor=f"w{number}") as mine:
                for count in range(each):
                    mine.add_event(f"w{number}-{count}", D(2026, 10, 1 + count))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    Store(location).close()  # the tables exist before the writers start
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Store(location) as store:
        found = store.business_events()
        assert sorted(e.id for e in found) == list(range(1, writers * each + 1))
        assert len({e.title for e in found}) == writers * each
        assert store.verify()


# --- a store from before business events ---------------------------------------------------------


def test_a_store_from_before_events_is_migrated(location: Path | str) -> None:
    """A store as schema 2 left it (no business_events table, version 2) gains the table when
    it is opened, keeping everything it had."""
    with Store(location, actor="ana") as store:
        link = store.link("ONB-1", "activation", hypothesis="h")
        store.checkin("activation", "2026-10", status="on track")
        history = store.events()
    if isinstance(location, Path):
        behind_its_back(location, "DROP TABLE business_events", "PRAGMA user_version = 2")
    else:
        behind_its_back(
            location, "DROP TABLE business_events", "UPDATE meta SET schema_version = 2"
        )
    with pytest.raises(Exception, match="business_events"):  # the old schema indeed
        behind_its_back(location, "SELECT * FROM business_events")

    with Store(location, actor="bo") as store:
        assert store.links() == [link] and store.events() == history
        added = store.add_event("Price rise", D(2026, 10, 1), metrics=["mrr"])
        assert added.id == 1 and store.business_events() == [added]
        assert store.verify()
    if isinstance(location, Path):
        conn = sqlite3.connect(location)
        try:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        finally:
            conn.close()
    else:
        with psycopg.connect(location) as conn:
            version = conn.execute(f"SELECT schema_version FROM {PG_SCHEMA}.meta").fetchone()
        assert version == (SCHEMA_VERSION,)


def test_events_travel_with_a_copy_of_the_store(tmp_path: Path) -> None:
    """A store as of an event (a review reproduced) holds the business events made until then;
    `reviewkit store migrate` copies them with the rest."""
    with Store(tmp_path / "a.sqlite", actor="ana") as store:
        first = store.add_event("Price rise", D(2026, 10, 1), metrics=["mrr"])
        position = store.last_event_id()
        store.add_event("Outage", D(2026, 10, 9))
        store.remove_event(first.id)
        now = store.business_events()
    with store_as_of(tmp_path / "a.sqlite", tmp_path / "then.sqlite", position) as then:
        assert then.business_events() == [first]
    runner = CliRunner()
    done = runner.invoke(
        main,
        ["store", "migrate", "--from", str(tmp_path / "a.sqlite"), "--to", str(tmp_path / "b")],
    )
    assert done.exit_code == 0, done.output
    with Store(tmp_path / "b", create=False) as copy:
        assert copy.business_events() == now


# --- the command ---------------------------------------------------------------------------------


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_events_add_list_and_remove(shop_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWKIT_USER", "carla")
    assert run("events") == (
        0,
        "no business events yet: reviewkit events add TITLE --date YYYY-MM-DD\n",
        "",
    )
    assert run(
        "events", "add", "Winter sale", "--date", "2026-01-10", "--until", "2026-01-20",
        "--kpi", "revenue", "--kpi", "orders", "--where", "team=a", "--where", "channel=web",
    ) == (0, "added event 1: Winter sale (2026-01-10 to 2026-01-20)\n", "")  # fmt: skip
    assert run("events", "add", "Shop closed", "--date", "2026-01-05") == (
        0,
        "added event 2: Shop closed (on 2026-01-05)\n",
        "",
    )
    code, out, _ = run("events", "add", "Price list", "--date", "2026-02-01", "--kpi", "items")
    assert code == 0
    table = [
        "id  start       end         title        KPIs             scope                author",
        "--  ----------  ----------  -----------  ---------------  -------------------  ------",
        "2   2026-01-05              Shop closed  all              company              carla",
        "1   2026-01-10  2026-01-20  Winter sale  revenue, orders  team=a, channel=web  carla",
        "3   2026-02-01              Price list   items            company              carla",
    ]
    assert run("events")[1].splitlines() == [line.rstrip() for line in table]
    code, out, _ = run("events", "--kpi", "orders")
    assert code == 0 and [line.split()[0] for line in out.splitlines()[2:]] == ["2", "1"]
    # the same author as every other write from the command line
    with Store(shop_dir / "reviewkit.db") as store:
        assert {e.actor for e in store.events()} == {"carla"}
    assert run("events", "remove", "1") == (
        0,
        "removed event 1: Winter sale (2026-01-10 to 2026-01-20)\n",
        "",
    )
    assert [line.split()[0] for line in run("events")[1].splitlines()[2:]] == ["2", "3"]
    code, _, err = run("events", "remove", "1")
    assert code == 1
    assert err == (
        "Error: reviewkit.db: there is no event 1 to remove; `reviewkit events` (or "
        "store.business_events()) lists the events with their ids\n"
    )
    project = shop_dir.parent / "elsewhere"
    shop_dir.rename(project)
    code, out, _ = run("events", "--project", str(project), "--kpi", "items")
    assert code == 0 and "Price list" in out


def test_a_title_with_sql_stays_a_title(shop_dir: Path) -> None:
    for title in TITLES[:4]:
        code, _, err = run("events", "add", title, "--date", "2026-01-05", "--where", "team=a")
        assert (code, err) == (0, "")
    code, out, _ = run("events")
    assert code == 0
    assert [line.split("  ")[0] for line in out.splitlines()[2:]] == ["1", "2", "3", "4"]
    for title in TITLES[:4]:
        assert title in out
    with Store(shop_dir / "reviewkit.db") as store:
        assert [e.title for e in store.business_events()] == TITLES[:4]
        assert store.verify()


def usage_error(args: list[str], message: str) -> None:
    code, out, err = run(*args)
    assert (code, out) == (2, "")
    assert err.splitlines()[-1] == f"Error: {message}"
    if Path("reviewkit.db").exists():
        with Store("reviewkit.db") as store:
            assert store.business_events() == []


def test_bad_dates_name_the_format(shop_dir: Path) -> None:
    usage_error(
        ["events", "add", "Sale", "--date", "2026-13-01"],
        "Invalid value for '--date': '2026-13-01' is not a date; write it as YYYY-MM-DD, e.g. "
        "2026-10-01",
    )
    usage_error(
        ["events", "add", "Sale", "--date", "10/01/2026"],
        "Invalid value for '--date': '10/01/2026' is not a date; write it as YYYY-MM-DD, e.g. "
        "2026-10-01",
    )
    usage_error(
        ["events", "add", "Sale", "--date", "2026-10-01", "--until", "2026-10"],
        "Invalid value for '--until': '2026-10' is not a date; write it as YYYY-MM-DD, e.g. "
        "2026-10-01",
    )
    usage_error(
        ["events", "add", "Sale", "--date", "2026-10-02", "--until", "2026-10-01"],
        "Invalid value for --until: 2026-10-01 is before --date 2026-10-02; give the last day "
        "of the range, on or after it (or leave --until out for a change on one day)",
    )
    usage_error(["events", "add", "Sale"], "Missing option '--date'.")


def test_unknown_kpis_and_dimensions_are_named_with_the_known_ones(regional_dir: Path) -> None:
    usage_error(
        ["events", "add", "Sale", "--date", "2026-02-01", "--kpi", "sigups"],
        "Invalid value for --kpi: unknown metric 'sigups' (did you mean 'signups'?); the "
        "metrics are: signups, views",
    )
    usage_error(
        ["events", "--kpi", "visits"],
        "Invalid value for --kpi: unknown metric 'visits'; the metrics are: signups, views",
    )
    usage_error(
        ["events", "add", "Sale", "--date", "2026-02-01", "--kpi", "views", "--where", "regoin=n"],
        "Invalid value for --where: unknown dimension 'regoin' (did you mean 'region'?); the "
        "dimensions of KPI 'views' are: region",
    )
    usage_error(
        ["events", "add", "Sale", "--date", "2026-02-01", "--kpi", "views", "--kpi", "signups",
         "--where", "region=north"],
        "Invalid value for --where: unknown dimension 'region'; KPI 'signups' has no dimensions, "
        "so an event about it concerns the whole company: leave --where out",
    )  # fmt: skip
    usage_error(
        ["events", "add", "Sale", "--date", "2026-02-01", "--where", "team=a"],
        "Invalid value for --where: unknown dimension 'team'; the sources' dimensions are: region",
    )
    usage_error(
        ["events", "add", "Sale", "--date", "2026-02-01", "--where", "region"],
        "Invalid value for --where: 'region' is not DIM=VALUE, e.g. team=growth",
    )
    # without --kpi, any source's dimension will do
    code, out, _ = run("events", "add", "Sale", "--date", "2026-02-01", "--where", "region=north")
    assert (code, out) == (0, "added event 1: Sale (on 2026-02-01)\n")


def test_a_blank_title_is_the_stores_error(shop_dir: Path) -> None:
    code, out, err = run("events", "add", " ", "--date", "2026-01-05")
    assert (code, out) == (1, "")
    assert (
        err
        == "Error: reviewkit.db: cannot add event ' ':\n- title is missing or empty; fill it in\n"
    )
    code, _, err = run("events", "remove", "0")
    assert code == 2 and "0 is not in the range x>=1" in err


def test_the_console_script_lists_the_events(shop_dir: Path) -> None:
    with Store(shop_dir / "reviewkit.db", actor="dan") as store:
        store.add_event("Shop closed", D(2026, 1, 5))
    script = Path(sys.executable).with_name("reviewkit")
    result = subprocess.run(
        [str(script), "events", "--project", str(shop_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2].split() == [
        "1",
        "2026-01-05",
        "Shop",
        "closed",
        "all",
        "company",
        "dan",
    ]
