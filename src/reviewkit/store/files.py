"""The store's links and check-ins as files to review in git, and back: YAML or CSV.

>>> export_links(store, Path("links.yaml"))
>>> import_links(store, Path("links.yaml"), author="ana")
ImportResult(created=0, updated=1, unchanged=11)

``.yaml``/``.yml``: one document with ``links:`` and ``checkins:`` lists (an empty one written
with a commented example of every field, so a new project's export is a template). ``.csv``:
links in the file, check-ins in ``<stem>.checkins.csv`` beside it (decisions as JSON), with cells
neutralised against formula injection (:func:`formula_safe`). An import is all or nothing:
every wrong value is reported with its file, line and column, then nothing is written; what is
right is merged into the store in one transaction (:meth:`reviewkit.store.core.Store.merge`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from reviewkit.base.errors import Problem, shown_path
from reviewkit.base.files import replacing
from reviewkit.store.core import (
    CHECKIN,
    IMPORT_STAMPS,
    LINK,
    Entity,
    ImportResult,
    Invalid,
    Snapshot,
    Store,
    StoreError,
    convert_fields,
    store_as_of,
)

__all__ = ["Migration", "export_links", "formula_safe", "import_links", "migrate_store"]

#: First characters that make a spreadsheet evaluate a cell as a formula (OWASP's list), plus the
#: quote itself, so that stripping one leading quote on import is always exact.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r", "'")


def export_links(store: Store, path: Path) -> list[Path]:
    """Write the links and check-ins of ``store`` for review in git; returns the files written
    (see the module's documentation for the formats)."""
    path = Path(path)
    if _form(path) == "yaml":
        _write_atomically(path, _yaml_text(store))
        return [path]
    links, checkins = store.rows(LINK, CHECKIN)
    beside = _checkins_path(path)
    _write_atomically(path, _csv_text(LINK, links))
    _write_atomically(beside, _csv_text(CHECKIN, checkins))
    return [path, beside]


def _yaml_text(store: Store) -> str:
    """The export: each list as YAML. A list the store has nothing for (all of them, in a new
    project) is left empty above a commented example with every field, which imports nothing
    as it is and is one valid entry once uncommented."""
    links, checkins = store.rows(LINK, CHECKIN)
    text = _YAML_HEADER + (_YAML_EXAMPLES_NOTE if not (links and checkins) else "")
    for name, rows in (("links", links), ("checkins", checkins)):
        if rows:
            text += yaml.safe_dump({name: rows}, sort_keys=False, allow_unicode=True, width=1 << 20)
        else:
            text += f"{name}:\n" + "".join(f"# {line}\n" for line in _EXAMPLES[name])
    return text


@dataclass(frozen=True)
class Migration:
    """What `reviewkit store migrate` copied (every event, so every link, check-in, output and
    review with its history)."""

    target: str
    events: int
    links: int
    checkins: int


def migrate_store(source: Path | str, target: Path | str) -> Migration:
    """Copy the store at ``source`` into ``target`` (each a SQLite file's path or a PostgreSQL
    address; ``target`` a new file or a database without a store): every event with its id,
    time and author, in one transaction. Then the copy is checked: its log replays to its
    tables (:meth:`Store.verify`), its events equal the source's, and its links and check-ins
    export to the same YAML. A copy that fails a check raises :class:`StoreError`."""
    with store_as_of(source, target) as copy, Store(source, create=False) as original:
        problem = ""
        if not copy.verify():
            problem = "its tables do not match its event log"
        elif copy.events() != original.events():
            problem = (
                "its events differ from the source's: the source changed while it was copied "
                "(stop `reviewkit serve` and scheduled runs first)"
            )
        elif copy.people() != original.people():
            problem = "its people differ from the source's"
        elif _yaml_text(copy) != _yaml_text(original):
            problem = "its links and check-ins export differently from the source's"
        if problem:
            raise StoreError(
                f"{copy.shown}: the copy of {original.shown} failed its check: {problem}; the "
                "source is untouched: delete the copy and migrate again"
            )
        links, checkins = copy.rows(LINK, CHECKIN)
        return Migration(copy.shown, len(copy.events()), len(links), len(checkins))


def import_links(
    store: Store,
    path: Path,
    *,
    author: str | None = None,
    known_outputs: Collection[str] | None = None,
    known_outcomes: Collection[str] | None = None,
    directions: Mapping[str, str] | None = None,
) -> ImportResult:
    """Bring an export (maybe edited) back into ``store``: links and check-ins are created or
    updated, never deleted. All or nothing: every wrong value is reported (file:line), then
    nothing is written. Unchanged entities record nothing, so re-importing is idempotent.
    ``known_outputs``/``known_outcomes``, when given, are the only ids rows may name;
    ``directions`` gives a link without a direction its outcome's (else ``increase``).

    A new entity keeps the author and timestamps the file gives; a changed one is attributed
    to whoever imports it (``author``, default the store's actor), now."""
    path = Path(path)
    form = _form(path)
    problems: list[Problem] = []
    if form == "yaml":
        rows = _yaml_rows(path, problems)
    else:
        rows = _csv_rows(path, LINK, problems)
        beside = _checkins_path(path)
        if beside.exists():
            rows += _csv_rows(beside, CHECKIN, problems)
    for row in rows:
        outcome = row.raw.get("outcome_id")
        if row.entity is LINK and row.raw.get("direction") in (None, "") and directions:
            row.raw["direction"] = directions.get(str(outcome))
    known = {"output_id": known_outputs, "outcome_id": known_outcomes}
    records = _checked(rows, problems, known)
    if problems:
        problems.sort(key=lambda p: (p.path, p.line or 0, p.col or 0))
        raise StoreError.from_problems(
            f"{shown_path(path)}: nothing imported; fix these and import again:", problems
        )
    return store.merge(records, author=author, doing=f"importing {shown_path(path)}")


def _form(path: Path) -> str:
    suffix = path.suffix.lower()
    if path.name.lower().endswith(".checkins.csv"):
        raise StoreError(
            f"{shown_path(path)}: this is the check-ins half of a CSV export; pass the "
            f"links file ({_links_name(path)}), the check-ins beside it come along"
        )
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".csv":
        return "csv"
    raise StoreError(
        f"{shown_path(path)}: unknown export format '{suffix}'; use a .yaml, .yml or .csv file"
    )


_YAML_HEADER: Final = (
    "# reviewkit store export: links (output -> outcome) and check-ins.\n"
    "# Edit and import it back; author and the timestamps are informative.\n"
)
_YAML_EXAMPLES_NOTE: Final = (
    "# Under a list the store has nothing for, the commented lines are an example with every\n"
    "# field: uncomment it, put in your own ids and values, and import this file with\n"
    "# `reviewkit links import FILE`. As they are, they import nothing. (Every field:\n"
    '# "The links file" in docs/guide/analysts.md)\n'
)
#: The commented example under an empty list of the YAML export: every field, with what it is.
_EXAMPLES: Final = {
    "links": (
        "- output_id: WEB-12           # required: an output's id (a row of the outputs export)",
        "  outcome_id: more-signups    # required: an outcome's id (outcomes: in reviewkit.yaml)",
        "  hypothesis: Fewer fields, so fewer visitors give up half-way   # why; optional text",
        "  direction: increase         # increase | decrease: the way the KPI should move "
        "(default: the way its metric gets better)",
        "  size: 3                     # the expected change in the KPI's units (optional)",
        "  lag_days: 7                 # days from delivery until the KPI should move "
        "(default: the outcome's lag_days)",
        "  confidence: medium          # low | medium | high (default medium)",
        "  author: ana                 # optional, kept for a new link: who made it "
        "(default: who imports it)",
        "  created_at: 2026-11-20T09:30:00+00:00   # optional, as author: when (default: now)",
        "  updated_at: 2026-11-20T09:30:00+00:00   # optional, as author: when it last changed",
    ),
    "checkins": (
        "- outcome_id: more-signups    # required: the outcome reviewed",
        "  period: 2026-11             # required: the month reviewed, YYYY-MM",
        "  status: at risk             # required: on track | at risk | off track",
        "  proposed_status: off track  # optional: the status the numbers proposed",
        "  confidence: medium          # low | medium | high (default medium)",
        "  note: Sign-ups recover since the shorter form   # optional text",
        "  decisions:                  # optional: what the review decided, each with:",
        "  - text: Try a one-field form   # required: the decision",
        "    owner: ana                # optional: who does it",
        "    due: 2026-12-15           # optional: by when, YYYY-MM-DD",
        "    done: false               # true once done (default false)",
        "  author: ana                 # optional, kept for a new check-in: who made it "
        "(default: who imports it)",
        "  created_at: 2026-11-25T09:30:00+00:00   # optional, as author: when (default: now)",
        "  updated_at: 2026-11-25T09:30:00+00:00   # optional, as author: when it last changed",
    ),
}


def _checkins_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.checkins.csv")


def _links_name(path: Path) -> str:
    return path.name[: -len(".checkins.csv")] + ".csv"


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` at once, so a reader (or git) never sees half a file."""
    try:
        with replacing(path) as temporary:
            temporary.write_text(text, encoding="utf-8", newline="")
    except OSError as exc:
        raise StoreError(
            f"{shown_path(path)}: cannot write the export ({exc.strerror}); choose a folder "
            "where you may write"
        ) from None


def _cell(value: object) -> str:
    """A CSV cell. Text a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a
    leading ``'``, and so does text that starts with ``'`` itself: import strips exactly one
    leading quote, so every value round-trips, "-5% churn" and "'quoted'" included."""
    if value is None:
        return ""
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False) if value else ""
    if not isinstance(value, str):
        return repr(value)  # numbers; repr round-trips floats exactly
    return formula_safe(value)


def formula_safe(text: str) -> str:
    """``text`` as a spreadsheet cell that is never run as a formula: a leading ``'`` when it
    starts with =, +, -, @, tab, CR or ``'`` (which a spreadsheet shows as text)."""
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _uncell(text: str) -> str:
    return text[1:] if text.startswith("'") else text


def _csv_text(entity: Entity, rows: Iterable[Snapshot]) -> str:
    """CSV with a BOM (so Excel reads UTF-8) and CRLF line ends (RFC 4180; with LF the csv
    module would leave a lone CR inside a cell unquoted, which splits the row when read)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(entity.columns)
    writer.writerows([_cell(row[name]) for name in entity.columns] for row in rows)
    return "\ufeff" + out.getvalue()


@dataclass
class _Row:
    """One link or check-in read from a file, before checking, with where its values are."""

    entity: Entity
    raw: dict[str, object]
    path: str
    line: int
    #: (line, column) of each value when known (YAML); CSV problems give the row's line
    places: dict[str, tuple[int, int]] = field(default_factory=dict)


def _checked(
    rows: Iterable[_Row], problems: list[Problem], known: Mapping[str, Collection[str] | None]
) -> list[tuple[Entity, Snapshot, Snapshot]]:
    """Each valid row as (entity, values, stamps); every wrong value, unknown id (``known``:
    the ids a field may hold, None: any) and duplicate becomes a problem located in its file."""
    records = []
    seen: dict[tuple[str, tuple[Any, ...]], int] = {}
    for row in rows:
        values, wrong = convert_fields(row.entity.fields, row.raw)
        stamps, wrong_stamps = convert_fields(IMPORT_STAMPS, row.raw)
        for name, allowed in known.items():
            value = values.get(name)
            if value is not None and allowed is not None and value not in allowed:
                what = name.removesuffix("_id")
                wrong.append(
                    (name, f"{name} {value!r} is not a known {what}; fix the id or add the {what}")
                )
        for name, message in wrong + wrong_stamps:
            line, col = _place(row, name)
            problems.append(Problem(row.path, message, line, col))
        if wrong or wrong_stamps:
            continue
        ident = (row.entity.name, tuple(values[key] for key in row.entity.keys))
        if ident in seen:
            problems.append(
                Problem(
                    row.path,
                    f"{row.entity.name} {row.entity.label(values)} is already on line "
                    f"{seen[ident]}; keep one of them",
                    row.line,
                )
            )
            continue
        seen[ident] = row.line
        records.append((row.entity, values, stamps))
    return records


def _place(row: _Row, name: str) -> tuple[int, int | None]:
    """Where the value ``name`` (maybe nested: ``decisions[1].due``) is, or its nearest located
    container, or the row's line."""
    while name:
        if name in row.places:
            return row.places[name]
        name = name[: max(name.rfind("."), name.rfind("["), 0)]
    return (row.line, None)


def _csv_rows(path: Path, entity: Entity, problems: list[Problem]) -> list[_Row]:
    """The rows of a CSV export, each with the line it starts on (cells may span lines)."""
    shown = shown_path(path)
    rows: list[_Row] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as source:
            reader = csv.reader(source)
            try:
                header = next(reader, None)
                if header is None or not _header_ok(header, entity, shown, problems):
                    return rows
                start = reader.line_num + 1
                for cells in reader:
                    line, start = start, reader.line_num + 1
                    if not cells:
                        continue
                    if len(cells) != len(header):
                        problems.append(
                            Problem(
                                shown,
                                f"{len(cells)} cells but the header has {len(header)}; quote "
                                "cells that contain commas",
                                line,
                            )
                        )
                        continue
                    raw: dict[str, object] = {
                        name: _uncell(cell) for name, cell in zip(header, cells, strict=True)
                    }
                    rows.append(_Row(entity, raw, shown, line))
            except csv.Error as exc:
                problems.append(Problem(shown, f"not readable as CSV ({exc})", reader.line_num))
    except UnicodeDecodeError as exc:
        problems.append(Problem(shown, f"not UTF-8 text ({exc.reason}); save it as UTF-8"))
    except OSError as exc:
        raise StoreError(f"{shown}: cannot read it ({exc.strerror}); check the path") from None
    return rows


def _header_ok(header: list[str], entity: Entity, shown: str, problems: list[Problem]) -> bool:
    known = (*entity.fields, *IMPORT_STAMPS)
    found = len(problems)
    for column, name in enumerate(header, 1):
        if name not in known:
            problems.append(
                Problem(
                    shown, f"unknown column {name!r}; the columns are {', '.join(known)}", 1, column
                )
            )
        elif header.index(name) != column - 1:
            problems.append(Problem(shown, f"column {name!r} appears twice; keep one", 1, column))
    for name in _required(entity):
        if name not in header:
            problems.append(Problem(shown, f"column {name!r} is missing; add it", 1))
    return len(problems) == found


def _required(entity: Entity) -> list[str]:
    """The fields without a default: their converters refuse an empty value."""
    required = []
    for name, convert in entity.fields.items():
        try:
            convert(name, None)
        except Invalid:
            required.append(name)
    return required


def _yaml_rows(path: Path, problems: list[Problem]) -> list[_Row]:
    """The items of a YAML export's ``links:`` and ``checkins:`` lists, with the line and
    column of every value (from the composed nodes' marks)."""
    shown = shown_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        problems.append(Problem(shown, f"not UTF-8 text ({exc.reason}); save it as UTF-8"))
        return []
    except OSError as exc:
        raise StoreError(f"{shown}: cannot read it ({exc.strerror}); check the path") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problems.append(Problem(shown, f"YAML syntax error: {exc.problem}; fix it", line, col))
        return []
    if not isinstance(root, yaml.MappingNode):
        problems.append(
            Problem(shown, "expected `links:` and `checkins:` lists at the top, as export writes")
        )
        return []
    rows: list[_Row] = []
    listed: set[str] = set()
    for key_node, value_node in root.value:
        line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
        name = key_node.value
        entity = {"links": LINK, "checkins": CHECKIN}.get(name)
        if entity is None or name in listed:
            why = "appears twice" if name in listed else "is not links or checkins"
            problems.append(Problem(shown, f"top-level key {name!r} {why}", line, col))
            continue
        listed.add(name)
        if value_node.tag == "tag:yaml.org,2002:null":
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            problems.append(Problem(shown, f"{name} is not a list of `- key: value` items", line))
            continue
        for item in value_node.value:
            row = _yaml_row(item, entity, shown, problems)
            if row is not None:
                rows.append(row)
    return rows


def _yaml_row(node: yaml.Node, entity: Entity, shown: str, problems: list[Problem]) -> _Row | None:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        problems.append(Problem(shown, f"expected a {entity.name} (`key: value` lines)", line))
        return None
    known = (*entity.fields, *IMPORT_STAMPS)
    row = _Row(entity, {}, shown, line)
    readable = True
    for key_node, value_node in node.value:
        at = (value_node.start_mark.line + 1, value_node.start_mark.column + 1)
        where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        name = key_node.value
        if name not in known or name in row.raw:
            why = "appears twice" if name in row.raw else f"is unknown; keys are {', '.join(known)}"
            problems.append(Problem(shown, f"key {name!r} {why}", *where))
            readable = False
            continue
        try:
            row.raw[name] = yaml.SafeLoader("").construct_object(value_node, deep=True)
        except (yaml.YAMLError, ValueError) as exc:
            problems.append(Problem(shown, f"{name} cannot be read ({exc})", *at))
            readable = False
        _mark(value_node, name, row.places)
    return row if readable else None


def _mark(node: yaml.Node, name: str, places: dict[str, tuple[int, int]]) -> None:
    """Record where ``node`` and every value inside it are, under the names the converters give
    them (``decisions[1]``, ``decisions[1].due``: items count from 1)."""
    places[name] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.SequenceNode):
        for number, item in enumerate(node.value, 1):
            _mark(item, f"{name}[{number}]", places)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _mark(value, f"{name}.{key.value}", places)
