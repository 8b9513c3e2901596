"""The review model: outcomes (goals measured by KPIs) and outputs (delivered work).

Outcomes come from ``reviewkit.yaml``; outputs from the export declared under ``outputs`` plus
those added by hand in the store; the links between them and the check-ins live in the store
(:mod:`reviewkit.store.core`). What the data says about them is :mod:`reviewkit.evidence`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Final

import pandas as pd

from reviewkit.base.sql import quote_ident

if TYPE_CHECKING:
    from reviewkit.metrics.workspace import Workspace
    from reviewkit.store.core import Store

__all__ = ["OUTPUT_COLUMNS", "outcome_frame", "outputs"]

OUTPUT_COLUMNS: Final = (
    "id",
    "title",
    "team",
    "type",
    "delivered",
    "effort",
    "url",
    "labels",
    "origin",
)
LABEL_SPLIT: Final = re.compile(r"\s*[;,]\s*")


def outcome_frame(project: Workspace) -> pd.DataFrame:
    """One row per outcome, parents before children (depth 0 = a company goal)."""
    outcomes = project.config.outcomes
    rows = []

    def depth(ident: str) -> int:
        parent = outcomes[ident].parent
        return 0 if parent is None or parent not in outcomes else depth(parent) + 1

    for outcome in outcomes.values():
        target = outcome.target
        rows.append(
            {
                "id": outcome.id,
                "title": outcome.title,
                "team": outcome.team,
                "owner": outcome.owner,
                "metric": outcome.metric,
                "segment": ", ".join(f"{k}={'/'.join(v)}" for k, v in outcome.filters),
                "baseline": outcome.baseline_value,
                "baseline_period": outcome.baseline_period,
                "target": target.value if target else None,
                "target_by": target.by if target else None,
                "lag_days": outcome.lag_days,
                "parent": outcome.parent,
                "depth": depth(outcome.id),
                "description": outcome.description,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "id",
            "title",
            "team",
            "owner",
            "metric",
            "segment",
            "baseline",
            "baseline_period",
            "target",
            "target_by",
            "lag_days",
            "parent",
            "depth",
            "description",
        ],
    )


def _export_outputs(project: Workspace) -> pd.DataFrame:
    spec = project.config.outputs
    if spec is None:
        return pd.DataFrame(columns=list(OUTPUT_COLUMNS))
    source = project.config.sources[spec.source]

    def column(name: str | None, cast: str = "VARCHAR") -> str:
        return f"CAST({quote_ident(name)} AS {cast})" if name else "NULL"

    rows = project.source_rows(
        spec.source,
        f"SELECT {column(spec.id)}, {column(spec.title)}, {column(spec.team)}, "
        f"{column(spec.type)}, CAST({quote_ident(source.date.column)} AS DATE), "
        f"{column(spec.effort, 'DOUBLE')}, {column(spec.url)}, {column(spec.labels)} "
        f"FROM {quote_ident(spec.source)} ORDER BY 5, 1",
    )
    frame = pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS[:-1]))
    frame["labels"] = [
        tuple(LABEL_SPLIT.split(v)) if isinstance(v, str) and v else () for v in frame["labels"]
    ]
    frame["origin"] = "export"
    return frame


def outputs(
    project: Workspace,
    store: Store,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    team: str | None = None,
    unlinked: bool = False,
    search: str | None = None,
) -> pd.DataFrame:
    """Delivered outputs (from the export and added by hand) with the outcomes each is linked
    to; filter by delivery dates, team, unlinked only, or text in the id or title."""
    exported = _export_outputs(project)
    manual = pd.DataFrame(
        [
            {
                "id": o.output_id,
                "title": o.title,
                "team": o.team,
                "type": o.type,
                "delivered": o.delivered,
                "effort": o.effort,
                "url": o.url,
                "labels": tuple(o.labels),
                "origin": "manual",
            }
            for o in store.manual_outputs()
        ],
        columns=list(OUTPUT_COLUMNS),
    )
    frame = pd.concat(
        [f for f in (exported, manual) if not f.empty] or [exported], ignore_index=True
    )
    frame = frame.drop_duplicates("id", keep="last")  # a hand-added row corrects the export's
    links: dict[str, list[str]] = {}
    for link in store.links():
        links.setdefault(link.output_id, []).append(link.outcome_id)
    frame["outcomes"] = [tuple(sorted(links.get(i, ()))) for i in frame["id"]]
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= frame["delivered"] >= start
    if end is not None:
        keep &= frame["delivered"] <= end
    if team is not None:
        keep &= frame["team"] == team
    if unlinked:
        keep &= frame["outcomes"].map(len) == 0
    if search:
        needle = search.casefold()
        text = frame["id"].astype(str) + " " + frame["title"].astype(str)
        keep &= text.str.casefold().str.contains(needle, regex=False)
    return frame[keep].sort_values(["delivered", "id"]).reset_index(drop=True)
