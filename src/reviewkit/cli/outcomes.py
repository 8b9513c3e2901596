"""`reviewkit outcomes`: each outcome's KPI against its target, and the status the numbers
propose for the review."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from reviewkit.cli.common import project_option, user_errors
from reviewkit.present.text import render_table


@click.command()
@project_option
@click.option(
    "--period",
    default="latest",
    show_default=True,
    help="Review period (YYYY-MM, latest, last-month, ...).",
)
@click.option("--team", default=None, help="Only this team's outcomes.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
def outcomes(project: Path, period: str, team: str | None, fmt: str) -> None:
    """List the outcomes: KPI value, change, target to date and proposed status."""
    from reviewkit.project import open_project  # noqa: PLC0415 (keep --help fast)

    with user_errors(), open_project(project) as proj:
        card = proj.outcome_scorecard(period, team=team)
    if card.empty:
        click.echo("no outcomes declared (add `outcomes:` to reviewkit.yaml)", err=True)
        return
    if fmt == "json":
        columns = [
            "outcome",
            "title",
            "team",
            "owner",
            "parent",
            "metric",
            "period",
            "value",
            "text",
            "previous_change_text",
            "target",
            "target_text",
            "status",
            "status_reason",
            "flags",
        ]
        rows = card[columns].astype(object).where(card[columns].notna(), None)
        click.echo(json.dumps(rows.to_dict("records"), indent=2, default=str))
        return
    table = [
        [
            "  " * depth + row["outcome"],
            row["team"] or "company",
            row["text"],
            row["previous_change_text"].split(" (")[0],
            row["target_text"],
            row["status"],
        ]
        for depth, row in _as_tree(card)
    ]
    click.echo(f"Outcomes · {card.iloc[0]['period']}")
    click.echo(
        render_table(["outcome", "team", "value", "change", "target", "status"], table, right=2)
    )


def _as_tree(card: Any) -> list[tuple[int, dict[str, Any]]]:
    """The scorecard's rows (what needs a decision first) with their depth, each outcome's
    children right under it in the same order (a child whose parent is not shown is a root)."""
    rows = card.to_dict("records")
    shown = {row["outcome"] for row in rows}
    ordered: list[tuple[int, dict[str, Any]]] = []

    def add(row: dict[str, Any], depth: int) -> None:
        ordered.append((depth, row))
        for child in rows:
            if child["parent"] == row["outcome"]:
                add(child, depth + 1)

    for row in rows:
        if row["parent"] not in shown:
            add(row, 0)
    return ordered
