"""What the commands share: the --project option and turning library errors into CLI errors."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from reviewkit.base.errors import ReviewkitError, permission_denied

F = TypeVar("F", bound=Callable[..., Any])

project_option: Callable[[F], F] = click.option(
    "--project",
    "-p",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=".",
    help="Project directory (the folder with reviewkit.yaml).",
)

#: ``--format table | csv | json``: how a command prints what it found
format_option: Callable[[F], F] = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)


def filter_option(
    help: str = "Keep rows where DIM is VALUE (repeatable; repeat a DIM for several values).",
) -> Callable[[F], F]:
    """``--filter DIM=VALUE``, repeatable (parsed by ``present.kpis.parse_filters``)."""
    return click.option("--filter", "filters", multiple=True, metavar="DIM=VALUE", help=help)


jobs_option: Callable[[F], F] = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Reviews run at once (one kernel each); default: the number of CPUs.",
)


def say_who_records(opened: Any) -> None:
    """Before a command records a change in ``opened``'s store: when the only name found is the
    OS user root, say so on stderr, with how to set a name (the change is still recorded, as
    root: scripts, cron and containers run commands as root; the widgets, where a person is at
    the keyboard, refuse instead)."""
    found = opened.author()
    if not found.person:
        click.echo(f"warning: {found.warning}", err=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Show a ReviewkitError as its message on stderr with exit status 1, and a file or folder
    reviewkit may not use as what to do about it (never a traceback)."""
    try:
        yield
    except ReviewkitError as exc:
        raise click.ClickException(str(exc)) from None
    except PermissionError as exc:
        raise click.ClickException(str(permission_denied(exc))) from None
