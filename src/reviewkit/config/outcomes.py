"""``outputs:`` and ``outcomes:`` (in reviewkit.yaml and in included files), and the outcome
tree."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from reviewkit.base.errors import Problem, suggest
from reviewkit.base.yamlfile import KeyPath, kind
from reviewkit.config.collector import Collector
from reviewkit.config.keys import allowed
from reviewkit.config.model import (
    IMPACT_GRAINS,
    OUTCOME_ID_RE,
    Metric,
    Outcome,
    OutputsSpec,
    Source,
    StatusRules,
    Target,
    base_sources,
)

__all__ = ["OutcomeChecks"]


class OutcomeChecks:
    """Delivered work, the outcomes and how they roll up."""

    def __init__(self, check: Collector) -> None:
        self.check = check

    def outputs(self, raw: Any, sources: Mapping[str, Source]) -> OutputsSpec | None:
        kp: KeyPath = ("outputs",)
        spec = self.check.mapping(
            raw, kp, allowed("outputs"), required=("source", "id", "title", "team")
        )
        if spec is None or not all(k in spec for k in ("source", "id", "title", "team")):
            return None
        columns = {k: self.check.text(spec[k], (*kp, k)) for k in allowed("outputs") if k in spec}
        name = columns.get("source")
        source = sources.get(name or "")
        if source is None:
            if name is not None and not self.check.declared(("sources", name)):
                self.check.error(
                    (*kp, "source"),
                    f"unknown source '{name}'"
                    f"{suggest(name, list(sources))}; declare the export under sources",
                )
            return None
        if columns.get("team") and columns["team"] not in source.dimensions:
            self.check.error(
                (*kp, "team"),
                f"'{columns['team']}' is not a dimension of source "
                f"'{name}'; add it to sources.{name}.dimensions",
            )
            return None
        values = [v for v, _ in source.values]
        if columns.get("effort") and columns["effort"] not in values:
            self.check.error(
                (*kp, "effort"),
                f"'{columns['effort']}' is not a value column of source "
                f"'{name}'; its values are: {', '.join(values) or '(none)'}",
            )
            return None
        if any(v is None for v in columns.values()):
            return None
        return OutputsSpec(**{k: v for k, v in columns.items() if v is not None})

    def outcomes(
        self,
        raw: Any,
        kp: KeyPath,
        sources: Mapping[str, Source],
        metrics: Mapping[str, Metric],
        rules: StatusRules,
        out: dict[str, Outcome],
    ) -> None:
        if not isinstance(raw, list):
            self.check.error(kp, f"expected a list of outcomes, got {kind(raw)}")
            return
        for index, item in enumerate(raw):
            outcome = self.outcome(item, (*kp, index), sources, metrics, rules)
            if outcome is None:
                continue
            if outcome.id in out:
                first = out[outcome.id]
                self.check.error(
                    (*kp, index, "id"),
                    f"outcome id '{outcome.id}' is already used "
                    f"({first.file}:{first.line}); ids must be unique",
                )
                continue
            out[outcome.id] = outcome

    def outcome(
        self,
        raw: Any,
        kp: KeyPath,
        sources: Mapping[str, Source],
        metrics: Mapping[str, Metric],
        rules: StatusRules,
    ) -> Outcome | None:
        spec = self.check.mapping(raw, kp, allowed("outcomes"), required=("id", "title", "kpi"))
        if spec is None or not all(k in spec for k in ("id", "title", "kpi")):
            return None
        ident = spec["id"]
        if not isinstance(ident, str) or not OUTCOME_ID_RE.match(ident):
            self.check.error(
                (*kp, "id"), f"outcome id {ident!r} must be lowercase letters, digits, - and _"
            )
            return None
        kpi = spec["kpi"]
        kpi_spec = (
            {"metric": kpi}
            if isinstance(kpi, str)
            else self.check.mapping(
                kpi, (*kp, "kpi"), allowed("outcomes.kpi"), required=("metric",)
            )
        )
        if not kpi_spec or "metric" not in kpi_spec:
            return None
        metric = self.check.text(kpi_spec["metric"], (*kp, "kpi", "metric"))
        if metric is None or metric not in metrics:
            if metric is not None and not self.check.declared(("metrics", metric)):
                self.check.error(
                    (*kp, "kpi", "metric"),
                    f"unknown metric '{metric}'{suggest(metric, list(metrics))}",
                )
            return None
        filters = self.check.filters(kpi_spec.get("filters", {}), (*kp, "kpi", "filters")) or ()
        for column, _ in filters:
            lacking = [
                s
                for s in sorted(base_sources(metric, metrics))
                if s in sources and column not in sources[s].dimensions
            ]
            if lacking:
                self.check.error(
                    (*kp, "kpi", "filters", column),
                    f"'{column}' is not a dimension of "
                    f"source {', '.join(lacking)} (behind metric '{metric}')",
                )
                return None
        fields: dict[str, Any] = {
            key: self.check.text(spec.get(key, ""), (*kp, key), allow_empty=True) or ""
            for key in ("description", "owner", "team")
        }
        fields["title"] = self.check.text(spec["title"], (*kp, "title")) or ident
        fields["lag_days"] = (
            self.check.integer(spec.get("lag_days", 0), (*kp, "lag_days"), 0, 3650) or 0
        )
        if "parent" in spec:
            fields["parent"] = self.check.text(spec["parent"], (*kp, "parent"))
        if "impact_grain" in spec:
            fields["impact_grain"] = self.check.text(
                spec["impact_grain"], (*kp, "impact_grain"), IMPACT_GRAINS
            )
        if "explain_by" in spec:
            dimension = self.check.text(spec["explain_by"], (*kp, "explain_by"))
            lacking = [
                s
                for s in sorted(base_sources(metric, metrics))
                if s in sources and dimension not in sources[s].dimensions
            ]
            if dimension is not None and lacking:
                self.check.error(
                    (*kp, "explain_by"),
                    f"'{dimension}' is not a dimension of source {', '.join(lacking)} (behind "
                    f"metric '{metric}'); name one its change can be split across",
                )
            elif dimension is not None:
                fields["explain_by"] = dimension
        baseline_end = None
        if "baseline" in spec:
            base = self.check.mapping(
                spec["baseline"],
                (*kp, "baseline"),
                allowed("outcomes.baseline"),
                allowed("outcomes.baseline"),
            )
            if base and all(key in base for key in allowed("outcomes.baseline")):
                fields["baseline_value"] = self.check.number(
                    base["value"], (*kp, "baseline", "value")
                )
                period = self.check.period_text(base["period"], (*kp, "baseline", "period"))
                if period is not None:
                    fields["baseline_period"], baseline_end = period.label, period.end
        if "target" in spec:
            fields["target"] = self.outcome_target(
                spec["target"], (*kp, "target"), metric, filters, fields, baseline_end, rules
            )
        line = self.check.located.where(kp)[0]
        return Outcome(
            id=ident,
            metric=metric,
            filters=filters,
            file=self.check.located.path,
            line=line,
            **fields,
        )

    def outcome_target(
        self,
        raw: Any,
        kp: KeyPath,
        metric: str,
        filters: tuple[tuple[str, tuple[str, ...]], ...],
        fields: dict[str, Any],
        baseline_end: dt.date | None,
        rules: StatusRules,
    ) -> Target | None:
        spec = self.check.mapping(raw, kp, allowed("outcomes.target"))
        if spec is None:
            return None
        if "series" in spec:
            if "value" in spec or "by" in spec:
                self.check.error(kp, "give either `value` with `by`, or `series`, not both")
                return None
            series = self.check.series(spec["series"], (*kp, "series"))
            return Target(metric, -1, filters, series=series, rules=rules)
        if "value" not in spec or "by" not in spec:
            self.check.error(
                kp, "a target needs `value` and `by` (the date it is due), or `series`"
            )
            return None
        value = self.check.number(spec["value"], (*kp, "value"))
        by = self.check.date(spec["by"], (*kp, "by"))
        if value is None or by is None:
            return None
        if baseline_end is not None and by <= baseline_end:
            self.check.error(
                (*kp, "by"),
                f"the target date {by} is not after the baseline period's "
                f"end {baseline_end}; move the target date later or the baseline earlier",
            )
            return None
        base_value = fields.get("baseline_value")
        return Target(
            metric,
            -1,
            filters,
            value=value,
            by=by,
            baseline_value=base_value,
            baseline_date=baseline_end if base_value is not None else None,
            rules=rules,
        )

    def outcome_tree(self, outcomes: Mapping[str, Outcome]) -> None:
        """Parents must exist and must not loop back (company goal -> team outcomes)."""
        for outcome in outcomes.values():
            if outcome.parent is not None and outcome.parent not in outcomes:
                self.check.problems.append(
                    Problem(
                        outcome.file,
                        f"unknown parent outcome '{outcome.parent}'"
                        f"{suggest(outcome.parent, list(outcomes))}",
                        outcome.line,
                        key=f"outcomes.{outcome.id}.parent",
                    )
                )
                continue
            seen, current = [outcome.id], outcome.parent
            while current is not None and current in outcomes:
                if current in seen:
                    self.check.problems.append(
                        Problem(
                            outcome.file,
                            "outcome parents form a cycle: " + " -> ".join([*seen, current]),
                            outcome.line,
                            key=f"outcomes.{outcome.id}.parent",
                        )
                    )
                    break
                seen.append(current)
                current = outcomes[current].parent
