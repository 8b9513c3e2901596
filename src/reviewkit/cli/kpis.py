"""`reviewkit kpis`: the scorecard of one period, or its KPIs broken down by a dimension (the
text of each: :mod:`reviewkit.present.kpis`)."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.base.periods import GRAINS
from reviewkit.cli.common import filter_option, format_option, project_option, user_errors


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
@filter_option()
@format_option
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
    from reviewkit.present import kpis as texts  # noqa: PLC0415 (keep --help fast)
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    try:
        wanted = texts.parse_filters(filters)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None
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
            frame = texts.breakdown(proj, names, chosen, wanted, by)
            quarantined: dict[str, int] = frame.attrs["quarantined"]
            text = texts.breakdown_text(proj, frame, names, chosen, by, fmt, heading)
        else:
            card = proj.scorecard(chosen, metrics=names, filters=wanted)
            quarantined = texts.scorecard_quarantined(proj, names)
            text = texts.scorecard_text(card, fmt, heading, chosen, through, quarantined)
        for piece in text:
            click.echo(piece, nl=False)
        for source, count in quarantined.items():
            click.echo(
                f"note: {count} row(s) of source '{source}' are quarantined and not "
                "counted; `reviewkit check` lists them",
                err=True,
            )
