"""The problem collector every section checker shares: the value checks (text, names, numbers,
dates, periods, filters) and where an unknown key belongs instead.

One :class:`Collector` reads one file; each section checker (:mod:`reviewkit.config.sources`,
:mod:`~reviewkit.config.metrics`, ...) is given it and reports through it, so every problem of
the file is collected, with its line and key path, before
:func:`~reviewkit.config.loader.load_config` raises once.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any, Final

from reviewkit.base.errors import ReviewkitError, suggest
from reviewkit.base.periods import Calendar, parse_period
from reviewkit.base.yamlfile import Checker, KeyPath, Located, kind
from reviewkit.config.keys import LAYOUTS
from reviewkit.config.model import NAME_RE

__all__ = ["Collector", "is_date_format"]

#: What an entry of each section is called in a message.
ENTRY_NAMES: Final = {"sources": "source", "metrics": "metric", "outcomes": "outcome"}
#: Mappings that may be written as one text instead, and the key that text stands for.
SHORTHANDS: Final = {"date": "column", "kpi": "metric"}
#: A YAML value that needs no quotes in a message's example.
PLAIN_VALUE: Final = re.compile(r"[A-Za-z0-9_./-]+")


def is_date_format(value: Any) -> bool:
    """Whether ``value`` is a strptime format (a date's ``format:``, not a file's)."""
    return isinstance(value, str) and "%" in value


def _inline(value: Any) -> str:
    """``value`` as written in a YAML flow mapping, for an example in a message."""
    if isinstance(value, str) and PLAIN_VALUE.fullmatch(value):
        return value
    if isinstance(value, str | int | float | bool):
        return json.dumps(value)
    return "..."


class Collector(Checker):
    """The problems found in one file, and the value checks every section uses."""

    def __init__(self, located: Located) -> None:
        super().__init__(located)
        #: Periods in targets and outcomes are read in the project's calendar.
        self.project_calendar = Calendar()

    def text(
        self,
        value: Any,
        keypath: KeyPath,
        choices: Sequence[str] = (),
        *,
        allow_empty: bool = False,
    ) -> str | None:
        if not isinstance(value, str) or (not value and not allow_empty):
            self.error(keypath, f"expected text, got {kind(value)}")
            return None
        if choices and value not in choices:
            self.error(
                keypath,
                f"'{value}' is not one of: {', '.join(choices)}{suggest(value, choices)}",
            )
            return None
        return value

    def name(self, value: Any, keypath: KeyPath, what: str) -> str | None:
        if not isinstance(value, str) or not NAME_RE.match(value):
            self.error(
                keypath,
                f"{what} name {value!r} must be lowercase letters, digits and _, starting "
                "with a letter",
            )
            return None
        return value

    def integer(self, value: Any, keypath: KeyPath, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error(keypath, f"expected a whole number from {low} to {high}, got {value!r}")
            return None
        return value

    def number(self, value: Any, keypath: KeyPath) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(keypath, f"expected a number, got {kind(value)}")
            return None
        return float(value)

    def text_list(self, value: Any, keypath: KeyPath) -> list[str]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.error(keypath, f"expected a list of column names, got {kind(value)}")
            return []
        items = []
        for i, item in enumerate(value):
            if isinstance(item, str) and item:
                items.append(item)
            else:
                self.error((*keypath, i), f"expected a column name, got {kind(item)}")
        return items

    def date(self, value: Any, kp: KeyPath) -> dt.date | None:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.error(kp, f"expected a date (YYYY-MM-DD), got {kind(value)}")
            return None

    def period_text(self, raw: Any, kp: KeyPath) -> Any:
        try:
            return parse_period(str(raw), None, self.project_calendar)
        except ReviewkitError as exc:
            self.error(kp, str(exc))
            return None

    def series(self, raw: Any, kp: KeyPath) -> tuple[tuple[str, float], ...]:
        """A value per period (``2026-10: 0.02``), each period read in the project's calendar."""
        spec = self.mapping(raw, kp)
        out = []
        for label, value in (spec or {}).items():
            number = self.number(value, (*kp, label))
            period = self.period_text(label, (*kp, label))
            if period is not None and number is not None:
                out.append((period.label, number))
        if spec is not None and not spec:
            self.error(kp, "no periods: write `PERIOD: VALUE` lines, e.g. 2026-10: 0.02")
        return tuple(out)

    def filters(self, raw: Any, kp: KeyPath) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
        spec = self.mapping(raw, kp)
        if spec is None:
            return None
        out = []
        for column, wanted in spec.items():
            items = wanted if isinstance(wanted, list) else [wanted]
            if not items or not all(isinstance(v, str | int | float) for v in items):
                self.error((*kp, column), "expected a value or a list of values")
                return None
            out.append((str(column), tuple(str(v) for v in items)))
        return tuple(out)

    def belongs(self, keypath: KeyPath, key: str, value: Any) -> str | None:
        """Where a key unknown in a source, a metric or an outcome belongs: at another level of
        the same entry (a date's ``format`` is told from the file's by its % directives), else
        in another kind of entry. "`gaps` belongs under `date:` (sources: orders: date: gaps:)"."""
        if len(keypath) < 2 or keypath[0] not in LAYOUTS:
            return None
        section, entry, inside = str(keypath[0]), keypath[1], keypath[2:]
        own = [sub for sub, keys in LAYOUTS[section].items() if key in keys and sub != inside]
        if section == "sources" and key == "format":
            own = [sub for sub in own if (sub == ("date",)) == is_date_format(value)]
        places: list[tuple[str, str | int | None, tuple[str, ...]]]
        places = [(section, entry, sub) for sub in own] or [
            (other, None, sub)
            for other, layout in LAYOUTS.items()
            if other != section
            for sub, keys in layout.items()
            if key in keys
        ]
        if not places:
            return None
        return f"`{key}` belongs " + " or ".join(
            self.under(place, name, sub, key, value) for place, name, sub in places
        )

    def under(
        self, section: str, entry: str | int | None, sub: tuple[str, ...], key: str, value: Any
    ) -> str:
        """Where ``key`` goes in the mapping ``sub`` of ``entry`` (None: any entry of the
        section), spelt as YAML: "under `date:` (sources: orders: date: gaps:)"; a mapping
        written as its shorthand (``date: day``) is spelt out with the key added."""
        noun = ENTRY_NAMES[section]
        if entry is None:
            article = "an" if noun[0] in "aeiou" else "a"
            where = f"under {article} {noun}" + (f"'s `{sub[0]}:`" if sub else "")
            head = "- " if section == "outcomes" else f"{noun.upper()}: "
        else:
            where = f"under `{sub[0]}:`" if sub else f"directly under the {noun}"
            head = "- " if isinstance(entry, int) else f"{entry}: "
        written = self._written(section, entry, *sub) if entry is not None and sub else None
        if sub and isinstance(written, str) and SHORTHANDS.get(sub[0]) not in (None, key):
            body = (
                f"{sub[0]}: {{{SHORTHANDS[sub[0]]}: {_inline(written)}, {key}: {_inline(value)}}}"
            )
        else:
            body = " ".join(f"{k}:" for k in (*sub, key))
        return f"{where} ({section}: {head}{body})"

    def _written(self, *keypath: str | int) -> Any:
        """What the file holds at ``keypath`` (None when nothing)."""
        value: Any = self.located.data
        for step in keypath:
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                return None
        return value

    def declared(self, keypath: KeyPath) -> bool:
        return keypath in self.located.lines

    def declared_names(self, section: str) -> list[str | int]:
        """Names written under a top-level section, valid or not."""
        return [k[1] for k in self.located.lines if len(k) == 2 and k[0] == section]
