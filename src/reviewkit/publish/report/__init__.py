"""Monthly review reports: run the review notebook per team with papermill, publish HTML.

>>> run = run_reports(Path("."), "last-month", jobs=2)
>>> run.ok, [(r.team, r.ok, r.seconds) for r in run.results]

Layout under ``<project>/reports`` (one folder per period, :mod:`.layout`)::

    index.html                         every published review, all periods, with status and links
    2026-10/company.html               the company-wide review ("" team), offline HTML
    2026-10/company.ipynb              the executed notebook it was rendered from
    2026-10/company.snapshot.json      what it read: export hashes, store event id, parameters
    2026-10/billing.failed.ipynb       the latest run of a team failed: papermill's error marker
    reproduced/2026-10/company.html    an old review re-run as it was (:func:`reproduce`)

The package follows the jobs of a run: :mod:`.archive` freezes what the reviews read (exports,
config, notebook) and builds the view of the project the kernels read; :mod:`.run` runs the
kernels in parallel and publishes each review atomically, cleaning up after runs killed midway;
:mod:`.index` writes ``reports/index.html``; :mod:`.snapshots` says what changed since a review
and re-runs an old review as it was.
"""

from reviewkit.publish.report.archive import FROZEN, VIEWS
from reviewkit.publish.report.index import live_page, write_index
from reviewkit.publish.report.layout import COMPANY, REPRODUCED, previous_snapshot
from reviewkit.publish.report.run import (
    Progress,
    ReportRun,
    TeamResult,
    default_notebook,
    progress_line,
    run_reports,
)
from reviewkit.publish.report.snapshots import Reproduction, changes_since, reproduce

__all__ = [
    "COMPANY",
    "FROZEN",
    "REPRODUCED",
    "VIEWS",
    "Progress",
    "ReportRun",
    "Reproduction",
    "TeamResult",
    "changes_since",
    "default_notebook",
    "live_page",
    "previous_snapshot",
    "progress_line",
    "reproduce",
    "run_reports",
    "write_index",
]
