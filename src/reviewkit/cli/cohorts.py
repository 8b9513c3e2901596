"""`reviewkit cohorts`: cohort retention of a lifecycle source (the text:
:func:`reviewkit.present.kpis.cohort_text`)."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.base.periods import GRAINS
from reviewkit.cli.common import filter_option, format_option, project_option, user_errors


@click.command()
@project_option
@click.argument("metric")
@click.option(
    "--grain",
    type=click.Choice(GRAINS),
    default="month",
    show_default=True,
    help="The cohorts' periods and the ages counted in them.",
)
@click.option(
    "--latest",
    type=click.IntRange(min=1),
    metavar="N",
    help="Only the cohorts of the latest N periods (default: every period since the export's "
    "first start).",
)
@filter_option("Only entities whose first spell has DIM = VALUE (repeatable).")
@format_option
def cohorts(
    project: Path,
    metric: str,
    grain: str,
    latest: int | None,
    filters: tuple[str, ...],
    fmt: str,
) -> None:
    """Print METRIC (retention, churn or revenue_retention of a lifecycle source) per cohort:
    the entities that started in each period, and how many of them (or how much of their
    value) remained at the end of each period since."""
    from reviewkit.present import kpis as texts  # noqa: PLC0415 (keep --help fast)
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    try:
        wanted = texts.parse_filters(filters)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None
    with user_errors(), open_project(project) as proj:
        frame = proj.cohorts(metric, grain=grain, filters=wanted, latest=latest)
        heading = f"{proj.config.name} · {proj.config.metrics[metric].label} by cohort"
        for piece in texts.cohort_text(proj, frame, metric, grain, fmt, heading):
            click.echo(piece, nl=False)
