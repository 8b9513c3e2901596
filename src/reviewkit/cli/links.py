"""`reviewkit links`: move links and check-ins between the store and files you review in git."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.cli.common import project_option, say_who_records, user_errors


@click.group()
def links() -> None:
    """Export or import links and check-ins (YAML, or CSV with a .checkins.csv beside it)."""


@links.command("export")
@project_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export(project: Path, file: Path) -> None:
    """Write every live link and check-in to FILE (.yaml, .yml or .csv)."""
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    with user_errors(), open_project(project) as proj:
        written = proj.export_links(file)
    click.echo("wrote " + ", ".join(str(p) for p in written))


@links.command("import")
@project_option
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def import_(project: Path, file: Path) -> None:
    """Load links and check-ins from FILE (all or nothing; unchanged rows are skipped)."""
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    with user_errors(), open_project(project) as proj:
        say_who_records(proj)
        result = proj.import_links(file)
    click.echo(f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged")
