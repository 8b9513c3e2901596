"""Who saves: the name a change is recorded under, found in what the environment knows.

:func:`find_author` looks, in this order, at a name given in code (a project's ``actor``),
``$REVIEWKIT_USER``, ``user:`` in reviewkit.yaml, JupyterHub's ``$JUPYTERHUB_USER``, and ``git
config user.name`` read in the project's folder (with ``user.email`` when there is one: "Ana Lima
<ana@example.com>"); only then at the OS user. "root" names nobody: it is passed over wherever it
is found, and when the OS user is all that is left and it is root (or there is no OS user), the
:class:`Author` found is no person (:attr:`Author.person` is False). The widgets refuse to save
under it (:meth:`Author.required`); the commands record it and print :attr:`Author.warning`.

This is the only place that decides who saves: the store's default actor, the project's and the
widgets' all come from :func:`find_author`.

>>> find_author(folder=project.root).name
'Ana Lima <ana@example.com>'
"""

from __future__ import annotations

import getpass
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from reviewkit.base.errors import ReviewkitError

__all__ = ["HOW_TO_NAME", "HUB_USER_ENV", "USER_ENV", "Author", "NoAuthor", "find_author"]

#: The variable that names whoever saves, over everything but a name given in code.
USER_ENV: Final = "REVIEWKIT_USER"
#: The variable JupyterHub sets in each person's server.
HUB_USER_ENV: Final = "JUPYTERHUB_USER"
#: Seconds ``git config`` may take before the name is looked for elsewhere.
GIT_TIMEOUT: Final = 3.0
#: Names that stand for no person: skipped wherever they are found.
NOBODY: Final = frozenset({"root"})
#: Where each name comes from, as messages and the widgets say it.
GIVEN: Final = "project.actor"
FROM_ENV: Final = USER_ENV
FROM_CONFIG: Final = "user: in reviewkit.yaml"
FROM_HUB: Final = HUB_USER_ENV
FROM_GIT: Final = "git config user.name"
FROM_OS: Final = "the OS user"
#: What to do when no name is found, the end of every message that says so.
HOW_TO_NAME: Final = (
    'set REVIEWKIT_USER (export REVIEWKIT_USER="Ana Lima"), add `user: Ana Lima` to '
    'reviewkit.yaml, or run git config --global user.name "Ana Lima"'
)


class NoAuthor(ReviewkitError):
    """Nothing names the person saving: only the OS user root (or no OS user at all)."""


@dataclass(frozen=True)
class Author:
    """A name to record changes under, and where it was found (:data:`FROM_GIT`...)."""

    name: str
    source: str
    #: False when only the OS user was found and it is root (or there is none): a change
    #: recorded under it says nothing about who made it
    person: bool = True

    @property
    def warning(self) -> str:
        """What is wrong when this is no :attr:`person` ("" when it is one)."""
        if self.person:
            return ""
        return (
            f"recorded as {self.name!r}, the OS user, which says nothing about who made the "
            f"change: to record your name, {HOW_TO_NAME}"
        )

    def required(self, doing: str = "save") -> str:
        """The name, or :class:`NoAuthor` saying how to set one when this is no person."""
        if not self.person:
            raise NoAuthor(
                f"not saved: reviewkit will not {doing} as {self.name!r} (the OS user), which "
                f"says nothing about who you are; {HOW_TO_NAME}, then try again"
            )
        return self.name


def find_author(
    given: str | None = None,
    *,
    configured: str | None = None,
    folder: Path | None = None,
    given_as: str = GIVEN,
) -> Author:
    """Who saves: ``given`` (a name set in code, said to come from ``given_as``), else
    ``$REVIEWKIT_USER``, else ``configured`` (``user:`` in reviewkit.yaml), else
    ``$JUPYTERHUB_USER``, else git's ``user.name`` (and ``user.email``) as read in ``folder``
    (default: the current one), else the OS user. "root" is passed over at every step but the
    last."""
    for name, source in (
        (given, given_as),
        (os.environ.get(USER_ENV), FROM_ENV),
        (configured, FROM_CONFIG),
        (os.environ.get(HUB_USER_ENV), FROM_HUB),
    ):
        if name and name.strip() and not _nobody(name):
            return Author(name.strip(), source)
    from_git = _git_name(folder)
    if from_git:
        return Author(from_git, FROM_GIT)
    try:
        user = getpass.getuser()  # $LOGNAME, $USER..., else the password database's
    except (KeyError, OSError):  # a container's user may have no entry
        return Author("unknown", FROM_OS, person=False)
    return Author(user or "unknown", FROM_OS, person=bool(user) and not _nobody(user))


def _nobody(name: str) -> bool:
    return name.strip().casefold() in NOBODY


def _git_name(folder: Path | None) -> str | None:
    """``git config user.name`` as git reads it in ``folder`` (the repository's, the user's and
    the system's config), with ``<user.email>`` after it when set; None when git is missing,
    slow, fails, or names nobody."""
    try:
        found = subprocess.run(
            ["git", "config", "--get-regexp", r"^user\.(name|email)$"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    values: dict[str, str] = {}
    for line in found.stdout.splitlines():  # the last value of a key is git's
        key, _, value = line.partition(" ")
        if value.strip():
            values[key.casefold()] = value.strip()
    name = values.get("user.name")
    if not name or _nobody(name):
        return None
    email = values.get("user.email")
    return f"{name} <{email}>" if email else name
