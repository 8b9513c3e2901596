"""`reviewkit users`: the people who sign in to the live pages with a token of their own."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.cli.common import project_option, say_who_records, user_errors


@click.group()
def users() -> None:
    """People who sign in to `reviewkit serve --sign-in people` with their own token."""


@users.command("add")
@project_option
@click.argument("name")
@click.option("--email", default=None, help="Their email (an outcome's owner: may name it).")
@click.option(
    "--role",
    type=click.Choice(["viewer", "contributor"]),
    default="contributor",
    show_default=True,
    help="viewer: reads; contributor: also links outputs and checks in.",
)
def add(project: Path, name: str, email: str | None, role: str) -> None:
    """Let NAME sign in; prints their token once (the store keeps only its hash): hand it to
    them, and they open the pages with ?token=TOKEN once."""
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    with user_errors(), open_project(project) as opened:
        say_who_records(opened)
        token = opened.store.add_person(name, email=email, role=role)
    click.echo(f"{name} ({role}) can sign in with this token, shown only now:")
    click.echo(token)


@users.command("list")
@project_option
def list_(project: Path) -> None:
    """Everyone who can sign in."""
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    with user_errors(), open_project(project) as opened:
        people = opened.store.people()
    for person in people:
        email = f" <{person.email}>" if person.email else ""
        click.echo(f"{person.name}{email}: {person.role}, added {person.added_at:%Y-%m-%d}")
    if not people:
        click.echo("nobody yet: reviewkit users add NAME")


@users.command("remove")
@project_option
@click.argument("name")
def remove(project: Path, name: str) -> None:
    """Stop NAME's token from signing in (what they saved stays theirs)."""
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    with user_errors(), open_project(project) as opened:
        say_who_records(opened)
        opened.store.remove_person(name)
    click.echo(f"{name} can no longer sign in")
