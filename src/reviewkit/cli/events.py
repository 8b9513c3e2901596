"""`reviewkit events`: business events (a price change, an outage, a campaign), which may move
KPIs whatever the outputs, recorded in the store for the reviews to weigh."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reviewkit.base.errors import suggest
from reviewkit.cli.common import project_option, say_who_records, user_errors

if TYPE_CHECKING:
    from reviewkit.config import ProjectConfig
    from reviewkit.store.core import BusinessEvent

#: How dates are written on the command line, as the messages name it.
DATE_FORMAT = "YYYY-MM-DD"


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; write it as {DATE_FORMAT}, e.g. 2026-10-01"
        ) from None


@click.group(invoke_without_command=True)
@project_option
@click.option(
    "--kpi",
    "metric",
    metavar="METRIC",
    default=None,
    help="Only the events about this KPI (and those about every KPI).",
)
@click.pass_context
def events(ctx: click.Context, project: Path, metric: str | None) -> None:
    """Business events: things that happened and may move KPIs whatever the outputs (a price
    change, an outage, a campaign). Without a subcommand: list them, by date."""
    if ctx.invoked_subcommand is not None:
        return
    from reviewkit.present.text import render_table  # noqa: PLC0415 (keep --help fast)
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    with user_errors(), open_project(project) as opened:
        if metric is not None:
            _check_metrics(opened.config, [metric], "--kpi")
        found = opened.store.business_events(metric=metric)
    if not found:
        click.echo(
            f"no business events{f' about {metric}' if metric else ''} yet: "
            f"reviewkit events add TITLE --date {DATE_FORMAT}"
        )
        return
    headers = ["id", "start", "end", "title", "KPIs", "scope", "author"]
    click.echo(render_table(headers, [_row(event) for event in found], right=len(headers)))


def _row(event: BusinessEvent) -> list[str]:
    return [
        str(event.id),
        event.start.isoformat(),
        event.end.isoformat() if event.end else "",
        " ".join(event.title.split()),  # one line per event, whatever the title holds
        ", ".join(event.metrics) or "all",
        ", ".join(f"{dimension}={value}" for dimension, value in event.scope) or "company",
        event.author,
    ]


@events.command("add")
@project_option
@click.argument("title")
@click.option(
    "--date",
    "start",
    required=True,
    metavar=DATE_FORMAT,
    callback=_date,
    help="The day it happened, or the first day of a range.",
)
@click.option(
    "--until",
    "end",
    metavar=DATE_FORMAT,
    callback=_date,
    help="The last day of a range (a campaign, an outage); default: it happened on one day.",
)
@click.option(
    "--kpi",
    "metrics",
    multiple=True,
    metavar="METRIC",
    help="A KPI it concerns, by metric name (repeatable); default: every KPI.",
)
@click.option(
    "--where",
    "where",
    multiple=True,
    metavar="DIM=VALUE",
    help="The segment it concerns, by a dimension of the KPIs' sources (repeatable; repeat a DIM "
    "for several values); default: the whole company.",
)
def add(
    project: Path,
    title: str,
    start: dt.date,
    end: dt.date | None,
    metrics: tuple[str, ...],
    where: tuple[str, ...],
) -> None:
    """Record the business event TITLE, on --date or from --date through --until, under your
    name as links and check-ins are (REVIEWKIT_USER, user: in reviewkit.yaml, JUPYTERHUB_USER,
    git config user.name, else the system's user, with a warning when that is root). For example:
    reviewkit events add "Price rise" --date 2026-10-01 --kpi mrr --where plan=pro"""
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    if end is not None and end < start:
        raise click.BadParameter(
            f"{end} is before --date {start}; give the last day of the range, on or after it "
            "(or leave --until out for a change on one day)",
            param_hint="--until",
        )
    scope = [_pair(text) for text in where]
    with user_errors(), open_project(project) as opened:
        _check_metrics(opened.config, metrics, "--kpi")
        _check_dimensions(opened.config, metrics, [dimension for dimension, _ in scope])
        say_who_records(opened)
        event = opened.store.add_event(title, start, end=end, metrics=metrics, scope=scope)
    click.echo(f"added event {event.id}: {event.title} ({_when(event)})")


@events.command("remove")
@project_option
@click.argument("event_id", metavar="ID", type=click.IntRange(min=1))
def remove(project: Path, event_id: int) -> None:
    """Remove the business event ID, as `reviewkit events` lists it (the store's history keeps
    it: project.store.undo() in Python brings it back)."""
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    with user_errors(), open_project(project) as opened:
        say_who_records(opened)
        event = opened.store.remove_event(event_id)
    click.echo(f"removed event {event.id}: {event.title} ({_when(event)})")


def _when(event: BusinessEvent) -> str:
    return f"{event.start} to {event.end}" if event.end else f"on {event.start}"


def _pair(text: str) -> tuple[str, str]:
    dimension, equals, value = text.partition("=")
    if not (equals and dimension.strip() and value.strip()):
        raise click.BadParameter(
            f"{text!r} is not DIM=VALUE, e.g. team=growth", param_hint="--where"
        )
    return dimension.strip(), value.strip()


def _check_metrics(config: ProjectConfig, metrics: Sequence[str], option: str) -> None:
    """Refuse a metric the project does not declare, listing those it does."""
    known = list(config.metrics)
    for name in metrics:
        if name not in config.metrics:
            raise click.BadParameter(
                f"unknown metric {name!r}{suggest(name, known)}; the metrics are: "
                + ", ".join(known),
                param_hint=option,
            )


def _check_dimensions(
    config: ProjectConfig, metrics: Sequence[str], dimensions: Sequence[str]
) -> None:
    """Refuse a dimension the event's KPIs cannot be segmented by: each KPI named must have it
    in every source behind it (a segment it lacks could never be matched); without KPIs, some
    source must have it."""
    from reviewkit.config.model import base_sources  # noqa: PLC0415

    for dimension in dimensions:
        if not metrics:
            known = sorted({d for source in config.sources.values() for d in source.dimensions})
            if dimension not in known:
                raise click.BadParameter(
                    f"unknown dimension {dimension!r}{suggest(dimension, known)}; the sources' "
                    f"dimensions are: {', '.join(known) or 'none'}",
                    param_hint="--where",
                )
            continue
        for metric in metrics:
            sources = [config.sources[s] for s in sorted(base_sources(metric, config.metrics))]
            first = sources[0].dimensions if sources else ()
            shared = [d for d in first if all(d in s.dimensions for s in sources)]
            if dimension in shared:
                continue
            if not shared:
                why = f"KPI {metric!r} has no dimensions, so an event about it concerns the whole "
                why += "company: leave --where out"
            else:
                why = f"the dimensions of KPI {metric!r} are: {', '.join(shared)}"
            raise click.BadParameter(
                f"unknown dimension {dimension!r}{suggest(dimension, shared)}; {why}",
                param_hint="--where",
            )
