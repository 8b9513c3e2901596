"""``reports/index.html``: every published review, all periods, with its status and links."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from reviewkit.base.files import atomic_write
from reviewkit.publish.report.layout import (
    ATTEMPTS,
    COMPANY,
    FAILED,
    PERIOD_FOLDER,
    SNAPSHOT,
    WHOLE_RUN,
    labels,
    now,
    read_json,
)


@dataclass(frozen=True)
class _Entry:
    period: str
    team: str
    status: str
    when: str
    links: tuple[tuple[str, str], ...]
    note: str = ""


def write_index(reports: Path, *, live: str | None = None) -> Path:
    """Write ``reports/index.html``: every review found under ``reports`` (all periods), newest
    period first, each with its status (``failed``: the latest run failed), time and links;
    with ``live`` (where `reviewkit serve` runs), a link to each review's live page too."""
    entries = sorted(_entries(reports, live), key=lambda e: (e.team, e.status))
    entries.sort(key=lambda e: e.period, reverse=True)
    rows = []
    for e in entries:
        links = " ".join(
            f'<a href="{html.escape(href)}">{html.escape(text)}</a>' for text, href in e.links
        )
        rows.append(
            f'<tr class="{e.status}"><td>{html.escape(e.period)}</td><td>{html.escape(e.team)}</td>'
            f"<td>{html.escape(e.status)}</td><td>{html.escape(e.when)}</td><td>{links}</td>"
            f"<td>{html.escape(e.note)}</td></tr>"
        )
    body = "\n".join(rows) or '<tr><td colspan="6">No reviews published yet.</td></tr>'
    page = _INDEX.format(rows=body, generated=html.escape(now()))
    index = reports / "index.html"
    atomic_write({index: page.encode("utf-8")})
    return index


def live_page(live: str, period: str, team: str) -> str:
    """The address of a review's live page (``reviewkit serve``): the review notebook with the
    period and team as URL parameters."""
    query = urlencode({"period": period, **({"team": team} if team != COMPANY else {})})
    return f"{live}voila/render/review.ipynb?{query}"


def _entries(reports: Path, live: str | None) -> Iterator[_Entry]:
    for folder in sorted(p for p in reports.iterdir() if PERIOD_FOLDER.match(p.name)):
        if not folder.is_dir():
            continue
        attempts = read_json(folder / ATTEMPTS)
        found = labels(folder)
        for label in found:
            entry = _entry(folder, label, attempts.get(label), live)
            if entry is not None:
                yield entry
        whole = attempts.get(WHOLE_RUN)
        if not found and isinstance(whole, dict):
            when, error = str(whole.get("at", "")), str(whole.get("error", ""))
            yield _Entry(folder.name, "(every review)", "failed", when, (), error)


def _entry(folder: Path, label: str, attempt: Any, live: str | None) -> _Entry | None:
    """One review's row: its latest attempt (ok, or failed with why and when, the last good
    version still linked); None for a review published and since deleted."""
    page = folder / f"{label}.html"
    failed = folder / f"{label}{FAILED}"
    links = []
    if page.is_file():
        links.append(("HTML", quote(f"{folder.name}/{page.name}")))
        for suffix, text in ((".ipynb", "notebook"), (".pdf", "PDF")):
            if page.with_suffix(suffix).exists():
                links.append((text, quote(f"{folder.name}/{label}{suffix}")))
    if failed.is_file():
        links.append(("failed notebook", quote(f"{folder.name}/{failed.name}")))
    if live and page.is_file():
        links.append(("live page", live_page(live, folder.name, label)))
    if not isinstance(attempt, dict):  # published before attempts were recorded: the files
        info = read_json(failed).get("metadata", {}).get("reviewkit", {})
        attempt = {
            "ok": not failed.is_file(),
            "at": info.get("failed_at"),
            "error": info.get("error"),
        }
    if attempt.get("ok"):
        if not page.is_file():
            return None
        snapshot = read_json(folder / f"{label}{SNAPSHOT}")
        when = str(snapshot.get("finished_at", "")) or _mtime(page)
        return _Entry(folder.name, label, "ok", when, tuple(links))
    when = str(attempt.get("at") or "") or (_mtime(failed) if failed.is_file() else "")
    note = str(attempt.get("error") or "failed")
    if page.is_file():
        snapshot = read_json(folder / f"{label}{SNAPSHOT}")
        note += (
            f" (the last good version, of {snapshot.get('finished_at') or _mtime(page)}, is linked)"
        )
    return _Entry(folder.name, label, "failed", when, tuple(links), note)


_INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Reviews</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: .3rem .8rem; border-bottom: 1px solid #ddd; text-align: left; }}
tr.failed td {{ color: #b00020; }}
</style></head>
<body><h1>Reviews</h1>
<table><thead><tr><th>period</th><th>team</th><th>status</th><th>when</th><th>links</th>
<th>error</th></tr></thead>
<tbody>
{rows}
</tbody></table>
<p>Generated {generated}.</p>
</body></html>
"""


def _mtime(path: Path) -> str:
    stamp = dt.datetime.fromtimestamp(path.stat().st_mtime).astimezone()
    return stamp.isoformat(timespec="seconds")
