"""`reviewkit check`: validate the config and every export."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.cli.common import project_option


@click.command()
@project_option
def check(project: Path) -> None:
    """Validate reviewkit.yaml and read every export as declared.

    Prints one `path:line[:col]: message` line per problem and exits 1 when there is an error;
    exits 0 when clean (warnings, such as quarantined rows, are printed but do not fail).
    """
    from reviewkit.check import check_project  # noqa: PLC0415 (keep --help fast)

    problems = check_project(project)
    errors = [p for p in problems if p.severity == "error"]
    for problem in problems:
        click.echo(str(problem))
    if errors:
        click.echo(f"{len(errors)} error(s); fix them and run `reviewkit check` again", err=True)
        raise SystemExit(1)
    warnings = len(problems) - len(errors)
    click.echo("ok: project is valid" + (f" ({warnings} warning(s))" if warnings else ""), err=True)
