"""`reviewkit alerts`: check the alert rules of reviewkit.yaml after a data refresh."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.cli.common import project_option, user_errors


@click.command()
@project_option
@click.option("--check", is_flag=True, required=True, help="Evaluate every rule now.")
def alerts(project: Path, check: bool) -> None:
    """Evaluate the `alerts:` rules of reviewkit.yaml (run it after each data refresh, e.g.
    from the ETL job or cron) and send each alert that fires: once per change, by email and
    chat as `delivery:` says. The exit status is 1 if an alert could not be sent; it is tried
    again at the next check."""
    from reviewkit.project import open_project  # noqa: PLC0415
    from reviewkit.publish.alerts import check_alerts  # noqa: PLC0415 (keep --help fast)

    with user_errors(), open_project(project) as opened:
        if not opened.config.alerts:
            raise click.ClickException("reviewkit.yaml has no `alerts:` rules to check")
        fired = check_alerts(opened)
    for alert in fired:
        how = "sent" if alert.sent else f"NOT SENT ({alert.error})"
        click.echo(f"{alert.alert}: {alert.message} — {alert.url} [{how}]")
    if not fired:
        click.echo("no alert fired: nothing changed since the last check")
    if any(not alert.sent for alert in fired):
        raise click.ClickException("some alerts could not be sent; they fire again next check")
