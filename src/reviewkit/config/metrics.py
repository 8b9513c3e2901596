"""``metrics:``: base and derived KPIs, and the sources, columns and metrics they refer to."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reviewkit.base.errors import suggest
from reviewkit.base.yamlfile import KeyPath
from reviewkit.config.collector import Collector
from reviewkit.config.keys import allowed
from reviewkit.config.model import (
    ACTIVE_AT,
    AGGREGATIONS,
    CHANGES,
    DERIVED_OPS,
    DIRECTIONS,
    EXPANSION,
    FRACTION_FORMATS,
    LIFECYCLE_AGGREGATIONS,
    ROLLUPS,
    SURVEY_AGGREGATIONS,
    VALUE_FORMATS,
    Metric,
    Source,
)

__all__ = ["MetricChecks"]


class MetricChecks:
    """``metrics:``: each KPI, then what the catalogue refers to."""

    def __init__(self, check: Collector) -> None:
        self.check = check

    def metric(self, key: Any, raw: Any) -> Metric | None:
        kp: KeyPath = ("metrics", key)
        name = self.check.name(key, kp, "metric")
        spec = self.check.mapping(raw, kp, allowed("metrics"))
        if name is None or spec is None:
            return None
        common = self.presentation(spec, kp, name)
        ops = [op for op in DERIVED_OPS if op in spec]
        if ops:
            return self.derived(name, spec, kp, ops, common)
        if "source" not in spec:
            self.check.error(
                kp,
                "a metric needs `source` with `agg` (and `column`) or `expression`, or one of: "
                + ", ".join(DERIVED_OPS),
            )
            return None
        source = self.check.text(spec["source"], (*kp, "source"))
        agg = column = expression = None
        if "expression" in spec:
            expression = self.check.text(spec["expression"], (*kp, "expression"))
            for extra in ("agg", "column"):
                if extra in spec:
                    self.check.error(
                        (*kp, extra), "use either `expression` or `agg`/`column`, not both"
                    )
            if "filters" in spec:
                self.check.error(
                    (*kp, "filters"),
                    "an expression takes no `filters`; write the condition inside it, e.g. "
                    "count(*) FILTER (WHERE channel = 'chat')",
                )
        elif "agg" in spec:
            agg = self.check.text(spec["agg"], (*kp, "agg"), AGGREGATIONS)
            if "column" in spec and agg in LIFECYCLE_AGGREGATIONS[:3]:
                self.check.error(
                    (*kp, "column"),
                    f"agg '{agg}' counts entities, not a column's values; remove `column` "
                    "(revenue_retention weighs them by a value column)",
                )
            elif "column" in spec:
                column = self.check.text(spec["column"], (*kp, "column"))
            elif agg not in (None, "count", *LIFECYCLE_AGGREGATIONS[:3]):
                self.check.error(kp, f"missing required key 'column' (agg '{agg}' needs a column)")
                agg = None
        else:
            self.check.error(kp, "missing required key 'agg' (or 'expression')")
        filters = self.check.filters(spec.get("filters", {}), (*kp, "filters"))
        at, expansion = self.lifecycle_options(spec, kp, agg)
        threshold = self.survey_options(spec, kp, agg, common)
        comments = None
        if "comments" in spec:
            if agg in SURVEY_AGGREGATIONS:
                comments = self.check.text(spec["comments"], (*kp, "comments"))
            else:
                self.check.error(
                    (*kp, "comments"), "only used with `agg: nps` or `agg: satisfaction`"
                )
        least = None
        if "min_responses" in spec:
            if agg in SURVEY_AGGREGATIONS:
                least = self.check.integer(spec["min_responses"], (*kp, "min_responses"), 1, 10**9)
            else:
                self.check.error(
                    (*kp, "min_responses"), "only used with `agg: nps` or `agg: satisfaction`"
                )
        if source is None or (agg is None and expression is None) or filters is None:
            return None
        return Metric(
            name=name,
            source=source,
            agg=agg,
            column=column,
            expression=expression,
            filters=filters,
            at=at,
            expansion=expansion,
            threshold=threshold,
            min_responses=least,
            comments=comments,
            **common,
        )

    def survey_options(
        self, spec: dict[str, Any], kp: KeyPath, agg: str | None, common: dict[str, Any]
    ) -> float | None:
        """``threshold`` (required with ``agg: satisfaction``, only there); an NPS is a score
        and a satisfaction a percent unless ``format`` says otherwise."""
        if agg in SURVEY_AGGREGATIONS and "format" not in spec:
            common["format"] = "score" if agg == "nps" else "percent"
        if agg != "satisfaction":
            if "threshold" in spec:
                self.check.error(
                    (*kp, "threshold"), "only used with `agg: satisfaction`; remove it"
                )
            return None
        if "threshold" not in spec:
            self.check.error(
                kp,
                "missing required key 'threshold' (agg 'satisfaction' counts the answers at or "
                "above it, e.g. threshold: 4 for CSAT 4-5 of 5)",
            )
            return None
        value = self.check.number(spec["threshold"], (*kp, "threshold"))
        return None if value is None else float(value)

    def lifecycle_options(
        self, spec: dict[str, Any], kp: KeyPath, agg: str | None
    ) -> tuple[str, str]:
        """``at`` (with ``agg: active``) and ``expansion`` (with ``agg: revenue_retention``),
        or their defaults."""
        found = {"at": "end", "expansion": "counted"}
        for key, owner, choices in (
            ("at", "active", ACTIVE_AT),
            ("expansion", "revenue_retention", EXPANSION),
        ):
            if key not in spec:
                continue
            if agg != owner:
                self.check.error((*kp, key), f"only used with `agg: {owner}`; remove it")
                continue
            value = self.check.text(spec[key], (*kp, key), choices)
            if value is not None:
                found[key] = value
        return found["at"], found["expansion"]

    def derived(
        self,
        name: str,
        spec: dict[str, Any],
        kp: KeyPath,
        ops: Sequence[str],
        common: dict[str, Any],
    ) -> Metric | None:
        if len(ops) > 1:
            self.check.error(kp, f"choose one of {', '.join(ops)}, not several")
            return None
        for extra in ("source", "agg", "column", "expression", "filters"):
            if extra in spec:
                self.check.error(
                    (*kp, extra),
                    f"a derived metric ({ops[0]}) is computed from other metrics; remove "
                    f"`{extra}` or make it a base metric",
                )
        op = ops[0]
        inputs = self.check.text_list(spec[op], (*kp, op))
        arity = {"difference": 2, "ratio": 2}.get(op)
        if arity and len(inputs) != arity:
            self.check.error((*kp, op), f"{op} takes exactly 2 metrics, got {len(inputs)}")
            return None
        if len(inputs) < 2:
            self.check.error((*kp, op), f"{op} needs at least 2 metrics, got {len(inputs)}")
            return None
        return Metric(name=name, op=op, inputs=tuple(inputs), **common)

    def presentation(self, spec: dict[str, Any], kp: KeyPath, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.check.text(spec.get("label", name), (*kp, "label")) or name,
            "description": self.check.text(
                spec.get("description", ""), (*kp, "description"), allow_empty=True
            )
            or "",
        }
        checks: dict[str, Callable[[Any, KeyPath], Any]] = {
            "format": lambda v, k: self.check.text(v, k, VALUE_FORMATS),
            "unit": lambda v, k: self.check.text(v, k, allow_empty=True),
            "currency": self.check.text,
            "decimals": lambda v, k: self.check.integer(v, k, 0, 6),
            "direction": lambda v, k: self.check.text(v, k, DIRECTIONS),
            "change": lambda v, k: self.check.text(v, k, CHANGES),
            "scale": self.check.number,
            "rollup": lambda v, k: self.check.text(v, k, ROLLUPS),
        }
        for key, check in checks.items():
            if key in spec:
                value = check(spec[key], (*kp, key))
                if value is not None:
                    out[key] = value
        fmt = out.get("format", "number")
        if out.get("change") in ("pp", "bps") and fmt not in FRACTION_FORMATS:
            example = "5.0 pp" if out["change"] == "pp" else "500 bps"
            self.check.error(
                (*kp, "change"),
                f"'{out.pop('change')}' is a difference of fractions (0.45 - 0.40 = {example}), "
                f"for a metric shown as a percent or in bps; {name} is format: {fmt}, so its "
                "changes are `change: percent` or `change: points` (a difference in its own unit)",
            )
        return out

    def references(self, sources: Mapping[str, Source], metrics: Mapping[str, Metric]) -> None:
        for metric in metrics.values():
            kp: KeyPath = ("metrics", metric.name)
            if metric.rollup and metric.op != "ratio":
                self.check.error(
                    (*kp, "rollup"),
                    "only a ratio (a rate of a monthly snapshot, such as retention) rolls up "
                    "as the average of its months; remove `rollup`",
                )
            if metric.derived:
                for i, dep in enumerate(metric.inputs):
                    if dep not in metrics and self.check.declared(("metrics", dep)):
                        continue  # declared but invalid: already reported
                    if dep not in metrics:
                        self.check.error(
                            (*kp, metric.op or "", i),
                            f"unknown metric '{dep}'{suggest(dep, list(metrics))}",
                        )
                continue
            source = sources.get(metric.source or "")
            if source is None:
                declared = [str(k) for k in self.check.declared_names("sources")]
                if metric.source not in declared:
                    self.check.error(
                        (*kp, "source"),
                        f"unknown source '{metric.source}'"
                        f"{suggest(metric.source or '', declared)}; declared sources: "
                        f"{', '.join(declared) or '(none)'}",
                    )
                continue  # declared but invalid: already reported
            if (metric.agg in LIFECYCLE_AGGREGATIONS) != (source.lifecycle is not None) and (
                metric.agg in LIFECYCLE_AGGREGATIONS
            ):
                self.check.error(
                    (*kp, "agg"),
                    f"agg '{metric.agg}' needs a lifecycle source (entities with a start and an "
                    f"end: `lifecycle:` under sources.{source.name}); '{source.name}' has rows "
                    "dated by `date:`",
                )
                continue
            if source.lifecycle and source.lifecycle.changes and metric.column:
                self.changes(source, metric, sources)
            value_names = [v for v, _ in source.values]
            counted = metric.agg in ("count", "count_distinct")
            if metric.column and not counted and metric.column not in value_names:
                self.check.error(
                    (*kp, "column"),
                    f"'{metric.column}' is not a value column of source '{source.name}'"
                    f"{suggest(metric.column, value_names)}; its values are: "
                    f"{', '.join(value_names) or '(none)'} (declare it under "
                    f"sources.{source.name}.values)",
                )
            for column, _ in metric.filters:
                if column not in source.dimensions:
                    self.check.error(
                        (*kp, "filters", column),
                        f"'{column}' is not a dimension of source '{source.name}'"
                        f"{suggest(column, source.dimensions)}; its dimensions are: "
                        f"{', '.join(source.dimensions) or '(none)'}",
                    )
        self.cycles(metrics)

    def changes(self, source: Source, metric: Metric, sources: Mapping[str, Source]) -> None:
        """A lifecycle source's ``changes:`` source, read for ``metric``'s value column: a
        declared source dated by `date:`, with that value column."""
        assert source.lifecycle is not None and source.lifecycle.changes is not None
        name = source.lifecycle.changes
        kp: KeyPath = ("sources", source.name, "lifecycle", "changes")
        changes = sources.get(name)
        if changes is None or changes.lifecycle is not None or changes.engine is not None:
            declared = [str(k) for k in self.check.declared_names("sources")]
            if changes is None and name in declared:
                return  # declared but invalid: already reported
            self.check.error(
                kp,
                f"'{name}' is not a source of dated value changes: name a file source declared "
                "under sources with `date:` (the day each new value applies)"
                + suggest(name, declared),
            )
            return
        values = [v for v, _ in changes.values]
        if metric.column not in values:
            self.check.error(
                kp,
                f"metric '{metric.name}' reads '{metric.column}', which the changes source "
                f"'{name}' does not declare; add it under sources.{name}.values",
            )

    def cycles(self, metrics: Mapping[str, Metric]) -> None:
        state: dict[str, int] = {}  # 1 = visiting, 2 = done
        reported: set[frozenset[str]] = set()

        def visit(name: str, trail: list[str]) -> None:
            state[name] = 1
            for dep in metrics[name].inputs:
                if dep not in metrics:
                    continue
                if state.get(dep) == 1:
                    cycle = [*trail[trail.index(dep) :], dep]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        self.check.error(
                            ("metrics", dep),
                            "derived metrics form a cycle: "
                            + " -> ".join(cycle)
                            + "; break it by computing one of them from a source",
                        )
                elif dep not in state:
                    visit(dep, [*trail, dep])
            state[name] = 2

        for name in metrics:
            if name not in state:
                visit(name, [name])
