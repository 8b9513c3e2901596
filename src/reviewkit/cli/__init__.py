"""The `reviewkit` command line: a thin layer over the library, one module per command.

Library errors (:class:`reviewkit.base.errors.ReviewkitError`) become CLI errors only here: a
message on stderr and exit status 1, never a traceback.
"""

from __future__ import annotations

import click

from reviewkit.cli.alerts import alerts
from reviewkit.cli.check import check
from reviewkit.cli.cohorts import cohorts
from reviewkit.cli.deliver import deliver
from reviewkit.cli.events import events
from reviewkit.cli.explain import explain
from reviewkit.cli.init import init
from reviewkit.cli.kpis import kpis
from reviewkit.cli.links import links
from reviewkit.cli.outcomes import outcomes
from reviewkit.cli.report import report
from reviewkit.cli.sample import sample
from reviewkit.cli.schedule import schedule
from reviewkit.cli.serve import serve
from reviewkit.cli.sql import sql
from reviewkit.cli.store import store
from reviewkit.cli.users import users
from reviewkit.cli.wbr import wbr


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reviewkit")
def main() -> None:
    """reviewkit: monthly reviews about outcomes, from the KPI exports you already have."""


for command in (
    check,
    kpis,
    cohorts,
    explain,
    outcomes,
    links,
    events,
    store,
    users,
    report,
    deliver,
    alerts,
    schedule,
    serve,
    sql,
    wbr,
    init,
    sample,
):
    main.add_command(command)

__all__ = ["main"]
