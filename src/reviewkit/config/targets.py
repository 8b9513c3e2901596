"""``status:`` and ``targets:``: what good looks like, by when."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reviewkit.base.errors import suggest
from reviewkit.base.yamlfile import KeyPath, kind
from reviewkit.config.collector import Collector
from reviewkit.config.keys import allowed
from reviewkit.config.model import Metric, Source, StatusRules, Target, base_sources

__all__ = ["TargetChecks"]


class TargetChecks:
    """The status rules and each target on a metric."""

    def __init__(self, check: Collector) -> None:
        self.check = check

    def rules(self, raw: Any, kp: KeyPath, default: StatusRules) -> StatusRules:
        spec = self.check.mapping(raw, kp, allowed("status"))
        if not spec:
            return default
        values = {
            key: self.check.number(spec[key], (*kp, key))
            for key in allowed("status")
            if key in spec
        }
        rules = StatusRules(**{k: v for k, v in values.items() if v is not None and v >= 0})
        for key, value in values.items():
            if value is not None and value < 0:
                self.check.error((*kp, key), f"expected a share of the target >= 0, got {value}")
        if rules.at_risk < rules.on_track:
            self.check.error(
                (*kp, "at_risk"),
                f"at_risk ({rules.at_risk}) must be at least on_track ({rules.on_track}): "
                "it is the wider tolerance",
            )
        return rules

    def targets(
        self,
        raw: Any,
        sources: Mapping[str, Source],
        metrics: Mapping[str, Metric],
        rules: StatusRules,
    ) -> tuple[Target, ...]:
        if not isinstance(raw, list):
            self.check.error(("targets",), f"expected a list of targets, got {kind(raw)}")
            return ()
        out = []
        for index, item in enumerate(raw):
            target = self.target(index, item, sources, metrics, rules)
            if target is not None:
                out.append(target)
        return tuple(out)

    def target(
        self,
        index: int,
        raw: Any,
        sources: Mapping[str, Source],
        metrics: Mapping[str, Metric],
        rules: StatusRules,
    ) -> Target | None:
        kp: KeyPath = ("targets", index)
        spec = self.check.mapping(raw, kp, allowed("targets"), required=("metric",))
        if spec is None or "metric" not in spec:
            return None
        metric = self.check.text(spec["metric"], (*kp, "metric"))
        if metric is not None and metric not in metrics:
            if not self.check.declared(("metrics", metric)):
                self.check.error(
                    (*kp, "metric"),
                    f"unknown metric '{metric}'{suggest(metric, list(metrics))}",
                )
            return None
        kinds = [k for k in ("value", "series", "source") if k in spec]
        if len(kinds) != 1:
            self.check.error(
                kp,
                "a target needs exactly one of `value` (with `by`), `series` or `source` (with "
                f"`column`); found {', '.join(kinds) or 'none'}",
            )
            return None
        filters = self.check.filters(spec.get("filters", {}), (*kp, "filters")) or ()
        fields: dict[str, Any] = {
            "rules": self.rules(spec.get("status", {}), (*kp, "status"), rules)
        }
        if kinds == ["value"]:
            fields["value"] = self.check.number(spec["value"], (*kp, "value"))
            if "by" not in spec:
                self.check.error(kp, "missing required key 'by': the date the value is due")
                return None
            fields["by"] = self.check.date(spec["by"], (*kp, "by"))
            if "baseline" in spec:
                base = self.check.mapping(
                    spec["baseline"],
                    (*kp, "baseline"),
                    allowed("targets.baseline"),
                    allowed("targets.baseline"),
                )
                if base and all(key in base for key in allowed("targets.baseline")):
                    fields["baseline_value"] = self.check.number(
                        base["value"], (*kp, "baseline", "value")
                    )
                    fields["baseline_date"] = self.check.date(
                        base["date"], (*kp, "baseline", "date")
                    )
            start, end = fields.get("baseline_date"), fields["by"]
            if start and end and end <= start:
                self.check.error(
                    (*kp, "by"),
                    f"the target date {end} is not after the baseline date {start}; move the "
                    "target date later or the baseline earlier",
                )
                return None
        elif kinds == ["series"]:
            fields["series"] = self.check.series(spec["series"], (*kp, "series"))
        else:
            fields["source"] = self.check.text(spec["source"], (*kp, "source"))
            fields["column"] = self.target_column(spec, kp, fields["source"], sources)
        if any(fields.get(k) is None for k in ("value", "by", "source", "column") if k in fields):
            return None
        assert metric is not None
        behind = base_sources(metric, metrics)
        if fields.get("source"):
            behind.add(fields["source"])
        for column, _ in filters:
            lacking = [
                s for s in sorted(behind) if s in sources and column not in sources[s].dimensions
            ]
            if lacking:
                self.check.error(
                    (*kp, "filters", column),
                    f"'{column}' is not a dimension of source {', '.join(lacking)}, so this "
                    "target cannot be matched to a segment",
                )
                return None
        return Target(metric=metric, index=index, filters=filters, **fields)

    def target_column(
        self,
        spec: dict[str, Any],
        kp: KeyPath,
        source: str | None,
        sources: Mapping[str, Source],
    ) -> str | None:
        if source is None:
            return None
        if source not in sources:
            if not self.check.declared(("sources", source)):
                self.check.error(
                    (*kp, "source"), f"unknown source '{source}'{suggest(source, list(sources))}"
                )
            return None
        if "column" not in spec:
            self.check.error(kp, "missing required key 'column': the target values' column")
            return None
        column = self.check.text(spec["column"], (*kp, "column"))
        names = [v for v, _ in sources[source].values]
        if column is not None and column not in names:
            self.check.error(
                (*kp, "column"),
                f"'{column}' is not a value column of source '{source}'; its values are: "
                f"{', '.join(names) or '(none)'}",
            )
            return None
        return column
