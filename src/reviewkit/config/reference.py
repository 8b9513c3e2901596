"""``docs/reference/config.md``, written from the table of keys (:mod:`reviewkit.config.keys`).

The page is its template (``docs/reference/config.md.in``: the annotated reviewkit.yaml and the
prose on how exports are read) with ``{{ keys }}`` replaced by one table per section: each key,
its type, its default and what it does. `make docs` (``python -m reviewkit.cli.reference``)
writes it; a test fails when the committed page differs.
"""

from __future__ import annotations

from typing import Final

from reviewkit.config.keys import KEYS, SECTIONS

__all__ = ["PLACEHOLDER", "config_reference", "key_reference"]

#: Where the template takes the reference of every key.
PLACEHOLDER: Final = "{{ keys }}"


def _cell(text: str, *, code: bool = False) -> str:
    """``text`` in a markdown table's cell: a pipe escaped, as a code span when ``code``."""
    if not text:
        return ""
    escaped = text.replace("|", "\\|")
    return f"`{escaped}`" if code else escaped


def key_reference() -> str:
    """Every key of reviewkit.yaml, a table per section, in the table's order."""
    parts = []
    for section in SECTIONS.values():
        keys = [key for key in KEYS if key.section == section.name]
        options = section.name == "sources.options"
        parts.append(f"### `{section.where}`\n\n{section.help}\n")
        head = "| Key | Type | Default | What it does |"
        rule = "| --- | --- | --- | --- |"
        if options:
            head, rule = head + " Formats |", rule + " --- |"
        rows = [head, rule]
        for key in keys:
            cells = [
                _cell(key.name, code=True),
                _cell(key.type),
                # a value as written in YAML in code, a description of one ("the folder's
                # name") as text
                _cell(key.default, code=key.default != "required" and " " not in key.default),
                _cell(key.help),
            ]
            if options:
                cells.append(", ".join(key.formats))
            rows.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def config_reference(template: str) -> str:
    """The config page: ``template`` with :data:`PLACEHOLDER` replaced by :func:`key_reference`."""
    if template.count(PLACEHOLDER) != 1:
        raise ValueError(f"the config page's template must hold {PLACEHOLDER} once")
    return template.replace(PLACEHOLDER, key_reference().rstrip("\n"))
