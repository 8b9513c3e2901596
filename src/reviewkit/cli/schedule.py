"""`reviewkit schedule`: run the monthly reports on a cron schedule, catching up after downtime."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.base.cron import parse_cron
from reviewkit.cli.common import jobs_option, project_option, user_errors


@click.command()
@project_option
@click.option(
    "--cron",
    "expression",
    default=None,
    metavar="EXPR",
    help="When to run: minute hour day-of-month month day-of-week, e.g. '0 6 2 * *' "
    "(06:00 on the 2nd); each run reports on the month before. Default: `schedule:` in "
    "reviewkit.yaml.",
)
@click.option(
    "--once",
    is_flag=True,
    help="Run what is due now (missed runs included) and exit, instead of running forever.",
)
@jobs_option
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Publish a month none of whose outcomes has data (its review says so); without it "
    "that run fails, naming the latest month with data.",
)
def schedule(
    project: Path, expression: str | None, once: bool, jobs: int | None, allow_empty: bool
) -> None:
    """Run `reviewkit report --period last-month --all-teams` on a cron schedule. Runs missed
    while the scheduler was down are caught up (the latest one per month); every run is
    recorded in .reviewkit/schedule.json so none runs twice, even across restarts."""
    from reviewkit.publish.schedule import run_schedule  # noqa: PLC0415 (keep --help fast)

    with user_errors():
        if expression is None:
            from reviewkit.config import load_config  # noqa: PLC0415

            expression = load_config(project).schedule
        if expression is None:
            raise click.UsageError(
                'no schedule: add `schedule: "0 6 2 * *"` to reviewkit.yaml or pass --cron'
            )
        cron = parse_cron(expression)
        if not once:
            click.echo(f"scheduler started: {cron.text}; Ctrl-C stops it")
        runs = run_schedule(
            project, cron.text, once=once, jobs=jobs, progress=click.echo, allow_empty=allow_empty
        )
    if not runs:
        click.echo("nothing due")
    failed = [run for run in runs if not run.ok]
    if failed:
        lines = [
            f"{run.period}: {run.error or 'failed: ' + ', '.join(run.failed)}" for run in failed
        ]
        raise click.ClickException("\n".join(["scheduled run(s) failed:", *lines]))
