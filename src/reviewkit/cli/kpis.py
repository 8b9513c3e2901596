"""`reviewkit kpis`: the KPI table of one period."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from reviewkit.cli.common import project_option, render_table, user_errors
from reviewkit.periods import GRAINS


@click.command()
@project_option
@click.option(
    "--period",
    default="latest",
    show_default=True,
    help="YYYY-MM, YYYY-Qn, YYYY, YYYY-Www, YYYY-MM-DD, or `latest` (the latest "
    "complete period in the data).",
)
@click.option("--grain", type=click.Choice(GRAINS), default="month", show_default=True)
@click.option(
    "--by",
    "by",
    multiple=True,
    metavar="DIMENSION",
    help="Break down by a dimension (e.g. team); repeatable.",
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
    grain: str,
    by: tuple[str, ...],
    metrics: tuple[str, ...],
    filters: tuple[str, ...],
    fmt: str,
) -> None:
    """Print the KPIs of one period, optionally broken down by a dimension."""
    from reviewkit.metrics import format_value  # noqa: PLC0415 (keep --help fast)
    from reviewkit.project import open_project  # noqa: PLC0415

    with user_errors(), open_project(project) as proj:
        names = list(metrics) or list(proj.config.metrics)
        chosen = proj.period(period, grain, names)
        frame = proj.kpis(
            names,
            grain=grain,
            start=chosen.start,
            end=chosen.end,
            filters=_parse_filters(filters),
            by=by,
        )
        through = proj.data_through(names)
        quarantined = frame.attrs["quarantined"]
        catalogue = proj.config.metrics
        if fmt == "csv":
            frame.insert(
                frame.columns.get_loc("metric") + 1,
                "label",
                [catalogue[m].label for m in frame["metric"]],
            )
            click.echo(
                frame.drop(columns=["period_start", "period_end"]).to_csv(index=False), nl=False
            )
        elif fmt == "json":
            rows = [
                {
                    **{
                        k: (str(v) if k.startswith("period_") else v)
                        for k, v in row.items()
                        if k != "value"
                    },
                    "label": catalogue[row["metric"]].label,
                    "value": None if math.isnan(row["value"]) else row["value"],
                    "text": format_value(catalogue[row["metric"]], row["value"]),
                }
                for row in frame.to_dict("records")
            ]
            click.echo(
                json.dumps(
                    {
                        "project": proj.config.name,
                        "period": chosen.label,
                        "grain": grain,
                        "start": chosen.start.isoformat(),
                        "end": chosen.end.isoformat(),
                        "data_through": through.isoformat() if through else None,
                        "quarantined": quarantined,
                        "rows": rows,
                    },
                    indent=2,
                )
            )
        else:
            click.echo(
                f"{proj.config.name} · {grain} {chosen.label} "
                f"({chosen.start} to {chosen.end}) · data through {through}"
            )
            groups = (
                sorted({tuple(r) for r in frame[list(by)].astype(str).itertuples(index=False)})
                if by
                else [()]
            )
            headers = ["metric", *(" / ".join(g) for g in groups)] if by else ["metric", "value"]
            table = []
            for name in names:
                part = frame[frame["metric"] == name]
                cells = {
                    tuple(str(v) for v in (r[c] for c in by)): r["value"]
                    for _, r in part.iterrows()
                }
                table.append(
                    [
                        catalogue[name].label,
                        *(format_value(catalogue[name], cells.get(g)) for g in groups),
                    ]
                )
            click.echo(render_table(headers, table))
        for source, count in quarantined.items():
            click.echo(
                f"note: {count} row(s) of source '{source}' are quarantined and not "
                "counted; `reviewkit check` lists them",
                err=True,
            )


def _parse_filters(filters: tuple[str, ...]) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for item in filters:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise click.BadParameter(f"{item!r} is not DIM=VALUE", param_hint="--filter")
        parsed.setdefault(column.strip(), []).append(value)
    return parsed
