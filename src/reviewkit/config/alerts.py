"""``alerts:``: the rules watched after each data refresh."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reviewkit.base.errors import suggest
from reviewkit.base.yamlfile import KeyPath, kind
from reviewkit.config.collector import Collector
from reviewkit.config.keys import allowed
from reviewkit.config.model import (
    ALERT_KINDS,
    ALERT_STATUSES,
    EMAIL,
    Alert,
    Delivery,
    Metric,
    Outcome,
)

__all__ = ["AlertChecks"]


class AlertChecks:
    """Each alert rule, and the metric, outcome and delivery it needs."""

    def __init__(self, check: Collector) -> None:
        self.check = check

    def alerts(
        self,
        raw: Any,
        metrics: Mapping[str, Metric],
        outcomes: Mapping[str, Outcome],
        delivery: Delivery | None,
    ) -> tuple[Alert, ...]:
        if not isinstance(raw, list):
            self.check.error(("alerts",), f"expected a list of alert rules, got {kind(raw)}")
            return ()
        found = []
        for i, item in enumerate(raw):
            kp: KeyPath = ("alerts", i)
            spec = self.check.mapping(item, kp, allowed("alerts"), required=("name",))
            if spec is None or "name" not in spec:
                continue
            kinds = [k for k in ALERT_KINDS if k in spec]
            if len(kinds) != 1:
                self.check.error(
                    kp,
                    "an alert watches exactly one of: status (an outcome's), below or above "
                    f"(with metric), stale_days, verdicts; found {', '.join(kinds) or 'none'}",
                )
                continue
            which = kinds[0]
            name = self.check.text(spec["name"], (*kp, "name"))
            fields: dict[str, Any] = {}
            if "outcome" in spec:
                fields["outcome"] = self.check.text(spec["outcome"], (*kp, "outcome"))
                if fields["outcome"] is not None and fields["outcome"] not in outcomes:
                    self.check.error(
                        (*kp, "outcome"),
                        f"unknown outcome '{fields['outcome']}'"
                        f"{suggest(fields['outcome'], list(outcomes))}",
                    )
                    continue
            if "metric" in spec:
                fields["metric"] = self.check.text(spec["metric"], (*kp, "metric"))
                if fields["metric"] is not None and fields["metric"] not in metrics:
                    self.check.error(
                        (*kp, "metric"),
                        f"unknown metric '{fields['metric']}'"
                        f"{suggest(fields['metric'], list(metrics))}",
                    )
                    continue
            if which in ("below", "above"):
                fields["value"] = self.check.number(spec[which], (*kp, which))
                if "metric" not in spec:
                    self.check.error(kp, f"`{which}:` needs `metric:`: the KPI to watch")
                    continue
                fields["filters"] = (
                    self.check.filters(spec.get("filters", {}), (*kp, "filters")) or ()
                )
            elif which == "status":
                fields["status"] = self.check.text(spec["status"], (*kp, "status"), ALERT_STATUSES)
            elif which == "stale_days":
                fields["days"] = self.check.integer(spec["stale_days"], (*kp, "stale_days"), 1, 365)
            elif spec["verdicts"] is not True:
                self.check.error((*kp, "verdicts"), "write `verdicts: true` to watch link verdicts")
                continue
            to = spec.get("to", [])
            listed = [to] if isinstance(to, str) else to
            if not isinstance(listed, list) or not all(
                isinstance(a, str) and EMAIL.fullmatch(a) for a in listed
            ):
                self.check.error(
                    (*kp, "to"), "expected a list of email addresses (name@example.com)"
                )
                continue
            if listed and (delivery is None or delivery.email is None):
                self.check.error(
                    (*kp, "to"), "alerts by email need `delivery: email:` (the server to use)"
                )
            chat = spec.get("chat", True)
            if not isinstance(chat, bool):
                self.check.error((*kp, "chat"), f"expected true or false, got {kind(chat)}")
                continue
            if name is None or any(fields.get(k, "") is None for k in ("value", "status", "days")):
                continue  # reported
            found.append(
                Alert(
                    str(name),
                    which,
                    to=tuple(listed),
                    chat=chat,
                    line=self.check.line(kp),
                    **fields,
                )
            )
        return tuple(found)
