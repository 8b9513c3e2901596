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

jobs_option: Callable[[F], F] = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Reviews run at once (one kernel each); default: the number of CPUs.",
)


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
