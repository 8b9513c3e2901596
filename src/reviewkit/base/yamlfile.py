"""Read YAML written by hand and remember where every key and value came from.

PyYAML's composer gives each node its line and column; we keep them beside the plain Python data so
that every validation error can point at ``reviewkit.yaml:12:5``. Duplicate keys, which PyYAML
silently resolves to the last one, are reported instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reviewkit.base.errors import ConfigError, Problem, suggest

KeyPath = tuple[str | int, ...]


@dataclass
class Located:
    """Plain YAML data plus the (line, column) of every key path, both 1-based."""

    data: Any
    path: str
    lines: dict[KeyPath, tuple[int, int]] = field(default_factory=dict)
    #: Keys written twice in one mapping (PyYAML would silently keep the last).
    duplicates: list[Problem] = field(default_factory=list)

    def where(self, keypath: KeyPath) -> tuple[int, int]:
        """Line and column of ``keypath``, or of its nearest located ancestor."""
        for end in range(len(keypath), -1, -1):
            if keypath[:end] in self.lines:
                return self.lines[keypath[:end]]
        return (1, 1)


class Checker:
    """Walks :class:`Located` data, collecting every problem at its line (the config checks and
    the wbr-app reader build on it)."""

    def __init__(self, located: Located) -> None:
        self.located = located
        self.problems: list[Problem] = list(located.duplicates)

    def error(self, keypath: KeyPath, message: str) -> None:
        line, col = self.located.where(keypath)
        dotted = ".".join(str(k) for k in keypath) or None
        self.problems.append(Problem(self.located.path, message, line, col, dotted))

    def line(self, keypath: KeyPath) -> int:
        return self.located.where(keypath)[0]

    def mapping(
        self,
        value: Any,
        keypath: KeyPath,
        allowed: Sequence[str] | None = None,
        required: Sequence[str] = (),
    ) -> dict[Any, Any] | None:
        """``value`` if it is a mapping; ``allowed=None`` accepts any key (names), otherwise
        :meth:`unknown_keys` reports the others. A missing required key is an error."""
        if not isinstance(value, dict):
            self.error(keypath, f"expected a mapping of keys, got {kind(value)}")
            return None
        if allowed is not None:
            self.unknown_keys(value, keypath, allowed)
        for key in required:
            if key not in value:
                self.error(keypath, f"missing required key '{key}'")
        return value

    def unknown_keys(self, found: dict[Any, Any], keypath: KeyPath, allowed: Sequence[str]) -> None:
        """A key not in ``allowed`` is an error that says where it belongs when
        :meth:`belongs` knows, else names the closest valid key."""
        for key, value in found.items():
            if key not in allowed:
                belongs = self.belongs(keypath, str(key), value)
                hint = f" here; {belongs}" if belongs else suggest(str(key), allowed)
                self.error(
                    (*keypath, key),
                    f"unknown key{hint}; valid keys are: " + (", ".join(allowed) or "(none here)"),
                )

    def belongs(self, keypath: KeyPath, key: str, value: Any) -> str | None:
        """Where ``key`` (holding ``value``), unknown in the mapping at ``keypath``, belongs
        instead; None when no other place is known."""
        return None


def kind(value: Any) -> str:
    """What a YAML value is, for a message: "text 'x'", "a list", "nothing"."""
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"text {value!r}"
    if isinstance(value, bool):
        return f"true/false ({value})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def load_yaml(path: Path, shown_as: str) -> Located:
    """Parse ``path``; raise :class:`ConfigError` on unreadable files and syntax errors.

    Duplicate keys do not raise: they are returned in ``duplicates`` for the caller to report
    with every other problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{shown_as}: no such file; create it (`reviewkit init DIR`) or pass --project"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown_as}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        what = str(exc.problem or exc)
        tab = "'\\t'" in what  # "found character '\\t' that cannot start any token"
        fix = (
            "indent with spaces, not tabs" if tab else "check the brackets, quotes and indentation"
        )
        problem = Problem(shown_as, f"YAML syntax error: {what}; {fix}", line, col)
        raise ConfigError.from_problems("reviewkit.yaml cannot be parsed:", [problem]) from None
    except yaml.reader.ReaderError as exc:  # a control character, found before any parsing
        start = text.rfind("\n", 0, exc.position) + 1
        problem = Problem(
            shown_as,
            f"the character {exc.character:#06x} is not allowed in YAML; delete it",
            text.count("\n", 0, exc.position) + 1,
            exc.position - start + 1,
        )
        raise ConfigError.from_problems("reviewkit.yaml cannot be parsed:", [problem]) from None
    located = Located(None, shown_as)
    located.data = _convert(node, (), located, located.duplicates) if node is not None else {}
    return located


def _convert(node: yaml.Node, keypath: KeyPath, out: Located, problems: list[Problem]) -> Any:
    out.lines.setdefault(keypath, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(key_node)
            if not isinstance(key, str | int):
                key = str(key)
            child = (*keypath, key)
            line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
            if key in result:
                dotted = ".".join(str(k) for k in child)
                first = out.lines[child][0]
                problems.append(
                    Problem(
                        out.path,
                        f"duplicate key (first defined on line {first}); keep one of them",
                        line,
                        col,
                        dotted,
                    )
                )
                continue
            out.lines[child] = (line, col)
            result[key] = _convert(value_node, child, out, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*keypath, i), out, problems) for i, item in enumerate(node.value)]
    return _construct(node)


def _construct(node: yaml.Node) -> Any:
    """A scalar's value; one YAML cannot build (a date like 2026-02-30, a stray ``=``) stays its
    text, for the config checks to refuse where they expect something else."""
    try:
        return yaml.SafeLoader(" ").construct_object(node, deep=True)
    except (yaml.constructor.ConstructorError, ValueError, OverflowError):
        return str(node.value)
