"""Impact: did the linked KPI move after the output, against a counterfactual, per link, outcome
and team. The estimator itself is :mod:`reviewkit.evidence.estimator`; this module finds the
series, the delivery dates and the comparison segments it needs.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from reviewkit.base.errors import QueryError
from reviewkit.base.periods import as_day
from reviewkit.config import Metric, Outcome
from reviewkit.evidence.estimator import (
    EVIDENCE_WINDOWS,
    MOVED,
    Change,
    ImpactResult,
    KnownEvent,
    measure_links,
    rollup,
)
from reviewkit.evidence.review import outputs
from reviewkit.metrics.catalogue import difference_text, metric_sources, read_monthly
from reviewkit.metrics.surveys import answers, fewest_answers, is_survey

if TYPE_CHECKING:
    from reviewkit.metrics.workspace import Workspace
    from reviewkit.store.core import Link, Store

__all__ = ["IMPACT_COLUMNS", "link_impact", "outcome_impact", "outcome_results", "team_impact"]


def _grain_for(project: Workspace, outcome: Outcome, as_of: dt.date | None) -> str:
    """Weeks give the most points; a metric read from month-end snapshots has months only, a
    retention or churn rate is read per month (``read_monthly``), a survey KPI whose typical
    week has fewer answers than a value needs is read per month, and an outcome may ask for
    months (a ratio too noisy weekly)."""
    if outcome.impact_grain:
        return outcome.impact_grain
    if read_monthly(project.config, outcome.metric):
        return "month"
    metric = project.config.metrics[outcome.metric]
    if is_survey(metric):  # its weeks' answers up to the latest complete week (as of as_of)
        latest = project.period("latest", "week", [outcome.metric]).end
        through = min(as_of, latest) if as_of else latest
        filters = {k: list(v) for k, v in outcome.filters}
        weekly = answers(project, metric, grain="week", end=through, filters=filters)
        if statistics.median(list(weekly.values()) or [0]) < fewest_answers(metric):
            return "month"
    return "week"


def _answered(
    project: Workspace,
    metric: Metric,
    series: pd.DataFrame,
    grain: str,
    filters: dict[str, list[str]],
    by: str | None = None,
) -> pd.DataFrame:
    """A survey KPI's series (the controls: per ``group`` of dimension ``by``) without the
    periods that have fewer answers than a value needs
    (:func:`~reviewkit.metrics.surveys.fewest_answers`): missing, as a period without data,
    rather than read as a move; other metrics' series as they are."""
    if not is_survey(metric) or series.empty:
        return series
    end = max(as_day(day) for day in series["period_end"])
    counted = answers(project, metric, grain=grain, end=end, filters=filters, by=[by] if by else [])
    keys = zip(series["period_start"], *([series["group"]] if by else []), strict=True)
    enough = [
        counted.get((as_day(day), *group), 0) >= fewest_answers(metric) for day, *group in keys
    ]
    return series.assign(value=series["value"].where(enough))


def link_impact(
    project: Workspace, store: Store, link: Link, *, as_of: dt.date | None = None
) -> ImpactResult:
    """Did the linked outcome's KPI move after the output was delivered (plus the lag), against
    the counterfactual of its own past, and against the other segments where there are any?
    Measured with the outcome's other links, so the verdict is the one its review shows (the
    false discovery rate is controlled across them)."""
    found = outcome_results(project, store, link.outcome_id, as_of=as_of)
    return found[link.output_id]


@dataclass(frozen=True)
class _Basis:
    """What every link of one outcome is measured against, as of one day: the KPI's series at
    the outcome's impact grain, the other segments' series (the controls) and the events
    recorded for the KPI."""

    outcome: Outcome
    metric: Metric
    grain: str
    pre: int
    post: int
    through: dt.date
    series: pd.DataFrame
    controls: pd.DataFrame | None
    events: tuple[KnownEvent, ...]


def _basis(project: Workspace, store: Store, outcome: Outcome, as_of: dt.date | None) -> _Basis:
    metric = project.config.metrics[outcome.metric]
    grain = _grain_for(project, outcome, as_of)
    pre, post = EVIDENCE_WINDOWS[grain]
    complete = project.period("latest", grain, [outcome.metric])
    through = min(as_of, complete.end) if as_of else complete.end
    filters = {k: list(v) for k, v in outcome.filters}
    series = project.kpi(outcome.metric, grain=grain, end=through, filters=filters)
    series = _answered(project, metric, series, grain, filters)
    dimension = _control_dimension(project, outcome.metric, filters)
    controls = _controls(project, outcome.metric, filters, dimension, grain, through)
    if controls is not None:
        others = {k: v for k, v in filters.items() if k != dimension}
        controls = _answered(project, metric, controls, grain, others, by=dimension)
    events = _events(store, outcome, dimension if controls is not None else None)
    return _Basis(outcome, metric, grain, pre, post, through, series, controls, events)


def _events(store: Store, outcome: Outcome, dimension: str | None) -> tuple[KnownEvent, ...]:
    """The business events recorded for the outcome's KPI that concern its segment: company-wide
    ones, and those scoped to a segment the outcome's filters do not exclude (a dimension named
    twice in the scope means either value); and, by the control group they concern, those of
    the other segments of ``dimension`` (the comparison's), which leave them out of it."""
    filters = dict(outcome.filters)
    found = []
    for event in store.business_events(metric=outcome.metric):
        clashes = event.clashes(filters)
        if not clashes:
            found.append(KnownEvent(event.title, event.start, event.end))
        elif dimension is not None and clashes == {dimension}:
            found += [
                KnownEvent(event.title, event.start, event.end, group=value)
                for value in sorted(event.segments()[dimension])
            ]
    return tuple(found)


def outcome_results(
    project: Workspace, store: Store, outcome_id: str, *, as_of: dt.date | None = None
) -> dict[str, ImpactResult]:
    """Every link of the outcome measured together, by output id: each against the outcome's
    basis, with the false discovery rate controlled across those measured."""
    outcome = project.outcome(outcome_id)
    links = store.links(outcome_id=outcome_id)
    if not links:
        return {}
    delivered = outputs(project, store)
    days = dict(zip(delivered["id"], delivered["delivered"], strict=True))
    missing = [link.output_id for link in links if link.output_id not in days]
    if missing:
        raise QueryError(f"output '{missing[0]}' of this link is no longer in the outputs")
    basis = _basis(project, store, outcome, as_of)  # once for all its links
    metric = basis.metric
    results = measure_links(
        basis.series[["period_start", "value"]],
        [
            Change(
                change_date=days[link.output_id],
                lag_days=link.lag_days if link.lag_days is not None else outcome.lag_days,
                expected=link.direction,
                size=link.size,
                label=link.output_id,
            )
            for link in links
        ],
        grain=basis.grain,
        controls=basis.controls,
        as_of=basis.through,
        pre_window=basis.pre,
        post_window=basis.post,
        unit_text=lambda x: difference_text(metric, x),
        name=metric.label,
        events=basis.events,
    )
    return {link.output_id: result for link, result in zip(links, results, strict=True)}


def _control_dimension(
    project: Workspace, metric: str, filters: dict[str, list[str]]
) -> str | None:
    """The dimension the outcome is one segment of (the team), when every source behind the
    metric has it: its other values are the comparison."""
    single = [k for k, v in filters.items() if len(v) == 1]
    sources = metric_sources(project.config, metric)
    usable = [k for k in single if all(k in project.config.sources[s].dimensions for s in sources)]
    return usable[0] if usable else None


def _controls(
    project: Workspace,
    metric: str,
    filters: dict[str, list[str]],
    dimension: str | None,
    grain: str,
    through: dt.date,
) -> pd.DataFrame | None:
    """The same KPI for the other values of ``dimension`` (the other teams)."""
    if dimension is None:
        return None
    others = {k: v for k, v in filters.items() if k != dimension}
    frame = project.kpi(metric, grain=grain, end=through, filters=others, by=dimension)
    frame = frame[frame[dimension] != filters[dimension][0]]
    if frame.empty:
        return None
    return frame.rename(columns={dimension: "group"})[
        ["period_start", "period_end", "group", "value"]
    ]


def outcome_impact(
    project: Workspace, store: Store, outcome_id: str, *, as_of: dt.date | None = None
) -> pd.DataFrame:
    """One row per link of the outcome with its verdict, estimate and the smallest effect it
    could detect; ``attrs["rollup"]`` counts the verdicts and ``attrs["tested"]`` the links
    measured (the family the false discovery rate is controlled over)."""
    found = outputs(project, store)
    titles = dict(zip(found["id"], found["title"], strict=True))
    days = dict(zip(found["id"], found["delivered"], strict=True))
    links = {link.output_id: link for link in store.links(outcome_id=outcome_id)}
    results = outcome_results(project, store, outcome_id, as_of=as_of)
    rows = [
        {
            "output": output,
            "title": titles.get(output, ""),
            "delivered": days.get(output),
            "hypothesis": links[output].hypothesis,
            "direction": links[output].direction,
            "verdict": result.verdict,
            "estimate": result.estimate,
            "low": result.low,
            "high": result.high,
            "detectable": result.mde,
            "expected_size": links[output].size,
            "q_value": result.q_value,
            "confounded_by": result.confounded_by,
            "shared_with": ", ".join(result.shared_with),
            "method": result.method,
            "effective": result.effective,
            "sentence": result.sentence,
        }
        for output, result in results.items()
    ]
    frame = pd.DataFrame(rows, columns=list(IMPACT_COLUMNS))
    frame.attrs["rollup"] = rollup(list(results.values()))
    frame.attrs["tested"] = sum(r.p_value is not None for r in results.values())
    return frame


#: The columns of :func:`outcome_impact`'s frame.
IMPACT_COLUMNS = (
    "output",
    "title",
    "delivered",
    "hypothesis",
    "direction",
    "verdict",
    "estimate",
    "low",
    "high",
    "detectable",
    "expected_size",
    "q_value",
    "confounded_by",
    "shared_with",
    "method",
    "effective",
    "sentence",
)


def team_impact(
    project: Workspace, store: Store, team: str, start: dt.date, end: dt.date
) -> dict[str, Any]:
    """Of the effort a team delivered in [start, end], how much went into outputs with a link
    whose KPI moved as hypothesised."""
    delivered = outputs(project, store, start=start, end=end, team=team)
    ids = set(delivered["id"])
    outcomes = {link.outcome_id for link in store.links() if link.output_id in ids}
    moved = {
        output
        for outcome in sorted(outcomes)
        for output, result in outcome_results(project, store, outcome).items()
        if output in ids and result.verdict == MOVED
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
