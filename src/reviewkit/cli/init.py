"""`reviewkit init`: scaffold a new review project."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.cli.common import user_errors


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--example", is_flag=True, help="Fill the project with the sample company's config and exports."
)
def init(directory: Path, example: bool) -> None:
    """Create a review project in DIRECTORY (a reviewkit.yaml to fill in, and data/)."""
    from reviewkit.scaffold import init_project  # noqa: PLC0415 (keep --help fast)

    with user_errors():
        written = init_project(directory, example=example)
    for path in written:
        click.echo(f"created {path}")
    click.echo(f"next: edit {directory / 'reviewkit.yaml'}, then `reviewkit check -p {directory}`")
