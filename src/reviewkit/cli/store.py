"""`reviewkit store`: the store of links, check-ins and reviews, between SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.cli.common import project_option, user_errors


@click.group()
def store() -> None:
    """The store of links, check-ins, outputs and reviews (a SQLite file or PostgreSQL)."""


@store.command("migrate")
@project_option
@click.option(
    "--from",
    "source",
    metavar="STORE",
    help="The store to copy: a SQLite file or a postgresql:// address; default: the project's "
    "(REVIEWKIT_STORE, else store: in reviewkit.yaml).",
)
@click.option(
    "--to",
    "target",
    metavar="STORE",
    required=True,
    help="Where to copy it: a new SQLite file, or a postgresql:// database without a store. "
    "Give the password in PGPASSWORD, not in the address (it would show in the process list).",
)
def migrate(project: Path, source: str | None, target: str) -> None:
    """Copy every event of a store (ids, times and authors kept) into another, in one
    transaction, then check the copy: its log replays to its tables, its events equal the
    source's and its links and check-ins export the same. The source is only read; stop
    `reviewkit serve` and scheduled runs while it is copied. Then point the project at the copy
    (store: in reviewkit.yaml, or REVIEWKIT_STORE)."""
    from reviewkit.base.urls import is_url  # noqa: PLC0415
    from reviewkit.config import load_config  # noqa: PLC0415 (keep --help fast)
    from reviewkit.store.files import migrate_store  # noqa: PLC0415

    def location(text: str) -> Path | str:
        return text if is_url(text) else Path(text)

    with user_errors():
        origin = location(source) if source else load_config(project).store_location
        done = migrate_store(origin, location(target))
    click.echo(
        f"copied {done.events} events ({done.links} links, {done.checkins} check-ins) into "
        f"{done.target}; checked: the log replays to the tables, and the events and the "
        "exported links and check-ins equal the source's"
    )
