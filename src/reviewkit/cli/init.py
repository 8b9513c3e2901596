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
    """Create a review project in DIRECTORY: a commented reviewkit.yaml with one example of
    each part (a source, a metric, an outcome with a target, the outputs), a tiny example of
    each export in data/ and a links.yaml, so that `reviewkit check` passes at once."""
    from reviewkit.scaffold.starter import init_project  # noqa: PLC0415 (keep --help fast)

    with user_errors():
        written = init_project(directory, example=example)
    for path in written:
        click.echo(f"created {path}")
    if example:
        click.echo(f"next: `reviewkit check -p {directory}`")
    else:
        click.echo(
            f"next: `reviewkit check -p {directory}`; then put your exports in "
            f"{directory / 'data'} and change {directory / 'reviewkit.yaml'} to match (its "
            "comments say what each key is for; README.md: Your own data in 15 minutes)"
        )
