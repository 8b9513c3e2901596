"""The generated reference pages: ``docs/reference/cli.md`` from the click commands, and
``docs/reference/config.md`` from the table of keys (:mod:`reviewkit.config.reference`).

``python -m reviewkit.cli.reference docs/reference`` (`make docs`) writes both from their
templates (``cli.md.in``, ``config.md.in`` beside them); ``--check`` writes nothing and exits 1
when a page is stale. Each command's reference is its ``--help`` at a fixed width, as Datasette's
CLI reference is.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import click

from reviewkit.cli import main
from reviewkit.config.reference import config_reference

__all__ = ["PAGES", "cli_reference", "commands", "pages", "write"]

#: Where the template takes the reference of every command.
PLACEHOLDER: Final = "{{ commands }}"
#: The width help texts are wrapped at, whatever the terminal.
WIDTH: Final = 100


def _banner(page: str) -> str:
    return (
        f"<!-- Generated from {page}.in by `make docs` (python -m reviewkit.cli.reference "
        "docs/reference): do not edit; edit the template, the click commands or the table of "
        "keys (src/reviewkit/config/keys.py) and run make docs. -->\n\n"
    )


def commands(
    command: click.Command = main, parent: click.Context | None = None, name: str = "reviewkit"
) -> Iterator[tuple[str, click.Context]]:
    """Every command and subcommand (the group first, then its commands in the order they were
    added), each with the context its help is written in."""
    settings = {"terminal_width": WIDTH, "max_content_width": WIDTH, **command.context_settings}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    yield ctx.command_path, ctx
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            if not sub.hidden:
                yield from commands(sub, ctx, sub_name)


def cli_reference(template: str) -> str:
    """The command-line page: ``template`` with :data:`PLACEHOLDER` replaced by each command's
    ``--help``."""
    if template.count(PLACEHOLDER) != 1:
        raise ValueError(f"the command-line page's template must hold {PLACEHOLDER} once")
    parts = []
    for path, ctx in commands():
        level = "####" if path.count(" ") > 1 else "###"
        help_text = ctx.command.get_help(ctx)
        parts.append(f"{level} `{path}`\n\n```\n{help_text}\n```\n")
    return template.replace(PLACEHOLDER, "\n".join(parts).rstrip("\n"))


#: Each generated page: its file name and how it is written from its template.
PAGES: Final[dict[str, Callable[[str], str]]] = {
    "cli.md": cli_reference,
    "config.md": config_reference,
}


def pages(folder: Path) -> dict[Path, str]:
    """Each page of ``folder`` (docs/reference) as generated from its template there."""
    out = {}
    for name, render in PAGES.items():
        template = (folder / f"{name}.in").read_text(encoding="utf-8")
        out[folder / name] = _banner(name) + render(template)
    return out


def write(folder: Path, *, check: bool = False) -> list[Path]:
    """Write the pages of ``folder``; with ``check``, only return those that differ."""
    stale = []
    for path, text in pages(folder).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    return stale


if __name__ == "__main__":
    arguments = sys.argv[1:]
    checking = "--check" in arguments
    folders = [a for a in arguments if a != "--check"]
    if len(folders) != 1:
        sys.exit("usage: python -m reviewkit.cli.reference [--check] docs/reference")
    changed = write(Path(folders[0]), check=checking)
    for page in changed:
        print(f"{page} is stale: run make docs" if checking else f"wrote {page}")
    sys.exit(1 if checking and changed else 0)
