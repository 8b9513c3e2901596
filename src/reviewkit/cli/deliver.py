"""`reviewkit deliver`: send published reviews again, only what has not reached people yet."""

from __future__ import annotations

from pathlib import Path

import click

from reviewkit.cli.common import project_option


@click.command()
@project_option
@click.option("--period", required=True, help="The published period (YYYY-MM).")
@click.option(
    "--review",
    "reviews",
    multiple=True,
    metavar="NAME",
    help="This review (a team, or company; repeatable); default: every review published for "
    "the period.",
)
def deliver(project: Path, period: str, reviews: tuple[str, ...]) -> None:
    """Send the published reviews of PERIOD as `delivery:` in reviewkit.yaml says, skipping
    each recipient and webhook that already has the review as published (nothing is sent twice
    and no review runs again). The exit status is 1 if a message could not be sent after its
    tries; run it again later to send the rest."""
    from reviewkit.cli.report import deliver_reviews  # noqa: PLC0415 (keep --help fast)

    folder = project / "reports" / period
    chosen = list(reviews) or sorted(page.stem for page in folder.glob("*.html"))
    if not chosen:
        raise click.ClickException(
            f"nothing is published for {period} in {folder}: run `reviewkit report --period "
            f"{period}` first"
        )
    failed = deliver_reviews(project, period, folder, chosen)
    if failed:
        raise click.ClickException("\n".join(["some messages were not delivered:", *failed]))
