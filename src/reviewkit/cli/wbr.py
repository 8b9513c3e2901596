"""`reviewkit wbr`: wbr-app's numbers from its config and daily CSV, with reviewkit's flags."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from reviewkit.cli.common import user_errors
from reviewkit.present.text import render_table

#: Box-total columns of the text table, in wbr-app's order, each naming what it compares.
BOX_HEADERS = (
    "last wk",
    "WoW",
    "last wk YoY",
    "MTD",
    "MTD YoY",
    "QTD",
    "QTD YoY",
    "YTD",
    "YTD YoY",
)
CHANGE_COLUMNS = (1, 2, 4, 6, 8)


@click.command()
@click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--data",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The daily CSV: a Date column plus the metric columns.",
)
@click.option(
    "--week-ending",
    metavar="DD-MON-YYYY",
    help="Week ending such as 25-SEP-2021; overrides setup.week_ending (default: that, else the "
    "latest date in the data).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON array with an object per metric."
)
def wbr(config: Path, data: Path, week_ending: str | None, as_json: bool) -> None:
    """Compute a wbr-app CONFIG (YAML) the way wbr-app does: six weeks, twelve months and box
    totals per metric, this year and last, plus flags for what those numbers hide.

    Example: reviewkit wbr wbr.yaml --data daily.csv --week-ending 25-SEP-2021 --json
    """
    from reviewkit.metrics.wbr_app import (  # noqa: PLC0415 (keep --help fast)
        compute_wbr,
        load_wbr_config,
        parse_week_ending,
    )

    with user_errors():
        day = None if week_ending is None else parse_week_ending(week_ending, "--week-ending")
        parsed = load_wbr_config(config)
        # On stderr, so that --json output stays one parseable document.
        for warning in parsed.warnings:
            click.echo(str(warning), err=True)
        results = compute_wbr(parsed, data, day)
    if as_json:
        click.echo(json.dumps(results, indent=2, allow_nan=False))
        return
    bps = {m.name for m in parsed.metrics if m.bps}
    click.echo(_table(results, bps))
    for result in results:
        for flag in result["flags"]:
            click.echo(f"{result['metric']}: {flag}")
    for result in results:  # wbr-app's "Noteworthy Events" under the metric's charts
        for note in result["annotations"]:
            click.echo(
                f"{result['metric']}: noteworthy event {note['date']}: {note['description']}"
            )


def _table(results: Sequence[dict[str, Any]], bps: set[str]) -> str:
    """The box totals, one row per metric; changes as percent, or bps where configured."""
    from reviewkit.metrics.catalogue import format_change  # noqa: PLC0415 (keep --help fast)

    rows = []
    for result in results:
        cells = [result["metric"]]
        for i, value in enumerate(result["box_totals"]):
            if value is None:
                cells.append("n/a")
            elif i not in CHANGE_COLUMNS:
                cells.append(_amount(value))
            elif result["metric"] in bps:
                cells.append(format_change(value, " bps", 0))
            else:
                cells.append(format_change(value, "%", 1))
        rows.append(cells)
    return render_table(["metric", *BOX_HEADERS], rows)


def _amount(value: float) -> str:
    if value == 0 or abs(value) >= 100 or math.isclose(value, round(value)):
        return f"{value:,.0f}"
    return f"{value:.4g}"
