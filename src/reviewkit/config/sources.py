"""``sources:``: the exports, their columns and how to read them (files, or tables in a SQL
engine)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from reviewkit.base.yamlfile import KeyPath
from reviewkit.config.collector import Collector, is_date_format
from reviewkit.config.keys import OPTION_KEYS, allowed
from reviewkit.config.model import (
    DATE_GRAINS,
    ENCODINGS,
    ENGINES,
    EXTENSIONS,
    FORMATS,
    FUTURE_DATES,
    GAPS,
    ON_ERROR,
    VALUE_TYPES,
    WAREHOUSE,
    WAREHOUSE_KEYS,
    DateColumn,
    Lifecycle,
    Source,
)

__all__ = ["SourceChecks"]


class SourceChecks:
    """``sources:``: each export, its columns and how to read it."""

    def __init__(self, check: Collector) -> None:
        self.check = check

    def source(self, key: Any, raw: Any) -> Source | None:
        kp: KeyPath = ("sources", key)
        name = self.check.name(key, kp, "source")
        if isinstance(raw, dict) and "engine" in raw:
            return self.warehouse_source(name, raw, kp)
        has_lifecycle = isinstance(raw, dict) and "lifecycle" in raw
        spec = self.check.mapping(
            raw, kp, allowed("sources"), required=("path",) if has_lifecycle else ("path", "date")
        )
        if name is None or spec is None:
            return None
        for only in WAREHOUSE_KEYS:
            if only in spec:
                self.check.error((*kp, only), "only used with `engine:` (a source in a SQL engine)")
        ok = True
        path = self.check.text(spec.get("path"), (*kp, "path")) if "path" in spec else None
        fmt = spec.get("format")
        if fmt is None and path is None:
            pass  # the path's own problem is reported
        elif fmt is None and path is not None:
            fmt = EXTENSIONS.get(Path(path).suffix.lower())
            if fmt is None:
                self.check.error(
                    (*kp, "path"),
                    f"cannot tell the format from '{Path(path).suffix or path}'; add "
                    f"`format:` ({', '.join(FORMATS)})",
                )
        elif is_date_format(fmt):
            self.check.error(
                (*kp, "format"),
                f"{fmt!r} is a date format, not a file format ({', '.join(FORMATS)}); it "
                "belongs " + self.check.under("sources", key, ("date",), "format", fmt),
            )
            fmt = None
        else:
            fmt = self.check.text(fmt, (*kp, "format"), FORMATS)
        date = self.date_column(spec.get("date"), (*kp, "date")) if "date" in spec else None
        lifecycle = None
        if has_lifecycle:
            date, lifecycle = self.lifecycle(spec, (*kp, "lifecycle"))
        dims = self.check.text_list(spec.get("dimensions", []), (*kp, "dimensions"))
        values = self.values(spec.get("values", {}), (*kp, "values"))
        shape = (
            self.check.text(spec.get("shape", "wide"), (*kp, "shape"), ("wide", "long")) or "wide"
        )
        long_key = long_value = None
        if shape == "long" and "long" not in spec:
            self.check.error(
                (*kp, "shape"),
                "`shape: long` needs `long: {key: COLUMN, value: COLUMN}`: the column naming "
                "each value and the column holding it",
            )
            ok = False
        elif shape == "long":
            long = self.check.mapping(
                spec.get("long"), (*kp, "long"), allowed("sources.long"), allowed("sources.long")
            )
            if long:
                long_key = self.check.text(long.get("key"), (*kp, "long", "key"))
                long_value = self.check.text(long.get("value"), (*kp, "long", "value"))
            ok = ok and long_key is not None and long_value is not None
        elif "long" in spec:
            self.check.error(
                (*kp, "long"), "only used with `shape: long`; remove it or set the shape"
            )
        on_error = self.check.text(spec.get("on_error", "fail"), (*kp, "on_error"), ON_ERROR)
        unique = self.check.text_list(spec.get("unique", []), (*kp, "unique"))
        future = self.check.text(
            spec.get("future_dates", "refuse"), (*kp, "future_dates"), FUTURE_DATES
        )
        options = self.options(spec.get("options", {}), (*kp, "options"), fmt)
        seen: dict[str, str] = {}
        declared = [
            ("lifecycle" if lifecycle else "date", date.column if date else None),
            *(
                ("lifecycle", column)
                for column in ((lifecycle.id, lifecycle.end) if lifecycle else ())
            ),
            *(("dimensions", d) for d in dims),
            *(("values", v) for v, _ in values),
        ]
        if shape == "long" and lifecycle:
            self.check.error(
                (*kp, "shape"),
                "a lifecycle source has a row per entity (or spell of one): `shape: long` "
                "does not apply; remove it",
            )
            ok = False
        elif shape == "long":
            declared = declared[: 1 + len(dims)]  # value names are keys, not columns
        for section, column in declared:
            if column is None:
                continue
            if column in seen:
                self.check.error(
                    (*kp, section),
                    f"column '{column}' is declared twice (also under {seen[column]})",
                )
            seen[column] = section
        if None in (path, fmt, date, on_error, future) or options is None or not ok:
            return None
        assert path is not None and fmt is not None and date is not None and on_error is not None
        assert future is not None
        if fmt == "tsv" and "delimiter" not in options:
            options["delimiter"] = "\t"
        return Source(
            name=name,
            path=path,
            format=fmt,
            date=date,
            dimensions=tuple(dims),
            values=tuple(values),
            shape=shape,
            long_key=long_key,
            long_value=long_value,
            on_error=on_error,
            unique=tuple(unique),
            future_dates=future,
            description=str(spec.get("description", "")),
            lifecycle=lifecycle,
            **options,
        )

    def lifecycle(
        self, spec: dict[str, Any], kp: KeyPath
    ) -> tuple[DateColumn | None, Lifecycle | None]:
        """``lifecycle: {id, start, end, format}``: the source's date column is the start."""
        if "date" in spec:
            self.check.error(
                (*kp[:-1], "date"),
                "a lifecycle source is placed in time by `lifecycle: start:`; remove `date:` "
                "(a date format goes under `lifecycle: format:`)",
            )
        part = self.check.mapping(
            spec["lifecycle"], kp, allowed("sources.lifecycle"), required=("id", "start", "end")
        )
        if part is None or not {"id", "start", "end"} <= set(part):
            return None, None
        columns = [self.check.text(part[key], (*kp, key)) for key in ("id", "start", "end")]
        fmt = self.check.text(part["format"], (*kp, "format")) if "format" in part else None
        if fmt is not None and "%" not in fmt:
            self.check.error(
                (*kp, "format"),
                f"'{fmt}' has no % directives; write a strptime format such as '%Y-%m-%d'",
            )
            return None, None
        ident, start, end = columns
        changes = self.check.text(part["changes"], (*kp, "changes")) if "changes" in part else None
        if ident is None or start is None or end is None:
            return None, None
        # a day without a new entity is normal, not missing data
        return DateColumn(start, fmt, "day", "ignore"), Lifecycle(ident, start, end, changes)

    def warehouse_source(self, name: str | None, raw: dict[Any, Any], kp: KeyPath) -> Source | None:
        """A source that lives in a SQL engine: ``engine: postgresql://...`` with ``table:`` or
        ``query:``; its KPIs are computed there and only aggregates come back."""
        engine_keys = tuple(k for k in allowed("sources") if k not in ("path", "format", "options"))
        for key in ("path", "format", "options", "shape", "long", "lifecycle"):
            if key in raw:
                self.check.error(
                    (*kp, key),
                    f"`{key}:` is for exports in files; a source with `engine:` reads the rows "
                    "its `table:` or `query:` names (reshape them in the query)",
                )
        spec = self.check.mapping(
            raw, kp, tuple(k for k in engine_keys if k not in ("shape", "long", "lifecycle"))
        )
        if spec is None:
            return None
        engine = self.engine_url(spec.get("engine"), (*kp, "engine"))
        given = [k for k in WAREHOUSE_KEYS if k in spec]
        if len(given) != 1:
            self.check.error(
                kp,
                "a source with `engine:` needs exactly one of `table:` (a table or view, e.g. "
                "analytics.tickets) or `query:` (SQL in the engine's dialect)"
                + (f"; it has {' and '.join(given)}" if given else ""),
            )
        what = self.check.text(spec[given[0]], (*kp, given[0])) if len(given) == 1 else None
        if "date" not in spec:
            self.check.error(kp, "missing required key 'date'")
        date = self.date_column(spec.get("date"), (*kp, "date")) if "date" in spec else None
        if date is not None and date.format is not None:
            self.check.error(
                (*kp, "date", "format"),
                "a source in an engine has typed dates; remove `format:` (or convert the "
                "column in `query:`)",
            )
        dims = self.check.text_list(spec.get("dimensions", []), (*kp, "dimensions"))
        values = self.values(spec.get("values", {}), (*kp, "values"))
        on_error = self.check.text(spec.get("on_error", "fail"), (*kp, "on_error"), ("fail",))
        unique = self.check.text_list(spec.get("unique", []), (*kp, "unique"))
        future = self.check.text(
            spec.get("future_dates", "refuse"), (*kp, "future_dates"), FUTURE_DATES
        )
        if None in (name, engine, what, date, on_error, future):
            return None
        assert name is not None and what is not None and date is not None
        assert future is not None
        return Source(
            name=name,
            path="",
            format=WAREHOUSE,
            date=date,
            dimensions=tuple(dims),
            values=tuple(values),
            unique=tuple(unique),
            future_dates=future,
            description=str(spec.get("description", "")),
            engine=engine,
            table=what if given == ["table"] else None,
            query=what if given == ["query"] else None,
        )

    def engine_url(self, raw: Any, kp: KeyPath) -> str | None:
        """An engine URL whose scheme reviewkit knows, without a password in it."""
        url = self.check.text(raw, kp)
        if url is None:
            return None
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ENGINES:
            self.check.error(
                kp,
                f"unknown engine {parts.scheme or url!r}; use a URL starting with one of: "
                + ", ".join(f"{scheme}://" for scheme in ENGINES),
            )
            return None
        if parts.password:
            self.check.error(
                kp,
                "the engine URL holds a password, which reviewkit.yaml must not: remove it and "
                "give it to the engine's client instead (PGPASSWORD or ~/.pgpass for PostgreSQL)",
            )
            return None
        return url

    def date_column(self, raw: Any, kp: KeyPath) -> DateColumn | None:
        if isinstance(raw, str):
            return DateColumn(raw)
        spec = self.check.mapping(raw, kp, allowed("sources.date"), required=("column",))
        if spec is None or "column" not in spec:
            return None
        column = self.check.text(spec["column"], (*kp, "column"))
        grain = self.check.text(spec.get("grain", "day"), (*kp, "grain"), DATE_GRAINS) or "day"
        gaps = self.check.text(spec.get("gaps", "flag"), (*kp, "gaps"), GAPS) or "flag"
        fmt = self.check.text(spec["format"], (*kp, "format")) if "format" in spec else None
        if fmt is not None and "%" not in fmt:
            self.check.error(
                (*kp, "format"),
                f"'{fmt}' has no % directives; write a strptime format such as '%Y-%m-%d' or "
                "'%a, %d-%b-%Y'",
            )
            return None
        return DateColumn(column, fmt, grain, gaps) if column else None

    def values(self, raw: Any, kp: KeyPath) -> list[tuple[str, str]]:
        if isinstance(raw, list):
            return [(c, "number") for c in self.check.text_list(raw, kp)]
        spec = self.check.mapping(raw, kp)
        if spec is None:
            return []
        out = []
        for column, type_name in spec.items():
            checked = self.check.text(type_name, (*kp, column), VALUE_TYPES)
            # a value of an unknown type is still declared: metrics may name it without a 2nd error
            out.append((str(column), checked or "number"))
        return out

    def options(self, raw: Any, kp: KeyPath, fmt: str | None) -> dict[str, Any] | None:
        keys = OPTION_KEYS.get(fmt or "csv", OPTION_KEYS["csv"])
        spec = self.check.mapping(raw, kp, keys)
        if spec is None:
            return None
        out: dict[str, Any] = {}
        for key in ("delimiter", "thousands", "decimal", "quote"):
            if key in spec:
                value = self.check.text(spec[key], (*kp, key))
                if value is not None and len(value) != 1:
                    self.check.error((*kp, key), f"expected a single character, got {value!r}")
                elif value is not None:
                    out[key] = value
        if "encoding" in spec:
            enc = self.check.text(spec["encoding"], (*kp, "encoding"))
            if enc is not None and enc.lower() not in ENCODINGS:
                self.check.error(
                    (*kp, "encoding"),
                    f"unsupported encoding '{enc}'; use utf-8 (with or without BOM), latin-1 "
                    "or utf-16",
                )
            elif enc is not None:
                out["encoding"] = ENCODINGS[enc.lower()]
        if "sheet" in spec:
            out["sheet"] = self.check.text(spec["sheet"], (*kp, "sheet"))
        if out.get("thousands") is not None and out.get("thousands") == out.get("decimal", "."):
            self.check.error((*kp, "thousands"), "the thousands and decimal separators must differ")
        return out
