"""`reviewkit explain`: why a KPI moved, its change split across a dimension's members or its
inputs (the text: :func:`reviewkit.present.kpis.explanation_text`)."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.cli.common import filter_option, format_option, project_option, user_errors


@click.command()
@project_option
@click.argument("metric")
@click.option(
    "--period",
    default="latest",
    show_default=True,
    help="The period whose change is explained (as `reviewkit kpis --period`).",
)
@click.option(
    "--by", default=None, metavar="DIMENSION", help="Split across this dimension's members."
)
@click.option(
    "--against",
    type=click.Choice(["previous", "year_ago"]),
    default="previous",
    show_default=True,
    help="The period compared with.",
)
@filter_option()
@format_option
def explain(
    project: Path,
    metric: str,
    period: str,
    by: str | None,
    against: str,
    filters: tuple[str, ...],
    fmt: str,
) -> None:
    """Print why METRIC moved: its change from the previous period (or a year earlier) split
    exactly across the members of --by (a ratio into rate and mix effects), or across the
    metrics it is derived from."""
    from reviewkit.present import kpis as texts  # noqa: PLC0415 (keep --help fast)
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    try:
        wanted = texts.parse_filters(filters)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--filter") from None
    with user_errors(), open_project(project) as proj:
        found = proj.explain(metric, period, by=by, against=against, filters=wanted)
        for piece in texts.explanation_text(found, fmt, proj.config.name):
            click.echo(piece, nl=False)
