"""`reviewkit kpis`: the scorecard of one period, or its KPIs broken down by a dimension."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reviewkit.base.periods import GRAINS
from reviewkit.cli.common import project_option, render_table, user_errors

if TYPE_CHECKING:
    import pandas as pd

    from reviewkit.base.periods import Period
    from reviewkit.project import Project

#: scorecard columns written by --format csv/json, in order
SCORECARD_COLUMNS = (
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
)


@click.command()
@project_option
@click.option(
    "--period",
    default="latest",
    show_default=True,
    help="latest (the latest complete period in the data), YYYY-MM, YYYY-Qn, YYYY, FYyyyy, "
    "FYyyyy-Qn, YYYY-Www, YYYY-MM-DD, this-month, last-month (also -week, -quarter, -year...).",
)
@click.option(
    "--grain",
    type=click.Choice(GRAINS),
    default=None,
    help="Period grain; default: the one --period names (month for latest).",
)
@click.option("--team", default=None, help="Only this team's rows (and its targets).")
@click.option(
    "--by",
    "by",
    multiple=True,
    metavar="DIMENSION",
    help="Break down by a dimension (e.g. team) instead of the scorecard; repeatable.",
)
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="NAME",
    help="Only these metrics (repeatable); default: the whole catalogue.",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    metavar="DIM=VALUE",
    help="Keep rows where DIM is VALUE (repeatable; repeat a DIM for several values).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
def kpis(
    project: Path,
    period: str,
    grain: str | None,
    team: str | None,
    by: tuple[str, ...],
    metrics: tuple[str, ...],
    filters: tuple[str, ...],
    fmt: str,
) -> None:
    """Print the scorecard of one period: each KPI's value, change on the previous period and
    on a year earlier, target, status and flags. With --by, the KPIs per group instead."""
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    wanted = _parse_filters(filters)
    if team is not None:
        wanted.setdefault("team", []).append(team)
    with user_errors(), open_project(project) as proj:
        names = list(metrics) or list(proj.config.metrics)
        chosen = proj.period(period, grain, names)
        through = proj.data_through(names)
        heading = (
            f"{proj.config.name} · {chosen.grain.replace('_', ' ')} {chosen.label} "
            f"({chosen.start} to {chosen.end}) · data through {through}"
        )
        if by:
            quarantined = _breakdown(proj, names, chosen, wanted, by, fmt, heading)
        else:
            card = proj.scorecard(chosen, metrics=names, filters=wanted)
            quarantined = proj.quarantined(
                {s for m in names for s in proj.config.sources if _uses(proj, m, s)}
            )
            _print_scorecard(card, fmt, heading, chosen, through, quarantined)
        for source, count in quarantined.items():
            click.echo(
                f"note: {count} row(s) of source '{source}' are quarantined and not "
                "counted; `reviewkit check` lists them",
                err=True,
            )


def _uses(proj: Project, metric: str, source: str) -> bool:
    from reviewkit.metrics.catalogue import metric_sources  # noqa: PLC0415

    return source in metric_sources(proj.config, metric)


def _print_scorecard(
    card: pd.DataFrame,
    fmt: str,
    heading: str,
    chosen: Period,
    through: Any,
    quarantined: dict[str, int],
) -> None:
    from reviewkit.metrics.compare import comparisons  # noqa: PLC0415

    if fmt == "csv":
        out = card[list(SCORECARD_COLUMNS)].copy()
        out["flags"] = ["; ".join(f) for f in out["flags"]]
        click.echo(out.to_csv(index=False), nl=False)
        return
    if fmt == "json":
        rows = [
            {k: _json_value(row[k]) for k in SCORECARD_COLUMNS} for row in card.to_dict("records")
        ]
        click.echo(
            json.dumps(
                {
                    "period": chosen.label,
                    "grain": chosen.grain,
                    "start": chosen.start.isoformat(),
                    "end": chosen.end.isoformat(),
                    "data_through": through.isoformat() if through else None,
                    "quarantined": quarantined,
                    "rows": rows,
                },
                indent=2,
            )
        )
        return
    click.echo(heading)
    shown = comparisons(chosen)  # a year's previous period is the year ago: one column
    notes: dict[str, int] = {}
    table = []
    for row in card.to_dict("records"):
        marks = "".join(f"[{notes.setdefault(f, len(notes) + 1)}]" for f in row["flags"])
        table.append(
            [
                row["label"],
                row["text"],
                *(row[f"{key}_change_text"].split(" (")[0] for key in shown),
                row["target_text"],
                "" if row["status"] == "n/a" and not row["target_text"] else row["status"],
                marks,
            ]
        )
    headers = ["metric", "value", *shown.values(), "target", "status", "flags"]
    click.echo(render_table(headers, table))
    for text, number in notes.items():
        click.echo(f"[{number}] {text}")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _breakdown(
    proj: Project,
    names: list[str],
    chosen: Period,
    wanted: dict[str, list[str]],
    by: tuple[str, ...],
    fmt: str,
    heading: str,
) -> dict[str, int]:
    from reviewkit.metrics.catalogue import format_value  # noqa: PLC0415

    frame = proj.kpis(
        names, grain=chosen.grain, start=chosen.start, end=chosen.end, filters=wanted, by=by
    )
    catalogue = proj.config.metrics
    quarantined: dict[str, int] = frame.attrs["quarantined"]
    if fmt == "csv":
        from reviewkit.store.files import formula_safe  # noqa: PLC0415

        frame.insert(
            frame.columns.get_loc("metric") + 1,
            "label",
            [catalogue[m].label for m in frame["metric"]],
        )
        for column in by:  # group values come from the exports: never a formula in a spreadsheet
            frame[column] = [formula_safe(v) if isinstance(v, str) else v for v in frame[column]]
        click.echo(frame.drop(columns=["period_start", "period_end"]).to_csv(index=False), nl=False)
        return quarantined
    if fmt == "json":
        rows = [
            {
                **{
                    k: (str(v) if k.startswith("period_") else v)
                    for k, v in row.items()
                    if k != "value"
                },
                "label": catalogue[row["metric"]].label,
                "value": _json_value(row["value"]),
                "text": format_value(catalogue[row["metric"]], row["value"]),
            }
            for row in frame.to_dict("records")
        ]
        click.echo(
            json.dumps(
                {
                    "period": chosen.label,
                    "grain": chosen.grain,
                    "start": chosen.start.isoformat(),
                    "end": chosen.end.isoformat(),
                    "quarantined": quarantined,
                    "rows": rows,
                },
                indent=2,
            )
        )
        return quarantined
    click.echo(heading)
    groups = sorted({tuple(r) for r in frame[list(by)].astype(str).itertuples(index=False)})
    coverage = proj.coverage(names, chosen.start, chosen.end)
    table = []
    for name in names:
        part = frame[frame["metric"] == name]
        cells = {tuple(str(r[c]) for c in by): r["value"] for r in part.to_dict("records")}
        table.append(
            [catalogue[name].label, *(format_value(catalogue[name], cells.get(g)) for g in groups)]
        )
    click.echo(render_table(["metric", *(" / ".join(g) for g in groups)], table))
    for flag in coverage.flags(chosen.label):
        click.echo(f"note: {flag}")
    return quarantined


def _parse_filters(filters: tuple[str, ...]) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for item in filters:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise click.BadParameter(f"{item!r} is not DIM=VALUE", param_hint="--filter")
        parsed.setdefault(column.strip(), []).append(value)
    return parsed
