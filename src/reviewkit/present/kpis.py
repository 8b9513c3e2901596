"""The KPIs of one period as text, as `reviewkit kpis` prints them: the scorecard (each KPI's
value, changes, target, status and flags) or the KPIs broken down by dimensions, as a table,
CSV or JSON; and the ``DIM=VALUE`` filters that choose the rows.

The texts are written piece by piece (each piece ends its own lines), so a caller prints each
as it comes."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from reviewkit.metrics.catalogue import difference_text, format_value, metric_sources
from reviewkit.metrics.compare import comparisons
from reviewkit.present.charts.style import as_number
from reviewkit.present.text import render_table, with_margin
from reviewkit.store.files import formula_safe

if TYPE_CHECKING:
    import pandas as pd

    from reviewkit.base.periods import Period
    from reviewkit.metrics.explain import Explanation
    from reviewkit.project import Project

__all__ = [
    "SCORECARD_COLUMNS",
    "breakdown",
    "breakdown_text",
    "cohort_text",
    "explanation_text",
    "json_value",
    "parse_filters",
    "scorecard_quarantined",
    "scorecard_text",
]

#: scorecard columns written as CSV or JSON, in order
SCORECARD_COLUMNS: Final = (
    "metric",
    "label",
    "period",
    "value",
    "text",
    "coverage",
    "previous_period",
    "previous_change",
    "previous_change_text",
    "year_ago_period",
    "year_ago_change",
    "year_ago_change_text",
    "change_unit",
    "target",
    "target_text",
    "attainment",
    "gap",
    "projection",
    "status",
    "status_reason",
    "flags",
    "responses",
    "low",
    "high",
)


def parse_filters(filters: Sequence[str]) -> dict[str, list[str]]:
    """``DIM=VALUE`` items as the values kept per dimension (a dimension repeated keeps several);
    a ValueError names an item that is not ``DIM=VALUE``."""
    parsed: dict[str, list[str]] = {}
    for item in filters:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise ValueError(f"{item!r} is not DIM=VALUE")
        parsed.setdefault(column.strip(), []).append(value)
    return parsed


def json_value(value: Any) -> Any:
    """A value as JSON has it: NaN is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def scorecard_quarantined(project: Project, names: Sequence[str]) -> dict[str, int]:
    """Rows quarantined (set aside, not counted) per source of the metrics ``names``."""
    return project.quarantined(
        {s for m in names for s in project.config.sources if s in metric_sources(project.config, m)}
    )


def scorecard_text(
    card: pd.DataFrame,
    fmt: str,
    heading: str,
    chosen: Period,
    through: Any,
    quarantined: dict[str, int],
) -> Iterator[str]:
    """The scorecard ``card`` of the period ``chosen`` as ``fmt`` (``table``, ``csv`` or
    ``json``); a table under ``heading``, with its flags as numbered notes."""
    if fmt == "csv":
        out = card[list(SCORECARD_COLUMNS)].copy()
        out["flags"] = ["; ".join(f) for f in out["flags"]]
        yield out.to_csv(index=False)
        return
    if fmt == "json":
        rows = [
            {k: json_value(row[k]) for k in SCORECARD_COLUMNS} for row in card.to_dict("records")
        ]
        document = {
            "period": chosen.label,
            "grain": chosen.grain,
            "start": chosen.start.isoformat(),
            "end": chosen.end.isoformat(),
            "data_through": through.isoformat() if through else None,
            "quarantined": quarantined,
            "rows": rows,
        }
        yield json.dumps(document, indent=2) + "\n"
        return
    yield heading + "\n"
    shown = comparisons(chosen)  # a year's previous period is the year ago: one column
    notes: dict[str, int] = {}
    table = []
    for row in card.to_dict("records"):
        marks = "".join(f"[{notes.setdefault(f, len(notes) + 1)}]" for f in row["flags"])
        table.append(
            [
                row["label"],
                with_margin(row),
                *(row[f"{key}_change_text"].split(" (")[0] for key in shown),
                row["target_text"],
                "" if row["status"] == "n/a" and not row["target_text"] else row["status"],
                marks,
            ]
        )
    headers = ["metric", "value", *shown.values(), "target", "status", "flags"]
    yield render_table(headers, table) + "\n"
    for text, number in notes.items():
        yield f"[{number}] {text}\n"


def breakdown(
    project: Project,
    names: list[str],
    chosen: Period,
    wanted: dict[str, list[str]],
    by: Sequence[str],
) -> pd.DataFrame:
    """The KPIs ``names`` of the period ``chosen`` per group of the dimensions ``by``; rows
    quarantined per source in its ``attrs["quarantined"]``."""
    return project.kpis(
        names, grain=chosen.grain, start=chosen.start, end=chosen.end, filters=wanted, by=by
    )


def breakdown_text(
    project: Project,
    frame: pd.DataFrame,
    names: list[str],
    chosen: Period,
    by: Sequence[str],
    fmt: str,
    heading: str,
) -> Iterator[str]:
    """The :func:`breakdown` ``frame`` as ``fmt`` (``table``, ``csv`` or ``json``); a table
    under ``heading``, one column per group, with the period's coverage notes. CSV changes
    ``frame`` (a label column; group values made safe from spreadsheet formulas)."""
    catalogue = project.config.metrics
    quarantined: dict[str, int] = frame.attrs["quarantined"]
    if fmt == "csv":
        frame.insert(
            frame.columns.get_loc("metric") + 1,
            "label",
            [catalogue[m].label for m in frame["metric"]],
        )
        for column in by:  # group values come from the exports: never a formula in a spreadsheet
            frame[column] = [formula_safe(v) if isinstance(v, str) else v for v in frame[column]]
        yield frame.drop(columns=["period_start", "period_end"]).to_csv(index=False)
        return
    if fmt == "json":
        rows = [
            {
                **{
                    k: (str(v) if k.startswith("period_") else v)
                    for k, v in row.items()
                    if k != "value"
                },
                "label": catalogue[row["metric"]].label,
                "value": json_value(row["value"]),
                "text": format_value(catalogue[row["metric"]], row["value"]),
            }
            for row in frame.to_dict("records")
        ]
        document = {
            "period": chosen.label,
            "grain": chosen.grain,
            "start": chosen.start.isoformat(),
            "end": chosen.end.isoformat(),
            "quarantined": quarantined,
            "rows": rows,
        }
        yield json.dumps(document, indent=2) + "\n"
        return
    yield heading + "\n"
    groups = sorted({tuple(r) for r in frame[list(by)].astype(str).itertuples(index=False)})
    coverage = project.coverage(names, chosen.start, chosen.end)
    table = []
    for name in names:
        part = frame[frame["metric"] == name]
        cells = {tuple(str(r[c]) for c in by): r["value"] for r in part.to_dict("records")}
        table.append(
            [catalogue[name].label, *(format_value(catalogue[name], cells.get(g)) for g in groups)]
        )
    yield render_table(["metric", *(" / ".join(g) for g in groups)], table) + "\n"
    for flag in coverage.flags(chosen.label):
        yield f"note: {flag}\n"


def cohort_text(
    project: Project, frame: pd.DataFrame, metric: str, grain: str, fmt: str, heading: str
) -> Iterator[str]:
    """:meth:`Project.cohorts <reviewkit.project.Project.cohorts>` ``frame`` as ``fmt``: a
    table under ``heading`` with a row per cohort (its size, then its value at each age, blank
    where the cohort has not reached it), or long rows as CSV or JSON."""
    definition = project.config.metrics[metric]
    if fmt == "csv":
        yield frame.to_csv(index=False)
        return
    if fmt == "json":
        rows = [
            {
                "cohort": str(row["cohort"]),
                "period": row["period"],
                "age": int(row["age"]),
                "size": int(row["size"]),
                "value": json_value(row["value"]),
                "text": format_value(definition, row["value"]),
            }
            for row in frame.to_dict("records")
        ]
        document = {"metric": metric, "label": definition.label, "grain": grain, "rows": rows}
        yield json.dumps(document, indent=2) + "\n"
        return
    ages = sorted(set(frame["age"])) if len(frame) else []
    table: list[list[str]] = []
    for period, cohort in frame.groupby("period", sort=False):
        values = dict(zip(cohort["age"], cohort["value"], strict=True))
        table.append(
            [
                str(period),
                f"{int(cohort['size'].iloc[0]):,}",
                *(format_value(definition, values[a]) if a in values else "" for a in ages),
            ]
        )
    unit = grain.replace("_", " ")
    yield f"{heading}\n"
    yield render_table([f"cohort ({unit})", "size", *map(str, ages)], table) + "\n"
    yield (
        f"{definition.label} of each cohort (the entities that started in a {unit}) at the end "
        f"of each {unit} since (0: its own); blank: not reached yet\n"
    )


def explanation_text(found: Explanation, fmt: str, project_name: str) -> Iterator[str]:
    """An :class:`~reviewkit.metrics.explain.Explanation` as ``fmt``: a table of its parts
    under its sentence, or the parts as CSV or JSON (numbers in the metric's own units)."""
    metric = found.metric
    if fmt == "csv":
        frame = found.parts.copy()
        frame["part"] = [formula_safe(str(p)) for p in frame["part"]]
        yield frame.to_csv(index=False)
        return
    if fmt == "json":
        document = {
            "metric": metric.name,
            "label": metric.label,
            "by": found.by,
            "period": found.current.name,
            "against": found.base.name,
            "value": found.value,
            "base_value": found.base_value,
            "change": found.change,
            "kind": found.kind,
            "parts": [
                {k: json_value(v) for k, v in row.items()} for row in found.parts.to_dict("records")
            ],
            "sentence": found.sentence(),
        }
        yield json.dumps(document, indent=2) + "\n"
        return
    ratio = found.kind == "ratio"
    own = {m.label: m for m in found.inputs}  # an input's levels are in its own format

    def points(value: Any) -> str:
        number = as_number(value)
        return "" if number is None else difference_text(metric, number, signed=True)

    def level(value: Any, part: str) -> str:
        number = as_number(value)
        return "-" if number is None else format_value(own.get(part, metric), number)

    headers = [found.by or "input", f"{found.base.name}", f"{found.current.name}"]
    headers += ["rate", "mix", "change"] if ratio else ["change"]
    rows = []
    for row in found.parts.to_dict("records"):
        part = str(row["part"])
        cells = [part, level(row["base"], part), level(row["value"], part)]
        cells += [points(row["rate"]), points(row["mix"])] if ratio else []
        rows.append([*cells, points(row["change"])])
    total = ["total", format_value(metric, found.base_value), format_value(metric, found.value)]
    rows.append([*total, *(["", ""] if ratio else []), points(found.change)])
    yield f"{project_name} · {found.sentence()}\n"
    yield render_table(headers, rows) + "\n"
    if ratio:
        yield (
            "rate: the member's own rate moved (at its average share); mix: its share moved (at "
            "its average rate against the overall average); they add up to the change\n"
        )
