"""`reviewkit report`: run the monthly review notebook per team and publish it as HTML (or PDF)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reviewkit.cli.common import jobs_option, project_option, user_errors

if TYPE_CHECKING:
    from reviewkit.report import ReportRun

#: headless Chromium, offline: no sandbox (root), no GPU, and nothing reaching the network
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--no-pdf-header-footer",
)
#: seconds Chromium gets to print one review
PDF_TIMEOUT = 120


@click.command()
@project_option
@click.option(
    "--period",
    required=True,
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
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where reports go (a folder per period and index.html); default: PROJECT/reports.",
)
@click.option("--pdf", is_flag=True, help="Also print each review to PDF (needs chromium).")
def report(
    project: Path,
    period: str,
    teams: tuple[str, ...],
    all_teams: bool,
    jobs: int | None,
    out: Path | None,
    pdf: bool,
) -> None:
    """Run the monthly review for a period, one notebook per team in parallel, and publish each
    as offline HTML under reports/PERIOD/ with an index. A failing team does not stop the
    others; the exit status is 1 if any failed, and its last good report stays published."""
    from reviewkit.report import run_reports  # noqa: PLC0415 (keep --help fast)

    if all_teams and teams:
        raise click.UsageError("use either --team or --all-teams")
    chromium = shutil.which("chromium")
    if pdf and chromium is None:
        raise click.ClickException(
            "--pdf needs headless Chromium: install Debian's chromium package "
            "(apt-get install chromium), or leave out --pdf for HTML only"
        )
    chosen = None if all_teams else (list(teams) or [""])
    with user_errors():
        run = run_reports(project, period, teams=chosen, jobs=jobs, out=out, progress=click.echo)
    unprinted = _print_pdfs(chromium, run) if chromium is not None and pdf else []
    _summary(run, unprinted)


def _print_pdfs(chromium: str, run: ReportRun) -> list[str]:
    """Print each published review to PDF beside its HTML (into a temp file, then renamed);
    the teams whose PDF failed."""
    failed = []
    for result in run.results:
        if result.html is None:
            continue
        target = result.html.with_suffix(".pdf")
        partial = target.with_name(f".{target.name}.tmp")
        command = [chromium, *CHROMIUM_FLAGS, f"--print-to-pdf={partial}", result.html.as_uri()]
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=PDF_TIMEOUT)
            partial.replace(target)
        except (subprocess.SubprocessError, OSError) as exc:
            failed.append(f"{result.label}: PDF failed: {exc}")
        else:
            click.echo(f"{result.label}: {target}")
        finally:
            partial.unlink(missing_ok=True)
    return failed


def _summary(run: ReportRun, unprinted: list[str]) -> None:
    """Where the reports are, then the failed teams with their errors and the PDFs that could
    not be printed (exit status 1 if any)."""
    published = len(run.results) - len(run.failed)
    click.echo(
        f"{published} of {len(run.results)} review(s) published for {run.period} in "
        f"{run.directory}; index: {run.index}"
    )
    lines = [f"{len(run.failed)} review(s) failed:"] if run.failed else []
    for result in run.failed:
        first = result.error.strip().splitlines()[0] if result.error.strip() else "failed"
        where = f" (see {result.failed_notebook})" if result.failed_notebook else ""
        lines.append(f"  {result.label}: {first}{where}")
    lines += unprinted
    if lines:
        raise click.ClickException("\n".join(lines))
