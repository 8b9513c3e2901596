"""`reviewkit sql`: explore the declared sources with SQL."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.cli.common import format_option, project_option, user_errors


@click.command()
@project_option
@click.argument("query")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="VALUE",
    help="A value for the next `?` in QUERY (repeatable); values are bound, never "
    "pasted into the SQL.",
)
@format_option
@click.option(
    "--limit", type=int, default=50, show_default=True, help="Rows shown in table format (0: all)."
)
def sql(project: Path, query: str, params: tuple[str, ...], fmt: str, limit: int) -> None:
    """Run QUERY over the project's sources; each source is a view named after it.

    Example: reviewkit sql "SELECT team, avg(csat) FROM tickets WHERE channel = ? GROUP BY 1"
    --param chat
    """
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    with user_errors(), open_project(project) as proj:
        frame = proj.sql(query, list(params))
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", indent=2))
    else:
        shown = frame if limit <= 0 else frame.head(limit)
        click.echo(shown.to_string(index=False))
        if len(shown) < len(frame):
            click.echo(
                f"({len(frame)} rows; showing {len(shown)}, use --limit 0 for all)", err=True
            )
