"""Where a published review's files are under ``reports``, and how they are read back.

``reports/PERIOD/TEAM.html`` (with ``.ipynb`` and ``.snapshot.json`` beside it), or
``TEAM.failed.ipynb`` when the latest run of the team failed; the company-wide review is
named :data:`COMPANY`. The runs write these files, the index and the reproductions read them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from reviewkit import clock

#: the file name (and the label) of the company-wide review, whose ``team`` parameter is ""
COMPANY = "company"
#: team names become file names: keep them to safe characters
SAFE_TEAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
#: the latest run of the team failed: its executed notebook, with the error in its metadata
FAILED = ".failed.ipynb"
#: what a published review read (see :mod:`reviewkit.report.archive`), beside its page
SNAPSHOT = ".snapshot.json"
#: the folder under ``reports`` that reproductions go to by default
REPRODUCED = "reproduced"
#: a period's folder under ``reports`` (the index lists these)
PERIOD_FOLDER = re.compile(r"\d{4}-\d{2}\Z")


def previous_snapshot(reports: Path, period: str, team: str) -> str:
    """The snapshot of ``team``'s latest review published under ``reports`` for a month before
    ``period`` ("" when there is none)."""
    earlier = sorted(
        path
        for path in reports.glob(f"*/{team or COMPANY}{SNAPSHOT}")
        if PERIOD_FOLDER.match(path.parent.name) and path.parent.name < period
    )
    return str(earlier[-1]) if earlier else ""


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``{}`` when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def now() -> str:
    """The time on reviewkit's clock, as the snapshots and the index write it."""
    return clock.now().astimezone().isoformat(timespec="seconds")
