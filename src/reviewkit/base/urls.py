"""Database addresses as users write them: which are PostgreSQL URLs, and how they are shown
(never with their password)."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

__all__ = ["has_password", "is_url", "shown_url"]


def is_url(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def has_password(url: str) -> bool:
    """Whether the PostgreSQL address ``url`` carries a password (a secret)."""
    return urllib.parse.urlsplit(url).password is not None


def shown_url(url: str) -> str:
    """``url`` as shown in messages and logs: its password, if any, replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
