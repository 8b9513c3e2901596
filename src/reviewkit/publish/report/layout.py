"""Where a published review's files are under ``reports``, and how they are read back.

``reports/PERIOD/TEAM.html`` (with ``.ipynb`` and ``.snapshot.json`` beside it), or
``TEAM.failed.ipynb`` when the latest run of the team failed; the company-wide review is
named :data:`COMPANY`. ``reports/PERIOD/attempts.json`` records each review's last attempt
(:func:`record_attempts`), and a run that failed before any review ran. The runs write these
files, the index and the reproductions read them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reviewkit.base import clock
from reviewkit.base.files import atomic_write

#: the file name (and the label) of the company-wide review, whose ``team`` parameter is ""
COMPANY = "company"
#: team names become file names: keep them to safe characters
SAFE_TEAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
#: the latest run of the team failed: its executed notebook, with the error in its metadata
FAILED = ".failed.ipynb"
#: what a published review read (see :mod:`reviewkit.publish.report.archive`), beside its page
SNAPSHOT = ".snapshot.json"
#: each review's last attempt in a period's folder: ``{label: {"ok", "at", "error"}}``
ATTEMPTS = "attempts.json"
#: the key in :data:`ATTEMPTS` of a run that failed before any review ran, in a period's folder
#: with no review yet
WHOLE_RUN = "*"
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


def labels(directory: Path) -> list[str]:
    """The reviews a period's folder has: published, failed, or attempted."""
    found = {page.stem for page in directory.glob("*.html")}
    found |= {failed.name.removesuffix(FAILED) for failed in directory.glob("*" + FAILED)}
    found |= {label for label in read_json(directory / ATTEMPTS) if SAFE_TEAM.match(label)}
    return sorted(found)


def record_attempts(directory: Path, outcomes: Mapping[str, str | None]) -> None:
    """Record in ``directory``'s :data:`ATTEMPTS` the attempt just made of each review (by its
    label, or :data:`WHOLE_RUN`) with its error (None: published), at this time; the other
    entries are kept."""
    path = directory / ATTEMPTS
    attempts = read_json(path)
    at = now()
    for label, error in outcomes.items():
        attempts[label] = {"ok": error is None, "at": at, "error": error or ""}
    atomic_write({path: json.dumps(attempts, indent=2, sort_keys=True).encode("utf-8")})
