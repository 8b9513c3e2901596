"""One error hierarchy for reviewkit: every failure says what happened, where, and what to do.

Problems are collected first and raised once (like pandera's ``SchemaErrors``), so a user fixing a
config or an export sees every issue in one run, each as ``path:line[:col]: message``.
"""

from __future__ import annotations

import difflib
import os
import pwd
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

__all__ = [
    "ConfigError",
    "DataError",
    "Problem",
    "QueryError",
    "ReviewkitError",
    "permission_denied",
    "shown_path",
    "suggest",
]

#: How many problems an exception message lists before summarising the rest.
MAX_LISTED = 20


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config or an export, located as precisely as we can."""

    path: str
    message: str
    line: int | None = None
    col: int | None = None
    key: str | None = None
    severity: str = "error"

    def location(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return where

    def __str__(self) -> str:
        key = f"{self.key}: " if self.key else ""
        level = "warning: " if self.severity == "warning" else ""
        return f"{self.location()}: {level}{key}{self.message}"


class ReviewkitError(Exception):
    """Base of every error reviewkit raises on purpose; the message is meant for the user."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(message)

    @classmethod
    def from_problems(cls, headline: str, problems: Iterable[Problem]) -> Self:
        found = list(problems)
        lines = [str(p) for p in found[:MAX_LISTED]]
        if len(found) > MAX_LISTED:
            lines.append(f"... and {len(found) - MAX_LISTED} more (run `reviewkit check` for all)")
        return cls("\n".join([headline, *lines]), found)


class ConfigError(ReviewkitError):
    """``reviewkit.yaml`` is unreadable or invalid."""


class DataError(ReviewkitError):
    """An export could not be read as declared (bad rows, missing columns, wrong encoding...)."""


class QueryError(ReviewkitError):
    """A KPI or SQL request cannot be answered (unknown metric, dimension, period, bad SQL)."""


def shown_path(path: Path) -> str:
    """A path as users should see it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def permission_denied(exc: PermissionError, path: Path | None = None) -> ReviewkitError:
    """A clear error for a file or folder this process may not use (``exc.filename``, else
    ``path``): whose it is, which user reviewkit runs as, and what to do. A scheduled run as
    another user than the project's owner meets this first (docs/scheduling.md)."""
    named = exc.filename
    target = Path(os.fsdecode(named)) if isinstance(named, str | bytes) else path
    user = _user(os.geteuid())
    owner = None if target is None else _owner(target)
    where = "" if target is None else f": {shown_path(target)}"
    if owner is not None:
        where += f" ({owner[1]} belongs to {owner[0]}, {owner[2]})"
    return ReviewkitError(
        f"permission denied{where} to user {user}: the user running reviewkit must be able to "
        "read the project and to write its folder, reports/, .reviewkit/ and the store; give "
        f"them to {user} as docs/scheduling.md shows (systemd timer), or run reviewkit as "
        f"{owner[0] if owner else 'their owner'}"
    )


def _owner(path: Path) -> tuple[str, str, str] | None:
    """Who owns ``path``, or the folder it would be made in; that folder (in full: it may be
    the working folder) and its mode."""
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    try:
        info = existing.stat()
    except OSError:  # not even that can be looked at
        return None
    return _user(info.st_uid), str(existing.absolute()), stat.filemode(info.st_mode)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a name (a container's)
        return f"uid {uid}"


def suggest(word: str, valid: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest valid word, or nothing."""
    close = difflib.get_close_matches(word, valid, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
