"""Why a KPI moved: its change between two periods split exactly, across one dimension's members
or across the metrics it is derived from (:func:`explain`).

- A sum or a count (and sums and differences of them), or a level (``first``, ``last``, ``active``,
  ``daily_mean``: MRR at the month's end) moves by the sum of its members' moves: each
  member's part is its own change.
- A ratio of totals (a derived ratio of sums or counts, a mean, retention, churn, revenue
  retention) is the members' rates weighted by their shares of the denominator. Its change is
  split per member into a *rate* effect (the member's rate moved, at its average share) and a
  *mix* effect (its share moved, at its average rate against the overall average rate), which
  add up to the total change exactly: sum of ``w_avg * (r1 - r0)`` plus ``(r_avg - R_avg) *
  (w1 - w0)`` over members is ``R1 - R0`` because the shares sum to one in both periods. A
  member present in one period only has no rate effect: all of its part is mix.
- Without a dimension, a derived metric's change is split across its inputs: a sum or
  difference by each input's change (with its sign), a ratio into the numerator's and the
  denominator's effects, each the average of its two orders (Shapley), which add up exactly.

Every split is checked: the parts must add up to the metric's total change (and the members'
numerators and denominators to the totals; a distinct count that counts an entity in two
members does not), else the metric is refused with the reason, never a split that does not add
up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from reviewkit.base.errors import QueryError
from reviewkit.base.periods import Period, Window
from reviewkit.config import SURVEY_AGGREGATIONS, Metric
from reviewkit.metrics.catalogue import KpiRequest, difference_text, format_value
from reviewkit.metrics.compare import additive
from reviewkit.metrics.workspace import as_filters

if TYPE_CHECKING:
    from reviewkit.metrics.workspace import Filters, Workspace

__all__ = ["AGAINST", "Explanation", "explain"]

#: What a period is compared with.
AGAINST: Final = ("previous", "year_ago")
#: How far the parts may stray from the total, relative to the larger of 1 and the total.
TOLERANCE: Final = 1e-9
BLANK: Final = "(blank)"
#: Levels (a balance on the last day, a daily average) add up over members when every member
#: has the same days; the check after the split refuses them where they do not.
LEVELS: Final = ("first", "last", "daily_mean", "active")
PARTS: Final = ("part", "base", "value", "rate", "mix", "change")


@dataclass(frozen=True)
class Explanation:
    """The change of ``metric`` from ``base`` to ``current`` and its parts.

    ``parts`` has a row per member (or input metric): ``part`` (its name), ``base`` and
    ``value`` (its own value, or rate for a ratio, in each period; None where it had none),
    ``rate`` and ``mix`` (a ratio's two effects; None otherwise) and ``change``, its part of
    the total change, largest first. The ``change`` column adds up to :attr:`change`."""

    metric: Metric
    by: str | None
    current: Window
    base: Window
    value: float
    base_value: float
    kind: str  # "sum", "ratio" or "inputs"
    parts: pd.DataFrame
    #: the metrics a derived metric's change was split across (kind "inputs")
    inputs: tuple[Metric, ...] = ()

    @property
    def change(self) -> float:
        return self.value - self.base_value

    def drivers(self, most: int = 3) -> str:
        """``enterprise +$31,945 of it, pro +$18,901, starter +$2,499``: the ``most`` largest
        parts (by size) in the metric's points."""
        shown = self.parts.reindex(self.parts["change"].abs().sort_values(ascending=False).index)
        pieces = [
            f"{row['part']} {difference_text(self.metric, row['change'], signed=True)}"
            for row in shown.head(most).to_dict("records")
        ]
        if pieces:
            pieces[0] += " of it"
        return ", ".join(pieces)

    def sentence(self, most: int = 3) -> str:
        """``Logo churn -0.4 pp from 2026-09 to 2026-10: billing -0.5 pp of it, growth
        +0.1 pp.``: the change and the ``most`` largest parts (by size), in the metric's
        points."""
        metric = self.metric
        drivers = self.drivers(most)
        return (
            f"{metric.label} {difference_text(metric, self.change, signed=True)} from "
            f"{self.base.name} to {self.current.name} ({format_value(metric, self.base_value)} "
            f"to {format_value(metric, self.value)})" + (f": {drivers}" if drivers else "") + "."
        )


def explain(
    project: Workspace,
    metric: str,
    period: Period,
    *,
    by: str | None = None,
    against: str = "previous",
    filters: Filters | None = None,
) -> Explanation:
    """The change of ``metric`` from the previous period (or the same period a year earlier,
    ``against="year_ago"``) to ``period``, split across the members of dimension ``by``, or,
    without ``by``, across the metrics a derived metric is computed from."""
    if against not in AGAINST:
        raise QueryError(f"unknown comparison '{against}'; use one of: {', '.join(AGAINST)}")
    config = project.config
    if metric not in config.metrics:
        raise QueryError(
            f"unknown metric '{metric}'; the catalogue has: {', '.join(config.metrics)}"
        )
    definition = config.metrics[metric]
    earlier = period.shift(-1) if against == "previous" else period.year_ago()
    current = Window(period.label, period.start, period.end)
    base = Window(earlier.label, earlier.start, earlier.end)
    if by is None:
        return _across_inputs(project, definition, current, base, filters)
    numerator, denominator = _terms(config.metrics, definition)
    names = tuple(m.name for m in (numerator, denominator) if m is not None)
    extra = {m.name: m for m in (numerator, denominator) if m is not None}
    request = KpiRequest(metrics=names, windows=(current, base), filters=as_filters(filters))
    totals = _table(project.compute_with(extra, request), ())
    members = _table(project.compute_with(extra, replace(request, by=(by,))), (by,))
    if denominator is None:
        rows = _sums(members, numerator.name, current.name, base.name)
        kind = "sum"
    else:
        rows = _ratio(members, numerator.name, denominator.name, current.name, base.name)
        scale = definition.scale * (100 if definition.agg == "nps" else 1)  # NPS in points
        rows = [{**r, **_scaled(r, scale)} for r in rows]
        kind = "ratio"
    for name in names:  # the members add up to the totals, or the split means nothing
        for window in (current.name, base.name):
            whole = totals.get(((), window, name), 0.0)
            added = sum(v for (_, w, n), v in members.items() if n == name and w == window)
            _check(definition, f"{name} over the members of '{by}' ({window})", added, whole)
    value, base_value = _values(project, definition, current, base, filters)
    parts = _frame(rows)
    _check(definition, "the members' parts", float(parts["change"].sum()), value - base_value)
    return Explanation(definition, by, current, base, value, base_value, kind, parts)


def _terms(metrics: Mapping[str, Metric], metric: Metric) -> tuple[Metric, Metric | None]:
    """What the metric adds up (and divides by, for a ratio of totals), as metrics to compute
    per member; the internal ones are named after it (``_NAME_sum``...)."""
    name = metric.name
    if metric.derived and metric.op == "ratio":
        numerator, denominator = (metrics[i] for i in metric.inputs)
        if additive(metrics, numerator.name) and additive(metrics, denominator.name):
            return numerator, denominator
    elif additive(metrics, name) or metric.agg in LEVELS:
        return metric, None
    elif metric.agg == "mean" and metric.column:
        return (
            replace(metric, name=f"_{name}_sum", agg="sum"),
            replace(metric, name=f"_{name}_count", agg="count"),
        )
    elif metric.agg in ("retention", "churn"):
        kept = "kept" if metric.agg == "retention" else "lost"
        return (
            replace(metric, name=f"_{name}_{kept}", agg=kept),
            replace(metric, name=f"_{name}_opening", agg="opening"),
        )
    elif metric.agg == "revenue_retention":
        return (
            replace(metric, name=f"_{name}_kept", agg="kept_value"),
            replace(metric, name=f"_{name}_opening", agg="opening_value"),
        )
    elif metric.agg in SURVEY_AGGREGATIONS:  # NPS: net promoters per answer, x 100
        counted = "net_promoters" if metric.agg == "nps" else "satisfied"
        return (
            replace(metric, name=f"_{name}_{counted}", agg=counted),
            replace(metric, name=f"_{name}_responses", agg="responses"),
        )
    how = f"op: {metric.op}" if metric.derived else f"agg: {metric.agg or 'expression'}"
    raise QueryError(
        f"cannot split the change of '{name}' ({how}) across members: only sums and counts, "
        "ratios of them, means, NPS and satisfaction, and retention, churn and revenue retention "
        "add up over them"
    )


def _table(frame: pd.DataFrame, by: tuple[str, ...]) -> dict[tuple[Any, ...], float]:
    """{((member,), window, metric): value}, a blank member named BLANK, missing values 0."""
    found: dict[tuple[Any, ...], float] = {}
    for row in frame.to_dict("records"):
        member = tuple(BLANK if _blank(row[c]) else str(row[c]) for c in by)
        value = row["value"]
        found[member, row["window"], row["metric"]] = 0.0 if _blank(value) else float(value)
    return found


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _members(table: Mapping[tuple[Any, ...], float]) -> list[str]:
    return sorted({key[0][0] for key in table})


def _sums(
    table: Mapping[tuple[Any, ...], float], name: str, now: str, then: str
) -> list[dict[str, Any]]:
    rows = []
    for member in _members(table):
        value, base = (
            table.get(((member,), now, name), 0.0),
            table.get(((member,), then, name), 0.0),
        )
        rows.append({"part": member, "base": base, "value": value, "change": value - base})
    return rows


def _ratio(
    table: Mapping[tuple[Any, ...], float], numerator: str, denominator: str, now: str, then: str
) -> list[dict[str, Any]]:
    """Rate and mix effects per member of a ratio of totals (unscaled; see the module)."""

    def total(name: str, window: str) -> float:
        return sum(v for (_, w, n), v in table.items() if n == name and w == window)

    shares, rates = {}, {}
    for window in (now, then):
        whole = total(denominator, window)
        for member in _members(table):
            d = table.get(((member,), window, denominator), 0.0)
            n = table.get(((member,), window, numerator), 0.0)
            shares[member, window] = d / whole if whole else 0.0
            rates[member, window] = n / d if d else None
    overall = [
        total(numerator, w) / total(denominator, w) if total(denominator, w) else 0.0
        for w in (now, then)
    ]
    middle = sum(overall) / 2
    rows = []
    for member in _members(table):
        r1, r0 = rates[member, now], rates[member, then]
        w1, w0 = shares[member, now], shares[member, then]
        if r1 is None and r0 is None:
            continue
        # a member in one period only: its rate in the other is taken as the same (no rate
        # effect), so all of its part is mix
        one, zero = (r1 if r1 is not None else r0), (r0 if r0 is not None else r1)
        assert one is not None and zero is not None
        rate = (w0 + w1) / 2 * (one - zero)
        mix = ((one + zero) / 2 - middle) * (w1 - w0)
        rows.append(
            {
                "part": member,
                "base": r0,
                "value": r1,
                "rate": rate,
                "mix": mix,
                "change": rate + mix,
            }
        )
    return rows


def _scaled(row: Mapping[str, Any], scale: float) -> dict[str, Any]:
    return {
        k: (None if row.get(k) is None else row[k] * scale)
        for k in ("base", "value", "rate", "mix", "change")
    }


def _values(
    project: Workspace, metric: Metric, current: Window, base: Window, filters: Filters | None
) -> tuple[float, float]:
    frame = project.window_values([metric.name], [current, base], filters=filters)
    found = {row["window"]: row["value"] for row in frame.to_dict("records")}
    values = [found.get(w.name) for w in (current, base)]
    if any(_blank(v) for v in values):
        missing = " and ".join(
            w.name for w, v in zip((current, base), values, strict=True) if _blank(v)
        )
        raise QueryError(f"{metric.label} has no value in {missing}: there is no change to explain")
    return float(values[0]), float(values[1])  # type: ignore[arg-type]


def _across_inputs(
    project: Workspace,
    metric: Metric,
    current: Window,
    base: Window,
    filters: Filters | None,
) -> Explanation:
    """A derived metric's change split across its inputs (see the module docstring)."""
    if not metric.derived or metric.op == "product":
        raise QueryError(
            f"'{metric.name}' is not a sum, difference or ratio of other metrics: say which "
            "dimension to split its change across (--by team)"
        )
    frame = project.window_values(list(metric.inputs), [current, base], filters=filters)
    found = {(row["window"], row["metric"]): row["value"] for row in frame.to_dict("records")}
    if any(_blank(found.get((w.name, name))) for w in (current, base) for name in metric.inputs):
        raise QueryError(f"an input of {metric.label} has no value: there is no change to explain")
    now = {name: float(found[current.name, name]) for name in metric.inputs}
    then = {name: float(found[base.name, name]) for name in metric.inputs}
    label = {name: project.config.metrics[name].label for name in metric.inputs}
    rows = []
    if metric.op in ("sum", "difference"):
        for i, name in enumerate(metric.inputs):
            sign = -1.0 if metric.op == "difference" and i == 1 else 1.0
            rows.append(
                {
                    "part": label[name],
                    "base": then[name],
                    "value": now[name],
                    "change": sign * metric.scale * (now[name] - then[name]),
                }
            )
    else:  # ratio: the numerator's and the denominator's effects, each averaged over both orders
        a, b = metric.inputs
        a1, a0, b1, b0 = now[a], then[a], now[b], then[b]
        if not (b1 and b0):
            raise QueryError(f"{metric.label}'s denominator '{b}' is 0: there is no ratio to split")
        s = metric.scale
        numerator = s * ((a1 / b0 - a0 / b0) + (a1 / b1 - a0 / b1)) / 2
        denominator = s * ((a0 / b1 - a0 / b0) + (a1 / b1 - a1 / b0)) / 2
        rows = [
            {"part": label[a], "base": a0, "value": a1, "change": numerator},
            {"part": label[b], "base": b0, "value": b1, "change": denominator},
        ]
    value, base_value = _values(project, metric, current, base, filters)
    parts = _frame(rows)
    _check(metric, "the inputs' parts", float(parts["change"].sum()), value - base_value)
    inputs = tuple(project.config.metrics[name] for name in metric.inputs)
    return Explanation(metric, None, current, base, value, base_value, "inputs", parts, inputs)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(PARTS))
    order = frame["change"].abs().sort_values(ascending=False, kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _check(metric: Metric, what: str, added: float, whole: float) -> None:
    if abs(added - whole) > TOLERANCE * max(1.0, abs(whole)):
        raise QueryError(
            f"{what} add up to {added!r}, not {whole!r}: the change of '{metric.name}' cannot "
            "be split exactly across them (a distinct count counting an entity in two members, "
            "or a ratio whose members have a numerator without a denominator)"
        )
