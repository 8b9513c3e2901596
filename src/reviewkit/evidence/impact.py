"""Impact: did the linked KPI move after the output, against a counterfactual, per link, outcome
and team. The estimator itself is :mod:`reviewkit.evidence.estimator`; this module finds the
series, the delivery dates and the comparison segments it needs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from reviewkit.base.errors import QueryError
from reviewkit.config import Metric, Outcome
from reviewkit.evidence.estimator import EVIDENCE_WINDOWS, ImpactResult, estimate_impact, rollup
from reviewkit.evidence.review import outputs
from reviewkit.metrics.catalogue import difference_text, metric_sources

if TYPE_CHECKING:
    from reviewkit.metrics.workspace import Workspace
    from reviewkit.store.core import Link, Store

__all__ = ["link_impact", "outcome_impact", "team_impact"]


def _grain_for(project: Workspace, outcome: Outcome) -> str:
    """Weeks give the most points; a metric read from month-end snapshots has months only, and
    an outcome may ask for months (a ratio too noisy weekly, such as a team's NPS)."""
    if outcome.impact_grain:
        return outcome.impact_grain
    sources = metric_sources(project.config, outcome.metric)
    monthly = any(project.config.sources[s].date.grain == "month" for s in sources)
    return "month" if monthly else "week"


def link_impact(
    project: Workspace, store: Store, link: Link, *, as_of: dt.date | None = None
) -> ImpactResult:
    """Did the linked outcome's KPI move after the output was delivered (plus the lag), against
    the counterfactual of its own past, and against the other segments where there are any?"""
    basis = _basis(project, project.outcome(link.outcome_id), as_of)
    return _measure(link, outputs(project, store), basis)


@dataclass(frozen=True)
class _Basis:
    """What every link of one outcome is measured against, as of one day: the KPI's series at
    the outcome's impact grain and the other segments' series (the controls)."""

    outcome: Outcome
    metric: Metric
    grain: str
    pre: int
    post: int
    through: dt.date
    series: pd.DataFrame
    controls: pd.DataFrame | None


def _basis(project: Workspace, outcome: Outcome, as_of: dt.date | None) -> _Basis:
    metric = project.config.metrics[outcome.metric]
    grain = _grain_for(project, outcome)
    pre, post = EVIDENCE_WINDOWS[grain]
    complete = project.period("latest", grain, [outcome.metric])
    through = min(as_of, complete.end) if as_of else complete.end
    filters = {k: list(v) for k, v in outcome.filters}
    series = project.kpi(outcome.metric, grain=grain, end=through, filters=filters)
    controls = _controls(project, outcome.metric, filters, grain, through)
    return _Basis(outcome, metric, grain, pre, post, through, series, controls)


def _measure(link: Link, delivered: pd.DataFrame, basis: _Basis) -> ImpactResult:
    """One link's impact against its outcome's ``basis``; ``delivered`` is every output."""
    row = delivered[delivered["id"] == link.output_id]
    if row.empty:
        raise QueryError(f"output '{link.output_id}' of this link is no longer in the outputs")
    outcome, metric = basis.outcome, basis.metric
    return estimate_impact(
        basis.series[["period_start", "value"]],
        change_date=row.iloc[0]["delivered"],
        lag_days=link.lag_days if link.lag_days is not None else outcome.lag_days,
        expected=link.direction,
        grain=basis.grain,
        controls=basis.controls,
        as_of=basis.through,
        pre_window=basis.pre,
        post_window=basis.post,
        unit_text=lambda x: difference_text(metric, x),
        name=metric.label,
    )


def _controls(
    project: Workspace, metric: str, filters: dict[str, list[str]], grain: str, through: dt.date
) -> pd.DataFrame | None:
    """The same KPI for the other values of the segment's dimension (the other teams), when
    the outcome is one segment of a dimension every source behind the metric has."""
    single = [k for k, v in filters.items() if len(v) == 1]
    sources = metric_sources(project.config, metric)
    usable = [k for k in single if all(k in project.config.sources[s].dimensions for s in sources)]
    if not usable:
        return None
    dimension = usable[0]
    others = {k: v for k, v in filters.items() if k != dimension}
    frame = project.kpi(metric, grain=grain, end=through, filters=others, by=dimension)
    frame = frame[frame[dimension] != filters[dimension][0]]
    if frame.empty:
        return None
    return frame.rename(columns={dimension: "group"})[["period_start", "group", "value"]]


def outcome_impact(
    project: Workspace, store: Store, outcome_id: str, *, as_of: dt.date | None = None
) -> pd.DataFrame:
    """One row per link of the outcome with its verdict and estimate; ``attrs["rollup"]``
    counts the verdicts."""
    outcome = project.outcome(outcome_id)
    found = outputs(project, store)
    titles = dict(zip(found["id"], found["title"], strict=True))
    days = dict(zip(found["id"], found["delivered"], strict=True))
    rows, results = [], []
    links = store.links(outcome_id=outcome_id)
    basis = _basis(project, outcome, as_of) if links else None  # once for all its links
    for link in links:
        assert basis is not None
        result = _measure(link, found, basis)
        results.append(result)
        rows.append(
            {
                "output": link.output_id,
                "title": titles.get(link.output_id, ""),
                "delivered": days.get(link.output_id),
                "hypothesis": link.hypothesis,
                "direction": link.direction,
                "verdict": result.verdict,
                "estimate": result.estimate,
                "low": result.low,
                "high": result.high,
                "method": result.method,
                "effective": result.effective,
                "sentence": result.sentence,
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "output",
            "title",
            "delivered",
            "hypothesis",
            "direction",
            "verdict",
            "estimate",
            "low",
            "high",
            "method",
            "effective",
            "sentence",
        ],
    )
    frame.attrs["rollup"] = rollup(results)
    return frame


def team_impact(
    project: Workspace, store: Store, team: str, start: dt.date, end: dt.date
) -> dict[str, Any]:
    """Of the effort a team delivered in [start, end], how much went into outputs with a link
    whose KPI moved as hypothesised."""
    delivered = outputs(project, store, start=start, end=end, team=team)
    ids = set(delivered["id"])
    moved = {
        link.output_id
        for link in store.links()
        if link.output_id in ids
        and link_impact(project, store, link).verdict == "moved as hypothesised"
    }
    effort = float(delivered["effort"].fillna(0).sum())
    impact_effort = float(delivered.loc[delivered["id"].isin(moved), "effort"].fillna(0).sum())
    return {
        "team": team,
        "start": start,
        "end": end,
        "outputs": len(delivered),
        "effort": effort,
        "effort_with_impact": impact_effort,
        "share": impact_effort / effort if effort else None,
        "outputs_with_impact": sorted(moved),
    }
