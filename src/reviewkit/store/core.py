"""The shared record of judgments: which outputs should move which outcomes, check-ins, outputs
added by hand, business events (a price change, an outage: what may move KPIs whatever the
outputs) and completed reviews, kept as an append-only event log in SQLite (the embedded
default) or PostgreSQL (one store shared by many hosts; :mod:`reviewkit.store.backends`).

Why SQLite and not DuckDB: Voila runs one kernel process per viewer, so several processes write
the same file at once. DuckDB locks the whole file per process and lost acknowledged rows under
that load (see STACK-FACTS.md); SQLite in WAL mode serialises writers (``BEGIN IMMEDIATE`` and a
busy timeout) while readers keep reading a consistent snapshot.

Every change is one transaction that appends an event (with before/after images of the entity)
and updates the state tables, so no reader ever sees one without the other. The state tables are
a projection of the log: :meth:`Store.rebuild` replays it, :meth:`Store.verify` checks that the
projection matches it, and :meth:`Store.undo` appends the inverse of an earlier event. The events
table is never updated or deleted from (triggers refuse it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from reviewkit.base import clock
from reviewkit.base.authors import find_author
from reviewkit.base.errors import QueryError, shown_path
from reviewkit.base.periods import Calendar, parse_period
from reviewkit.base.urls import is_url
from reviewkit.store.backends import (
    DEFAULT_TIMEOUT,
    MUST_EXIST_ENV,
    SCHEMA_VERSION,
    Connection,
    StoreError,
    open_database,
)

__all__ = [
    "BUSINESS_EVENT",
    "CHECKIN_STATUSES",
    "CONFIDENCES",
    "DIRECTIONS",
    "MUST_EXIST_ENV",
    "PERSON_ROLES",
    "SCHEMA_VERSION",
    "BusinessEvent",
    "CheckIn",
    "Decision",
    "Event",
    "ImportResult",
    "Link",
    "ManualOutput",
    "Person",
    "Review",
    "Store",
    "StoreError",
    "store_as_of",
]

DIRECTIONS: Final = ("increase", "decrease")
CONFIDENCES: Final = ("low", "medium", "high")
CHECKIN_STATUSES: Final = ("on track", "at risk", "off track")

_DECISION_EXAMPLE: Final = (
    '[{"text": "Ship the new checklist", "owner": "ana", "due": "2026-11-30", "done": false}]'
)


@dataclass(frozen=True)
class Link:
    """A hypothesis that delivering an output moves an outcome's KPI (at most one per pair)."""

    output_id: str
    outcome_id: str
    hypothesis: str
    direction: str
    #: expected change in the KPI's units, if anyone dared to say
    size: float | None
    #: days from delivery until the KPI should move; None means "the outcome's lag"
    lag_days: int | None
    confidence: str
    author: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class Decision:
    """Something a review decided, with who does it and by when."""

    text: str
    owner: str = ""
    due: dt.date | None = None
    done: bool = False


@dataclass(frozen=True)
class CheckIn:
    """The judgment on one outcome for one period: status, confidence, note and decisions."""

    outcome_id: str
    period: str
    status: str
    #: the status the numbers proposed, when the reviewer overrode or confirmed one
    proposed_status: str | None
    confidence: str
    note: str
    decisions: tuple[Decision, ...]
    author: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class ManualOutput:
    """Delivered work added by hand, for outputs that no export lists."""

    output_id: str
    title: str
    team: str
    delivered: dt.date
    type: str
    effort: float | None
    url: str | None
    labels: tuple[str, ...]
    author: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class Review:
    """A monthly review marked complete, for the whole organisation (team None) or one team."""

    period: str
    team: str | None
    author: str
    completed_at: dt.datetime


@dataclass(frozen=True)
class BusinessEvent:
    """Something that happened and may move KPIs whatever the outputs: a price change, an
    outage, a campaign. Impact evidence weighs it beside the work delivered.

    Not to be confused with :class:`Event`, one change in the store's log (adding a business
    event is one)."""

    #: given by the store, in order, never reused
    id: int
    title: str
    start: dt.date
    #: the last day of a range (a campaign, an outage); None: a change on one day
    end: dt.date | None
    #: the KPIs (metric names) it concerns; empty: every KPI
    metrics: tuple[str, ...]
    #: the segment it concerns as (dimension, value) pairs, e.g. (("team", "growth"),); a
    #: dimension named twice means either value; empty: the whole company
    scope: tuple[tuple[str, str], ...]
    author: str
    created_at: dt.datetime

    def segments(self) -> dict[str, set[str]]:
        """The scope by dimension: ``{"team": {"growth", "support"}}`` (either value)."""
        found: dict[str, set[str]] = {}
        for key, value in self.scope:
            found.setdefault(key, set()).add(value)
        return found

    def clashes(self, filters: Mapping[str, Collection[str]]) -> set[str]:
        """The dimensions on which the event's scope and a segment (``filters``, a dimension's
        allowed values) exclude each other: none when the event concerns that segment."""
        return {
            key
            for key, values in self.segments().items()
            if key in filters and not values & set(filters[key])
        }


@dataclass(frozen=True)
class Event:
    """One change in the log: what it was, who made it, and the entity before and after.

    ``before``/``after`` are the entity's stored fields as JSON-ready dicts (None: absent).
    ``undoes`` is the id of the event an ``undo`` event reverts."""

    id: int
    at: dt.datetime
    actor: str
    kind: str
    entity: str
    key: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    undoes: int | None


@dataclass(frozen=True)
class Person:
    """Someone who signs in to the live pages with a token of their own (``reviewkit users``):
    a viewer reads; a contributor also links outputs and checks in. Owning an outcome (its
    ``owner:`` is this name or email) adds deciding and completing its review."""

    name: str
    email: str | None
    role: str
    added_at: dt.datetime
    added_by: str
    #: what a sign-in cookie carries of the token it was issued for: a new token (after
    #: ``users remove`` and ``users add``) ends every cookie of the old one
    session: str


@dataclass(frozen=True)
class ImportResult:
    """How many imported links and check-ins were new, changed, or already there unchanged."""

    created: int
    updated: int
    unchanged: int


# --- values ----------------------------------------------------------------------------------

Snapshot = dict[str, Any]
_Convert = Callable[[str, object], Any]


class Invalid(Exception):
    """A value that cannot be stored. ``name`` is the field, down to a nested one such as
    ``decisions[2].due``, so that a file's problem can point at that very value."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        super().__init__(f"{name} {detail}")


def _text(name: str, value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(name, f"{value!r} is not text; quote it")
    return value


def _required_text(name: str, value: object) -> str:
    text = _text(name, value)
    if not text.strip():
        raise Invalid(name, "is missing or empty; fill it in")
    return text


def _optional_text(name: str, value: object) -> str | None:
    return _text(name, value) or None


def _ident(name: str, value: object) -> str:
    """An id (output, outcome, team): non-empty text without spaces around it (a typo there would
    silently make a second entity)."""
    text = _required_text(name, value)
    if text != text.strip():
        raise Invalid(name, f"{text!r} has spaces around it; remove them")
    return text


def _choice(
    choices: Sequence[str], *, default: str | None = None, optional: bool = False
) -> _Convert:
    """A converter accepting one of ``choices`` (any case, spaces around ignored)."""
    listed = ", ".join(choices)

    def convert(name: str, value: object) -> str | None:
        if value is None or value == "":
            if default is None and not optional:
                raise Invalid(name, f"is missing; write one of {listed}")
            return default
        if isinstance(value, str) and value.strip().lower() in choices:
            return value.strip().lower()
        raise Invalid(name, f"{value!r} is not one of {listed}")

    return convert


def _number(name: str, value: object) -> float | None:
    if value is None or value == "":
        return None
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip())
    if not math.isfinite(number):
        raise Invalid(name, f"{value!r} is not a number; write one like 2.5, or leave it empty")
    return number


def _lag(name: str, value: object) -> int | None:
    if value is None or value == "":
        return None
    days: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        days = value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            days = int(value.strip())
    if days is None or days < 0:
        raise Invalid(
            name,
            f"{value!r} is not a whole number of days (0 or more); write the days from "
            "delivery until the KPI should move, e.g. 30, or leave it empty for the outcome's lag",
        )
    return days


def _date(name: str, value: object, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise Invalid(name, "is missing; write the date as YYYY-MM-DD")
        return None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(value.strip()).isoformat()
    raise Invalid(name, f"{value!r} is not a date; write it as YYYY-MM-DD")


def _optional_date(name: str, value: object) -> str | None:
    return _date(name, value, required=False)


def _required_date(name: str, value: object) -> str | None:
    return _date(name, value, required=True)


def _iso(moment: dt.datetime) -> str:
    """A timestamp as stored: UTC, ISO 8601 with microseconds (sorts as text). Naive datetimes
    are local time, as everywhere in Python."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _moment(name: str, value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return _iso(dt.datetime.fromisoformat(value.strip()))
    raise Invalid(
        name,
        f"{value!r} is not a timestamp; write one like 2026-10-05T09:30:00+00:00, "
        "or leave it empty",
    )


def _period(name: str, value: object) -> str:
    """A period label exactly as reviewkit writes it (2026-10, 2026-Q4, FY2027...), so that one
    period is never stored under two spellings."""
    text = _ident(name, value)
    try:
        label = parse_period(text, None, Calendar()).label
    except QueryError:
        label = "2026-10"  # not a period at all: show the usual form
    if label != text:
        raise Invalid(name, f"{text!r} is not a period label; write one like {label!r}")
    return text


def _team(name: str, value: object) -> str:
    """A review's team; '' stands for the whole organisation (None in :class:`Review`)."""
    return "" if value is None else _ident(name, value)


def _decisions(name: str, value: object) -> list[dict[str, Any]]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise Invalid(
                name,
                f"is not valid JSON ({exc.msg} at character {exc.pos + 1}); "
                f"write a list like {_DECISION_EXAMPLE}",
            ) from None
    if not isinstance(value, list | tuple):
        raise Invalid(name, f"is not a list of decisions; write one like {_DECISION_EXAMPLE}")
    return [_decision(f"{name}[{number}]", item) for number, item in enumerate(value, 1)]


def _decision(name: str, item: object) -> dict[str, Any]:
    if isinstance(item, Decision):
        item = {"text": item.text, "owner": item.owner, "due": item.due, "done": item.done}
    if not isinstance(item, dict):
        raise Invalid(name, f"{item!r} is not a decision; write one like {_DECISION_EXAMPLE}")
    unknown = sorted(str(key) for key in item if key not in ("text", "owner", "due", "done"))
    if unknown:
        raise Invalid(name, f"has unknown keys {unknown}; a decision has text, owner, due, done")
    done = item.get("done", False)
    if not isinstance(done, bool):
        raise Invalid(f"{name}.done", f"{done!r} is not true or false")
    return {
        "text": _required_text(f"{name}.text", item.get("text")),
        "owner": _text(f"{name}.owner", item.get("owner")),
        "due": _optional_date(f"{name}.due", item.get("due")),
        "done": done,
    }


def _labels(name: str, value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise Invalid(name, f"{value!r} is not a list of labels; pass e.g. ['growth', 'q4']")
    return [_required_text(f"{name}[{number}]", label) for number, label in enumerate(value, 1)]


def _event_id(name: str, value: object) -> int:
    """A business event's id: a whole number from 1, as the store gave it."""
    ident: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        ident = value
    elif isinstance(value, str) and value.strip().isdigit():
        ident = int(value.strip())
    if ident is None or ident < 1:
        raise Invalid(name, f"{value!r} is not an event's id; give the number its listing shows")
    return ident


def _names(name: str, value: object) -> list[str]:
    """Metric names, each once, in the order given."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise Invalid(name, f"{value!r} is not a list of metric names; pass e.g. ['mrr', 'nps']")
    found = [_ident(f"{name}[{number}]", item) for number, item in enumerate(value, 1)]
    return list(dict.fromkeys(found))


def _scope(name: str, value: object) -> list[list[str]]:
    """(dimension, value) pairs, each once, in the order given (a mapping gives its items)."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        value = list(value.items())
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise Invalid(name, f"{value!r} is not a list of pairs; pass e.g. [('team', 'growth')]")
    pairs: list[list[str]] = []
    for number, pair in enumerate(value, 1):
        where = f"{name}[{number}]"
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise Invalid(
                where, f"{pair!r} is not a (dimension, value) pair, e.g. ('team', 'growth')"
            )
        checked = [_ident(f"{where}.dimension", pair[0]), _ident(f"{where}.value", pair[1])]
        if checked not in pairs:
            pairs.append(checked)
    return pairs


def convert_fields(
    fields: Mapping[str, _Convert], raw: Mapping[str, object]
) -> tuple[Snapshot, list[tuple[str, str]]]:
    """Check and normalise ``raw`` field by field: the JSON-ready values, and (field, message)
    for every value that is wrong, so that all of them can be reported at once."""
    values: Snapshot = {}
    problems: list[tuple[str, str]] = []
    for name, convert in fields.items():
        try:
            values[name] = convert(name, raw.get(name))
        except Invalid as exc:
            problems.append((exc.name, str(exc)))
    return values, problems


# --- entities --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entity:
    """How one kind of entity is validated, keyed, labelled and stored in its state table."""

    name: str
    table: str
    keys: tuple[str, ...]
    #: every field the caller gives, keys first, with its converter
    fields: Mapping[str, _Convert]
    #: fields the store fills in: who changed the entity last, and when
    stamps: tuple[str, ...]
    #: columns holding JSON text (lists) in the state table
    json_columns: frozenset[str]
    label: Callable[[Mapping[str, Any]], str]

    @property
    def content(self) -> tuple[str, ...]:
        return tuple(name for name in self.fields if name not in self.keys)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.fields, *self.stamps)


_STAMPS: Final = ("author", "created_at", "updated_at")

LINK: Final = Entity(
    "link",
    "links",
    ("output_id", "outcome_id"),
    {
        "output_id": _ident,
        "outcome_id": _ident,
        "hypothesis": _text,
        "direction": _choice(DIRECTIONS, default="increase"),
        "size": _number,
        "lag_days": _lag,
        "confidence": _choice(CONFIDENCES, default="medium"),
    },
    _STAMPS,
    frozenset(),
    lambda s: f"{s['output_id']}→{s['outcome_id']}",
)
CHECKIN: Final = Entity(
    "checkin",
    "checkins",
    ("outcome_id", "period"),
    {
        "outcome_id": _ident,
        "period": _period,
        "status": _choice(CHECKIN_STATUSES),
        "proposed_status": _choice(CHECKIN_STATUSES, optional=True),
        "confidence": _choice(CONFIDENCES, default="medium"),
        "note": _text,
        "decisions": _decisions,
    },
    _STAMPS,
    frozenset({"decisions"}),
    lambda s: f"{s['outcome_id']}@{s['period']}",
)
OUTPUT: Final = Entity(
    "output",
    "manual_outputs",
    ("output_id",),
    {
        "output_id": _ident,
        "title": _required_text,
        "team": _ident,
        "delivered": _required_date,
        "type": _text,
        "effort": _number,
        "url": _optional_text,
        "labels": _labels,
    },
    _STAMPS,
    frozenset({"labels"}),
    lambda s: str(s["output_id"]),
)
REVIEW: Final = Entity(
    "review",
    "reviews",
    ("period", "team"),
    {"period": _period, "team": _team},
    ("author", "completed_at"),
    frozenset(),
    lambda s: f"review:{s['period']}" + (f":{s['team']}" if s["team"] else ""),
)
BUSINESS_EVENT: Final = Entity(
    "business_event",
    "business_events",
    ("id",),
    {
        "id": _event_id,
        "title": _required_text,
        "start": _required_date,
        "end": _optional_date,
        "metrics": _names,
        "scope": _scope,
    },
    ("author", "created_at"),
    frozenset({"metrics", "scope"}),
    lambda s: f"event:{s['id']}",
)
ENTITIES: Final = {
    entity.name: entity for entity in (LINK, CHECKIN, OUTPUT, REVIEW, BUSINESS_EVENT)
}
#: Provenance columns an export carries; optional on import (see :mod:`reviewkit.store.files`).
IMPORT_STAMPS: Final[dict[str, _Convert]] = {
    "author": _optional_text,
    "created_at": _moment,
    "updated_at": _moment,
}


def _when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _link(s: Snapshot) -> Link:
    return Link(
        s["output_id"],
        s["outcome_id"],
        s["hypothesis"],
        s["direction"],
        s["size"],
        s["lag_days"],
        s["confidence"],
        s["author"],
        _when(s["created_at"]),
        _when(s["updated_at"]),
    )


def _checkin(s: Snapshot) -> CheckIn:
    decisions = tuple(
        Decision(
            d["text"], d["owner"], dt.date.fromisoformat(d["due"]) if d["due"] else None, d["done"]
        )
        for d in s["decisions"]
    )
    return CheckIn(
        s["outcome_id"],
        s["period"],
        s["status"],
        s["proposed_status"],
        s["confidence"],
        s["note"],
        decisions,
        s["author"],
        _when(s["created_at"]),
        _when(s["updated_at"]),
    )


def _output(s: Snapshot) -> ManualOutput:
    return ManualOutput(
        s["output_id"],
        s["title"],
        s["team"],
        dt.date.fromisoformat(s["delivered"]),
        s["type"],
        s["effort"],
        s["url"],
        tuple(s["labels"]),
        s["author"],
        _when(s["created_at"]),
        _when(s["updated_at"]),
    )


def _review(s: Snapshot) -> Review:
    return Review(s["period"], s["team"] or None, s["author"], _when(s["completed_at"]))


def _business_event(s: Snapshot) -> BusinessEvent:
    return BusinessEvent(
        s["id"],
        s["title"],
        dt.date.fromisoformat(s["start"]),
        dt.date.fromisoformat(s["end"]) if s["end"] else None,
        tuple(s["metrics"]),
        tuple((dimension, value) for dimension, value in s["scope"]),
        s["author"],
        _when(s["created_at"]),
    )


def _quoted(names: Iterable[str]) -> list[str]:
    """Column names as SQL identifiers: ``end`` is a reserved word in SQLite and PostgreSQL."""
    return [f'"{name}"' for name in names]


def _default_actor() -> str:
    """Whoever the environment names (:func:`reviewkit.base.authors.find_author`)."""
    return find_author().name


def _now() -> str:
    return _iso(clock.now(dt.UTC))


def _dumps(snapshot: Snapshot | None) -> str | None:
    return None if snapshot is None else json.dumps(snapshot, ensure_ascii=False)


def _loads(text: str | None) -> Snapshot | None:
    return None if text is None else dict(json.loads(text))


# --- the store -------------------------------------------------------------------------------


class Store:
    """Links, check-ins, hand-added outputs, business events and reviews, shared by processes
    (and, in PostgreSQL, by hosts).

    ``location`` is a SQLite file's path or a ``postgresql://`` address (see
    :mod:`reviewkit.store.backends` for what each guarantees). Open one per process and keep it
    open (each open checks the schema); any thread may use it, several at once. ``actor``
    names whoever makes the changes when a call gives no ``author``, or is a function that
    finds it, asked once, on first use; by default whoever the environment names
    (:func:`reviewkit.base.authors.find_author`: ``$REVIEWKIT_USER``, ``$JUPYTERHUB_USER``,
    ``git config user.name``, else the OS user). ``create``: start a new store when there is
    none (default: yes, unless ``$REVIEWKIT_STORE_MUST_EXIST`` is 1).
    """

    def __init__(
        self,
        location: Path | str,
        *,
        actor: str | Callable[[], str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        create: bool | None = None,
    ) -> None:
        self.location = location if is_url(location) else Path(location)
        self._actor = actor or _default_actor  # found on first use: reading needs nobody
        self._db = open_database(self.location, timeout=timeout, create=create)

    @property
    def actor(self) -> str:
        """Whoever makes the changes when a call gives no ``author``."""
        if not isinstance(self._actor, str):
            self._actor = self._actor()
        return self._actor

    @actor.setter
    def actor(self, name: str) -> None:
        self._actor = name

    @property
    def path(self) -> Path:
        """The SQLite file (a PostgreSQL store has none)."""
        if not isinstance(self.location, Path):
            raise StoreError(f"{self.shown}: a PostgreSQL store has no file")
        return self.location

    @property
    def shown(self) -> str:
        """How messages name the store: its file's path, or its address without a password."""
        return self._db.shown

    def _author(self, author: str | None) -> str:
        if author is None:
            return self.actor
        try:
            return _required_text("author", author)
        except Invalid as exc:
            raise StoreError(f"{self.shown}: {exc}") from None

    def _valid(self, entity: Entity, raw: Mapping[str, object], *, verb: str = "save") -> Snapshot:
        """``raw`` checked and normalised (only the fields it has when removing), or a
        StoreError listing every wrong value."""
        names = entity.fields if verb == "save" else entity.keys
        values, problems = convert_fields({name: entity.fields[name] for name in names}, raw)
        if problems:
            label = entity.label({name: raw.get(name) for name in entity.fields})
            listed = "\n".join(f"- {message}" for _, message in problems)
            raise StoreError(f"{self.shown}: cannot {verb} {entity.name} {label}:\n{listed}")
        return values

    @staticmethod
    def _rows(
        conn: Connection, entity: Entity, where: str = "", params: Sequence[object] = ()
    ) -> list[Snapshot]:
        columns = entity.columns
        order = ", ".join(_quoted(entity.keys))
        query = f"SELECT {', '.join(_quoted(columns))} FROM {entity.table} {where} ORDER BY {order}"
        rows = []
        for row in conn.execute(query, params):
            snapshot = dict(zip(columns, row, strict=True))
            for name in entity.json_columns:
                snapshot[name] = json.loads(snapshot[name])
            rows.append(snapshot)
        return rows

    def _current(
        self, conn: Connection, entity: Entity, values: Mapping[str, Any]
    ) -> Snapshot | None:
        where = "WHERE " + " AND ".join(f"{key} = ?" for key in _quoted(entity.keys))
        found = self._rows(conn, entity, where, [values[key] for key in entity.keys])
        return found[0] if found else None

    @staticmethod
    def _project(
        conn: Connection, entity: Entity, before: Snapshot | None, after: Snapshot | None
    ) -> None:
        """Make the state table show ``after`` for this entity (None: remove it)."""
        if after is None:
            assert before is not None
            where = " AND ".join(f"{key} = ?" for key in _quoted(entity.keys))
            conn.execute(
                f"DELETE FROM {entity.table} WHERE {where}", [before[k] for k in entity.keys]
            )
            return
        columns = entity.columns
        values = [
            json.dumps(after[name], ensure_ascii=False)
            if name in entity.json_columns
            else after[name]
            for name in columns
        ]
        content = _quoted(name for name in columns if name not in entity.keys)
        conn.execute(
            f"INSERT INTO {entity.table} ({', '.join(_quoted(columns))}) "
            f"VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(_quoted(entity.keys))}) DO UPDATE SET "
            + ", ".join(f"{name} = excluded.{name}" for name in content),
            values,
        )

    def _append(
        self,
        conn: Connection,
        *,
        at: str,
        actor: str,
        kind: str,
        entity: Entity,
        before: Snapshot | None,
        after: Snapshot | None,
        undoes: int | None = None,
    ) -> Event:
        """Append one event and apply it to the state table, inside the caller's transaction."""
        image = after or before
        assert image is not None
        key = entity.label(image)
        (ident,) = conn.execute(
            "INSERT INTO events (at, actor, kind, entity, key, before, after, undoes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (at, actor, kind, entity.name, key, _dumps(before), _dumps(after), undoes),
        ).fetchone()
        self._project(conn, entity, before, after)
        return Event(ident, _when(at), actor, kind, entity.name, key, before, after, undoes)

    def _save(self, entity: Entity, raw: Mapping[str, object], author: str | None) -> Snapshot:
        """Create or replace one entity; saving it unchanged records nothing."""
        values = self._valid(entity, raw)
        actor = self._author(author)
        with self._db.write(f"saving {entity.name} {entity.label(values)}") as conn:
            before = self._current(conn, entity, values)
            if before is not None and all(before[f] == values[f] for f in entity.content):
                return before
            now = _now()
            created = before["created_at"] if before else now
            after = {**values, "author": actor, "created_at": created, "updated_at": now}
            self._append(
                conn,
                at=now,
                actor=actor,
                kind=entity.name,
                entity=entity,
                before=before,
                after=after,
            )
        return after

    def _remove(
        self,
        entity: Entity,
        kind: str,
        raw: Mapping[str, object],
        author: str | None,
        listing: str,
    ) -> Snapshot:
        values = self._valid(entity, raw, verb="remove")
        actor = self._author(author)
        label = entity.label(values)
        with self._db.write(f"removing {entity.name} {label}") as conn:
            before = self._current(conn, entity, values)
            if before is None:
                raise StoreError(
                    f"{self.shown}: there is no {entity.name} {label} to remove; see "
                    f"{listing} for the existing ones"
                )
            self._append(
                conn, at=_now(), actor=actor, kind=kind, entity=entity, before=before, after=None
            )
        return before

    # --- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connections (idempotent). A transaction under way on another thread ends
        as it would have, and its connection is closed then; no new one starts."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.shown!r}, actor={self.actor!r})"

    # --- links -------------------------------------------------------------------------------

    def link(
        self,
        output_id: str,
        outcome_id: str,
        *,
        hypothesis: str = "",
        direction: str = "increase",
        size: float | None = None,
        lag_days: int | None = None,
        confidence: str = "medium",
        author: str | None = None,
    ) -> Link:
        """Say that ``output_id`` should move ``outcome_id``: create the link or update it (an
        update keeps ``created_at``; saving it unchanged records nothing)."""
        raw = {
            "output_id": output_id,
            "outcome_id": outcome_id,
            "hypothesis": hypothesis,
            "direction": direction,
            "size": size,
            "lag_days": lag_days,
            "confidence": confidence,
        }
        return _link(self._save(LINK, raw, author))

    def unlink(self, output_id: str, outcome_id: str, *, author: str | None = None) -> Link:
        """Remove the link between an output and an outcome; returns what was removed."""
        raw = {"output_id": output_id, "outcome_id": outcome_id}
        return _link(self._remove(LINK, "unlink", raw, author, "store.links()"))

    def links(self, *, outcome_id: str | None = None, output_id: str | None = None) -> list[Link]:
        """The live links, optionally of one outcome and/or one output, by output then outcome."""
        found = self._list(LINK, {"outcome_id": outcome_id, "output_id": output_id})
        return [_link(s) for s in found]

    # --- check-ins -----------------------------------------------------------------------------

    def checkin(
        self,
        outcome_id: str,
        period: str,
        *,
        status: str,
        proposed_status: str | None = None,
        confidence: str = "medium",
        note: str = "",
        decisions: Iterable[Decision] = (),
        author: str | None = None,
    ) -> CheckIn:
        """Record the judgment on an outcome for a period (a label such as 2026-10), replacing
        the previous one for that period."""
        raw = {
            "outcome_id": outcome_id,
            "period": period,
            "status": status,
            "proposed_status": proposed_status,
            "confidence": confidence,
            "note": note,
            "decisions": list(decisions),
        }
        return _checkin(self._save(CHECKIN, raw, author))

    def checkins(
        self, *, outcome_id: str | None = None, period: str | None = None
    ) -> list[CheckIn]:
        """The check-ins, optionally of one outcome and/or one period, by outcome then period."""
        found = self._list(CHECKIN, {"outcome_id": outcome_id, "period": period})
        return [_checkin(s) for s in found]

    # --- outputs added by hand -----------------------------------------------------------------

    def add_output(
        self,
        output_id: str,
        *,
        title: str,
        team: str,
        delivered: dt.date,
        type: str = "",
        effort: float | None = None,
        url: str | None = None,
        labels: Iterable[str] = (),
        author: str | None = None,
    ) -> ManualOutput:
        """Add (or replace) an output that no export lists, so it can be linked like any other."""
        raw = {
            "output_id": output_id,
            "title": title,
            "team": team,
            "delivered": delivered,
            "type": type,
            "effort": effort,
            "url": url,
            "labels": labels,
        }
        return _output(self._save(OUTPUT, raw, author))

    def remove_output(self, output_id: str, *, author: str | None = None) -> ManualOutput:
        """Remove an output added by hand; returns what was removed. Its links stay: they may
        point at an output that an export lists under the same id."""
        raw = {"output_id": output_id}
        return _output(self._remove(OUTPUT, "remove_output", raw, author, "store.manual_outputs()"))

    def manual_outputs(self) -> list[ManualOutput]:
        """The outputs added by hand, by id."""
        return [_output(s) for s in self._list(OUTPUT, {})]

    # --- reviews -------------------------------------------------------------------------------

    def complete_review(
        self, period: str, *, team: str | None = None, author: str | None = None
    ) -> Review:
        """Record that the review of ``period`` (for one team, or everyone) is complete; doing it
        again records the new completion time. Whether it may be completed is the caller's call."""
        values = self._valid(REVIEW, {"period": period, "team": team})
        actor = self._author(author)
        with self._db.write(f"completing {REVIEW.label(values)}") as conn:
            before = self._current(conn, REVIEW, values)
            now = _now()
            after = {**values, "author": actor, "completed_at": now}
            self._append(
                conn, at=now, actor=actor, kind="review", entity=REVIEW, before=before, after=after
            )
        return _review(after)

    def reviews(self) -> list[Review]:
        """The completed reviews, by period then team (the whole organisation first)."""
        return [_review(s) for s in self._list(REVIEW, {})]

    # --- business events -----------------------------------------------------------------------

    def add_event(
        self,
        title: str,
        start: dt.date,
        *,
        end: dt.date | None = None,
        metrics: Iterable[str] = (),
        scope: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        author: str | None = None,
    ) -> BusinessEvent:
        """Record something that happened and may move KPIs whatever the outputs (a price
        change, an outage, a campaign): on ``start``, or from ``start`` through ``end``; about
        ``metrics`` (metric names; none: every KPI) in the segment ``scope`` ((dimension, value)
        pairs; none: the whole company). The store gives it the next id."""
        raw = {"title": title, "start": start, "end": end, "metrics": metrics, "scope": scope}
        content = {name: BUSINESS_EVENT.fields[name] for name in BUSINESS_EVENT.content}
        values, problems = convert_fields(content, raw)
        start_day, end_day = values.get("start"), values.get("end")
        if start_day and end_day and end_day < start_day:
            problems.append(
                (
                    "end",
                    f"end {end_day} is before start {start_day}; give the last day "
                    "of the range, on or after the start (or no end for a change on one day)",
                )
            )
        if problems:
            listed = "\n".join(f"- {message}" for _, message in problems)
            raise StoreError(f"{self.shown}: cannot add event {title!r}:\n{listed}")
        actor = self._author(author)
        with self._db.write(f"adding event {title!r}") as conn:
            # Ids come from the log, not the table: a removed event's id is never given again,
            # so the history of an id is the history of one event.
            used = conn.execute(
                "SELECT key FROM events WHERE entity = ?", (BUSINESS_EVENT.name,)
            ).fetchall()
            ident = 1 + max((int(key.removeprefix("event:")) for (key,) in used), default=0)
            now = _now()
            after = {"id": ident, **values, "author": actor, "created_at": now}
            self._append(
                conn,
                at=now,
                actor=actor,
                kind=BUSINESS_EVENT.name,
                entity=BUSINESS_EVENT,
                before=None,
                after=after,
            )
        return _business_event(after)

    def remove_event(self, event_id: int, *, author: str | None = None) -> BusinessEvent:
        """Remove a business event (it stays in the log; ``undo`` brings it back); returns what
        was removed."""
        try:
            ident = _event_id("event id", event_id)
        except Invalid as exc:
            raise StoreError(f"{self.shown}: cannot remove it: {exc}") from None
        actor = self._author(author)
        with self._db.write(f"removing event {ident}") as conn:
            before = self._current(conn, BUSINESS_EVENT, {"id": ident})
            if before is None:
                raise StoreError(
                    f"{self.shown}: there is no event {ident} to remove; `reviewkit events` "
                    "(or store.business_events()) lists the events with their ids"
                )
            self._append(
                conn,
                at=_now(),
                actor=actor,
                kind="remove_event",
                entity=BUSINESS_EVENT,
                before=before,
                after=None,
            )
        return _business_event(before)

    def business_events(self, *, metric: str | None = None) -> list[BusinessEvent]:
        """The business events by start, then id; with ``metric``, those about it: the ones
        naming it and the ones about every KPI."""
        found = [_business_event(s) for s in self._list(BUSINESS_EVENT, {})]
        if metric is not None:
            found = [e for e in found if not e.metrics or metric in e.metrics]
        return sorted(found, key=lambda e: (e.start, e.id))

    # --- people ------------------------------------------------------------------------------

    def add_person(
        self,
        name: str,
        *,
        email: str | None = None,
        role: str = "contributor",
        author: str | None = None,
    ) -> str:
        """Let ``name`` sign in to the live pages; returns their token, which is shown this once
        (the store keeps only its SHA-256). Someone removed may be added again, with a new
        token; someone present is refused (remove them first to issue a new one)."""
        try:
            name = _ident("name", name)
            email = _optional_text("email", email)
            checked = _choice(PERSON_ROLES)("role", role)
        except Invalid as exc:
            raise StoreError(f"{self.shown}: cannot add {name!r}: {exc}") from None
        actor = self._author(author)
        token = secrets.token_urlsafe(32)
        with self._db.write(f"adding {name}") as conn:
            row = conn.execute("SELECT removed_at FROM people WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] is None:
                raise StoreError(
                    f"{self.shown}: {name} can already sign in; to give them a new token, "
                    f"remove them first (reviewkit users remove {name!r})"
                )
            conn.execute("DELETE FROM people WHERE name = ?", (name,))
            conn.execute(
                "INSERT INTO people (name, email, role, token_sha256, added_at, added_by) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, email, checked, _token_hash(token), _now(), actor),
            )
        return token

    def remove_person(self, name: str) -> Person:
        """Stop ``name``'s token from signing in (what they saved stays theirs)."""
        with self._db.write(f"removing {name}") as conn:
            found = conn.execute(
                f"SELECT {_PERSON_COLUMNS} FROM people WHERE name = ? AND removed_at IS NULL",
                (name,),
            ).fetchone()
            if found is None:
                raise StoreError(
                    f"{self.shown}: nobody called {name!r} can sign in; see `reviewkit users list`"
                )
            conn.execute("UPDATE people SET removed_at = ? WHERE name = ?", (_now(), name))
        return _person(found)

    def people(self) -> list[Person]:
        """Everyone who can sign in, by name."""
        with self._db.read("reading the people") as conn:
            rows = conn.execute(
                f"SELECT {_PERSON_COLUMNS} FROM people WHERE removed_at IS NULL ORDER BY name"
            ).fetchall()
        return [_person(row) for row in rows]

    def person(self, name_or_email: str) -> Person | None:
        """Who may sign in under this name or email, or None."""
        with self._db.read("reading the people") as conn:
            row = conn.execute(
                f"SELECT {_PERSON_COLUMNS} FROM people WHERE removed_at IS NULL "
                "AND (name = ? OR email = ?) ORDER BY name LIMIT 1",
                (name_or_email, name_or_email),
            ).fetchone()
        return None if row is None else _person(row)

    def person_for_token(self, token: str) -> Person | None:
        """Who signs in with ``token``, or None (unknown, or removed)."""
        if not token:
            return None
        with self._db.read("checking a sign-in token") as conn:
            row = conn.execute(
                f"SELECT {_PERSON_COLUMNS} FROM people "
                "WHERE token_sha256 = ? AND removed_at IS NULL",
                (_token_hash(token),),
            ).fetchone()
        return None if row is None else _person(row)

    # --- history -------------------------------------------------------------------------------

    def events(self, *, since: dt.datetime | None = None, key: str | None = None) -> list[Event]:
        """The log of changes (not the business events: :meth:`business_events`), oldest first:
        all of it, the events after ``since`` (naive: local time),
        and/or those of one entity key (e.g. ``ONB-241→activation-onboarding``)."""
        conditions: list[str] = []
        params: list[str] = []
        if since is not None:
            conditions.append("at > ?")
            params.append(_iso(since))
        if key is not None:
            conditions.append("key = ?")
            params.append(key)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        with self._db.read("reading the history") as conn:
            rows = conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events {where} ORDER BY id", params)
            return [_event(row) for row in rows]

    def last_event_id(self) -> int:
        """The id of the log's last event (0 for an empty log): it changes with every save."""
        with self._db.read("reading the history") as conn:
            return int(conn.execute("SELECT max(id) FROM events").fetchone()[0] or 0)

    def changes_since(self, when: dt.datetime) -> list[Event]:
        """What changed after ``when`` (e.g. the last review's ``completed_at``): the events
        since then, without those undone since then and their undos, which cancel out."""
        found = self.events(since=when)
        ids = {event.id for event in found}
        undone = {event.undoes for event in found if event.undoes in ids}
        return [e for e in found if e.id not in undone and e.undoes not in undone]

    def undo(self, *, author: str | None = None) -> Event | None:
        """Revert the latest change of ``author`` (default: the store's actor) that is neither an
        undo nor undone already, by appending its inverse; None when there is nothing to undo.
        Calling it again reverts the change before. Refused when someone changed the same entity
        since, because their change would be lost."""
        actor = self._author(author)
        with self._db.write(f"undoing the last change of {actor}") as conn:
            row = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events AS e WHERE actor = ? AND kind != 'undo' "
                "AND NOT EXISTS (SELECT 1 FROM events AS u WHERE u.undoes = e.id) "
                "ORDER BY id DESC LIMIT 1",
                (actor,),
            ).fetchone()
            if row is None:
                return None
            target = _event(row)
            entity = ENTITIES[target.entity]
            identity = target.after or target.before
            assert identity is not None
            current = self._current(conn, entity, identity)
            if current != target.after:
                later = conn.execute(
                    "SELECT id, actor, at FROM events WHERE key = ? AND entity = ? AND id > ? "
                    "ORDER BY id DESC LIMIT 1",
                    (target.key, target.entity, target.id),
                ).fetchone()
                why = (
                    f"{later[1]} changed it since (event {later[0]} at {later[2]}); change it "
                    "by hand instead"
                    if later
                    else "its state differs from the log; run rebuild(), then undo again"
                )
                raise StoreError(
                    f"{self.shown}: cannot undo {target.kind} {target.key} "
                    f"(event {target.id}): {why}"
                )
            return self._append(
                conn,
                at=_now(),
                actor=actor,
                kind="undo",
                entity=entity,
                before=current,
                after=target.before,
                undoes=target.id,
            )

    def rebuild(self) -> None:
        """Recompute every state table by replaying the whole log, in one transaction."""
        with self._db.write("rebuilding the tables from the event log") as conn:
            state, _ = _replay(conn)
            for entity in ENTITIES.values():
                conn.execute(f"DELETE FROM {entity.table}")
            for (name, _), snapshot in state.items():
                self._project(conn, ENTITIES[name], None, snapshot)

    def verify(self) -> bool:
        """Whether replaying the log gives exactly the state tables, and every event's before
        image is the state the log had reached (one consistent snapshot is read)."""
        with self._db.read("verifying the store") as conn:
            state, chained = _replay(conn)
            tables = {
                (entity.name, tuple(s[k] for k in entity.keys)): s
                for entity in ENTITIES.values()
                for s in self._rows(conn, entity)
            }
            return chained and state == tables

    def _list(self, entity: Entity, filters: Mapping[str, str | None]) -> list[Snapshot]:
        given = {name: value for name, value in filters.items() if value is not None}
        where = " AND ".join(f"{name} = ?" for name in _quoted(given))
        with self._db.read(f"reading the {entity.table}") as conn:
            return self._rows(conn, entity, f"WHERE {where}" if where else "", list(given.values()))

    # --- merging -----------------------------------------------------------------------------

    def rows(self, *entities: Entity) -> list[list[Snapshot]]:
        """Every row of each entity's state table, read in one consistent snapshot."""
        names = " and ".join(entity.table for entity in entities)
        with self._db.read(f"reading the {names}") as conn:
            return [self._rows(conn, entity) for entity in entities]

    def merge(
        self,
        records: Iterable[tuple[Entity, Snapshot, Snapshot]],
        *,
        author: str | None = None,
        doing: str,
    ) -> ImportResult:
        """Create or update entities from checked ``(entity, values, stamps)`` records in one
        transaction, never deleting: unchanged entities record nothing, so merging the same
        records again is idempotent. A new entity keeps the author and timestamps ``stamps``
        gives; a changed one is attributed to ``author`` (default the store's actor), now."""
        actor = self._author(author)
        created = updated = unchanged = 0
        with self._db.write(doing) as conn:
            now = _now()
            for entity, values, stamps in records:
                before = self._current(conn, entity, values)
                if before is None:
                    first = stamps["created_at"] or now
                    after = {
                        **values,
                        "author": stamps["author"] or actor,
                        "created_at": first,
                        "updated_at": stamps["updated_at"] or first,
                    }
                    created += 1
                elif any(before[name] != values[name] for name in entity.content):
                    after = {
                        **values,
                        "author": actor,
                        "created_at": before["created_at"],
                        "updated_at": now,
                    }
                    updated += 1
                else:
                    unchanged += 1
                    continue
                self._append(
                    conn,
                    at=now,
                    actor=actor,
                    kind=entity.name,
                    entity=entity,
                    before=before,
                    after=after,
                )
        return ImportResult(created, updated, unchanged)


# --- people -----------------------------------------------------------------------------------

PERSON_ROLES: Final = ("viewer", "contributor")
_PERSON_COLUMNS: Final = "name, email, role, added_at, added_by, token_sha256"
#: A person's whole row, as a store copy carries it
_PEOPLE_ROWS: Final = "name, email, role, token_sha256, added_at, added_by, removed_at"


def _token_hash(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 keeps them safe at rest (no salt or slow
    hash is needed: nothing about them can be guessed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _person(row: Sequence[Any]) -> Person:
    name, email, role, added_at, added_by, token_sha256 = row
    session = hashlib.sha256(f"reviewkit-session:{token_sha256}".encode()).hexdigest()[:32]
    return Person(name, email, role, _when(added_at), added_by, session)


# --- the store as it was ----------------------------------------------------------------------


def store_as_of(source: Path | str, target: Path | str, last_event_id: int | None = None) -> Store:
    """A new store at ``target`` holding the events of ``source`` up to ``last_event_id`` (all of
    them when None; their ids, times and authors kept) and the state they lead to: the store as
    it was right after that event, for re-running an old review, or the whole store in another
    database (`reviewkit store migrate`), with the people who may sign in. Either may be a SQLite
    file or a PostgreSQL address.
    ``source`` is only read; ``target`` must be a new file or a database without events. Raises
    :class:`StoreError` when ``source`` is not a reviewkit store or has no event
    ``last_event_id`` (it was replaced by another store)."""
    if isinstance(source, Path) and not source.is_file():
        raise StoreError(f"{shown_path(source)}: no store here, so it cannot be read")
    if isinstance(target, Path) and target.exists():
        raise StoreError(f"{shown_path(target)}: already exists; pass a new path for the copy")
    with Store(source, create=False) as original:
        shown = original.shown
        with original._db.read("reading the store's history") as conn:
            last = conn.execute("SELECT max(id) FROM events").fetchone()[0] or 0
            rows = conn.execute(
                f"SELECT {_EVENT_COLUMNS} FROM events WHERE id <= ? ORDER BY id",
                (last if last_event_id is None else last_event_id,),
            ).fetchall()
            people = conn.execute(f"SELECT {_PEOPLE_ROWS} FROM people").fetchall()
    if last_event_id is not None and last < last_event_id:
        raise StoreError(
            f"{shown}: the store's history ends at event {last}, before event {last_event_id}: "
            "this is not the store the review read (replaced, or restored from an older "
            "backup); put that store back to reproduce it"
        )
    copy = Store(target, create=True)
    upto = "" if last_event_id is None else f" up to event {last_event_id}"
    try:
        with copy._db.write(f"copying {shown}{upto}") as conn:
            if conn.execute("SELECT count(*) FROM events").fetchone()[0]:
                raise StoreError(
                    f"{copy.shown}: already holds a store with events; copy into a new, "
                    "empty one (nothing was copied)"
                )
            conn.executemany(
                f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [tuple(row) for row in rows],
            )
            copy._db.events_follow_ids(conn)
            conn.executemany(
                f"INSERT INTO people ({_PEOPLE_ROWS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [tuple(row) for row in people],
            )
            state, _ = _replay(conn)
            for (name, _), snapshot in state.items():
                copy._project(conn, ENTITIES[name], None, snapshot)
    except BaseException:
        copy.close()
        raise
    return copy


# --- log replay ------------------------------------------------------------------------------

_EVENT_COLUMNS: Final = "id, at, actor, kind, entity, key, before, after, undoes"


def _event(row: Sequence[Any]) -> Event:
    ident, at, actor, kind, entity, key, before, after, undoes = row
    return Event(ident, _when(at), actor, kind, entity, key, _loads(before), _loads(after), undoes)


def _replay(
    conn: Connection,
) -> tuple[dict[tuple[str, tuple[Any, ...]], Snapshot], bool]:
    """The state the log leads to, and whether every event's before image matched the state
    reached so far (a log that does not chain was written by something else)."""
    state: dict[tuple[str, tuple[Any, ...]], Snapshot] = {}
    chained = True
    for name, before_text, after_text in conn.execute(
        "SELECT entity, before, after FROM events ORDER BY id"
    ):
        entity = ENTITIES[name]
        before, after = _loads(before_text), _loads(after_text)
        image = after or before
        assert image is not None
        ident = (name, tuple(image[key] for key in entity.keys))
        chained = chained and state.get(ident) == before
        if after is None:
            state.pop(ident, None)
        else:
            state[ident] = after
    return state, chained
