"""`reviewkit report`: run the monthly review notebook per team and publish it as HTML (or PDF)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reviewkit.cli.common import jobs_option, project_option, user_errors
from reviewkit.cli.progress import ProgressDisplay
from reviewkit.publish.report.pdf import find_chromium, print_pdf

if TYPE_CHECKING:
    from reviewkit.publish.report import ReportRun, TeamResult


@click.command()
@project_option
@click.option(
    "--period",
    default=None,
    help="YYYY-MM, last-month (relative to today) or latest (the latest complete month).",
)
@click.option(
    "--team",
    "teams",
    multiple=True,
    metavar="NAME",
    help="This team's review (repeatable); default: the company-wide review only.",
)
@click.option(
    "--all-teams",
    is_flag=True,
    help="Every team that owns an outcome, and the company-wide review.",
)
@jobs_option
@click.option(
    "--executor",
    default="local",
    show_default=True,
    metavar="local|dask://HOST:PORT",
    help="Where the reviews run: kernels on this machine (--jobs at once), or the workers of "
    "the Dask cluster whose scheduler is at HOST:PORT (dask://scheduler:8786), which must read "
    "the project at the same path (shared storage). Reviews are published from here either way.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where reports go (a folder per period and index.html); default: PROJECT/reports, "
    "or PROJECT/reports/reproduced with --reproduce.",
)
@click.option("--pdf", is_flag=True, help="Also print each review to PDF (needs chromium).")
@click.option(
    "--reproduce",
    "snapshot",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    metavar="SNAPSHOT",
    help="Re-run the published review of this snapshot (reports/2026-10/growth.snapshot.json) "
    "with the exports, config and notebook as it read them and the store as it was; written "
    "under --out, never over the published review.",
)
@click.option(
    "--deliver",
    "send",
    is_flag=True,
    help="Then send each published review as `delivery:` in reviewkit.yaml says (email, chat).",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Publish even when no outcome has data for the period (the review says so at the "
    "top); without it such a run fails, naming the latest month with data.",
)
def report(
    project: Path,
    period: str | None,
    teams: tuple[str, ...],
    all_teams: bool,
    jobs: int | None,
    executor: str,
    out: Path | None,
    pdf: bool,
    snapshot: Path | None,
    send: bool,
    allow_empty: bool,
) -> None:
    """Run the monthly review for a period, one notebook per team in parallel, and publish each
    as offline HTML under reports/PERIOD/ with an index. A failing team does not stop the
    others; the exit status is 1 if any failed, and its last good report stays published.
    With --reproduce, re-run one published review as it was."""
    from reviewkit.config import load_config  # noqa: PLC0415 (keep --help fast)
    from reviewkit.publish.report import (  # noqa: PLC0415
        reproduce,
        run_reports,
        write_index,
    )

    if all_teams and teams:
        raise click.UsageError("use either --team or --all-teams")
    if snapshot is not None and send:
        raise click.UsageError("--deliver sends published reviews, not reproductions")
    if snapshot is not None and (period or teams or all_teams or jobs):
        raise click.UsageError(
            "--reproduce takes the period and team from the snapshot: leave out --period, "
            "--team, --all-teams and --jobs"
        )
    if snapshot is not None and executor != "local":
        raise click.UsageError(
            "--reproduce runs its one review on this machine: leave out --executor"
        )
    if snapshot is None and period is None:
        raise click.UsageError("Missing option '--period' (or pass --reproduce SNAPSHOT).")
    chromium = None
    if pdf:
        with user_errors():
            chromium = find_chromium("--pdf (leave it out for HTML only)")
    display = ProgressDisplay()
    try:
        with user_errors():
            if snapshot is not None:
                again = reproduce(project, snapshot, out=out, tracker=display)
                run = None
            else:
                assert period is not None
                chosen = None if all_teams else (list(teams) or [""])
                run = run_reports(
                    project,
                    period,
                    teams=chosen,
                    jobs=jobs,
                    executor=executor,
                    out=out,
                    tracker=display,
                    allow_empty=allow_empty,
                )
    finally:
        display.close()
    results = run.results if run is not None else (again.result,)
    unprinted = []
    if chromium is not None:
        unprinted = _print_pdfs(chromium, results)
        folder = run.directory if run is not None else again.directory
        live = load_config(project).live_url if run is not None else None
        write_index(folder.parent, live=live)  # now with the PDFs
    if run is not None:
        undelivered = []
        if send:
            published = [r.label for r in run.results if r.ok]
            undelivered = deliver_reviews(project, run.period, run.directory, published)
        _summary(run, unprinted + undelivered)
        return
    for note in again.notes:
        click.echo(f"note: {note}", err=True)
    if again.ok:
        click.echo(f"reproduced {snapshot} as {again.result.html}")
    lines = [] if again.ok else [_failure(again.result)]
    if lines or unprinted:
        raise click.ClickException("\n".join(["reproducing failed:", *lines, *unprinted]))


def _print_pdfs(chromium: str, results: Sequence[TeamResult]) -> list[str]:
    """Print each published review to PDF beside its HTML; the teams whose PDF failed."""
    failed = []
    for result in results:
        if result.html is None:
            continue
        target = result.html.with_suffix(".pdf")
        try:
            print_pdf(chromium, result.html, target)
        except (subprocess.SubprocessError, OSError) as exc:
            failed.append(f"{result.label}: PDF failed: {exc}")
        else:
            click.echo(f"{result.label}: {target}")
    return failed


def deliver_reviews(project: Path, period: str, directory: Path, reviews: list[str]) -> list[str]:
    """Send ``reviews`` as `delivery:` says, a line each
    (:meth:`reviewkit.publish.deliver.Sent.line`); the lines of what failed."""
    from reviewkit.project import open_project  # noqa: PLC0415
    from reviewkit.publish.deliver import deliver  # noqa: PLC0415 (keep --help fast)

    with user_errors(), open_project(project) as opened:
        done = deliver(opened, period, directory, reviews)
    for sent in done.sent:
        if sent.ok:
            click.echo(sent.line())
    for note in done.notes:
        click.echo(f"note: {note}", err=True)
    return [f"  {sent.line()}" for sent in done.failed]


def _failure(result: TeamResult) -> str:
    first = result.error.strip().splitlines()[0] if result.error.strip() else "failed"
    where = f" (see {result.failed_notebook})" if result.failed_notebook else ""
    return f"  {result.label}: {first}{where}"


def _summary(run: ReportRun, unprinted: list[str]) -> None:
    """Where the reports are, then the failed teams with their errors and the PDFs that could
    not be printed (exit status 1 if any)."""
    published = len(run.results) - len(run.failed)
    click.echo(
        f"{published} of {len(run.results)} review(s) published for {run.period} in "
        f"{run.directory}; index: {run.index}"
    )
    lines = [f"{len(run.failed)} review(s) failed:"] if run.failed else []
    lines += [_failure(result) for result in run.failed]
    lines += unprinted
    if lines:
        raise click.ClickException("\n".join(lines))
