"""Plain-text tables, as the command line prints them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_table", "with_margin"]


def with_margin(row: Mapping[str, Any], answers: str = "") -> str:
    """A scorecard row's value text, for a survey metric with its 95% margin and the answers
    behind it: ``25 ±10.8 (194)``, ``46.0% ±3.5 pp (796)`` (in a sentence, with
    ``answers=" answers"``: ``25 ±10.8 (194 answers)``); other values as they are."""

    def number(key: str) -> float | None:
        value = row.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return float(value)

    low, high, count = number("low"), number("high"), number("responses")
    if low is None or high is None or count is None or number("value") is None:
        return str(row["text"])
    half = (high - low) / 2
    margin = {
        "pp": f"{100 * half:.1f} pp",
        "bps": f"{10_000 * half:.0f} bps",
    }.get(str(row["change_unit"]), f"{half:.1f}")
    return f"{row['text']} ±{margin} ({int(count):,}{answers})"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: int = 1) -> str:
    """A plain text table; columns from index ``right`` on are right-aligned (numbers)."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        out = [
            str(c).rjust(w) if i >= right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])
