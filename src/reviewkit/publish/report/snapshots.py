"""What changed since a published review, and re-running an old review as it was.

Each published review has a snapshot beside it (``TEAM.snapshot.json``): the hashes of the
exports, config files and notebook it read, the store's last event id and its parameters.
:func:`changes_since` compares a snapshot with the project now; :func:`reproduce` re-runs the
review with the archived inputs (:mod:`reviewkit.publish.report.archive`) and the store as it was.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reviewkit.base.errors import ReviewkitError, shown_path
from reviewkit.base.files import relative
from reviewkit.inputs import config_files, review_inputs
from reviewkit.project import Project, open_project
from reviewkit.publish.report.archive import INPUT_KEYS, find_recorded, place
from reviewkit.publish.report.executors import LocalExecutor
from reviewkit.publish.report.index import write_index
from reviewkit.publish.report.layout import COMPANY, PERIOD_FOLDER, REPRODUCED, SAFE_TEAM, read_json
from reviewkit.publish.report.run import Job, Progress, TeamResult, default_notebook, run_jobs
from reviewkit.sources.cache import SourceCache
from reviewkit.store.core import store_as_of


def changes_since(snapshot_path: Path, project: Project) -> list[str]:
    """What changed since the review whose snapshot is ``snapshot_path`` was published: new,
    changed and removed exports, then the store's events since (one line each)."""
    snapshot = read_json(snapshot_path)
    if not snapshot:
        raise ReviewkitError(f"{shown_path(snapshot_path)} is not a review snapshot")
    before: dict[str, str] = snapshot.get("exports", {})
    current = review_inputs(project)
    changes = []
    for path, digest in sorted(current["exports"].items()):
        if path not in before:
            changes.append(f"new export {path}")
        elif before[path] != digest:
            changes.append(f"changed export {path}")
    changes += [f"removed export {path}" for path in sorted(set(before) - set(current["exports"]))]
    recorded: dict[str, str] = snapshot.get("config", {})
    changes += [
        f"changed config {path}"
        for path, digest in sorted(current["config"].items())
        if path in recorded and recorded[path] != digest
    ]
    last = snapshot.get("store_last_event_id") or 0
    if current["store_last_event_id"] is not None:
        for event in project.store.events():
            if event.id > last:
                changes.append(
                    f"store event {event.id}: {event.kind} {event.entity} {event.key} "
                    f"by {event.actor} at {event.at:%Y-%m-%d %H:%M}"
                )
    return changes


@dataclass(frozen=True)
class Reproduction:
    """An old review re-run as it was: the result (``result.html`` is the new page), the
    snapshot it reproduces, and notes on anything that could not be exactly as it was."""

    snapshot: Path
    period: str
    directory: Path
    result: TeamResult
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.result.ok


def reproduce(
    project_dir: Path,
    snapshot_path: Path,
    *,
    out: Path | None = None,
    timeout: float = 600,
    tracker: Progress | None = None,
) -> Reproduction:
    """Re-run the review whose snapshot is ``snapshot_path`` (``reports/2026-10/growth.snapshot
    .json``) with the inputs it read: each export, config file and the notebook as it was (the
    current file when its content is unchanged, else its copy under :data:`FROZEN`), and the
    store as it was at the snapshot's last event (replayed from the event log into a copy; the
    store itself is only read). Everything runs in a temporary copy of the project, so nothing
    of the project changes but the new files, written to ``out/PERIOD/`` (default:
    ``reports/reproduced/PERIOD/``; never over the review reproduced) with the snapshot of what
    was read and an index. Raises :class:`ReviewkitError`, before any kernel starts, naming the
    file and what to do when a file's recorded content is nowhere to be found."""
    snapshot = read_json(snapshot_path)
    if not {"period", "team", "exports"} <= set(snapshot):
        raise ReviewkitError(
            f"{shown_path(snapshot_path)} is not a review snapshot (a <team>.snapshot.json "
            "written beside a published review)"
        )
    period, team = str(snapshot["period"]), str(snapshot["team"])
    if snapshot.get("warehouse"):
        engines = ", ".join(f"{n} ({w.get('engine')})" for n, w in snapshot["warehouse"].items())
        raise ReviewkitError(
            f"cannot reproduce {shown_path(snapshot_path)}: it read sources in a SQL engine "
            f"({engines}), whose tables reviewkit does not copy; to reproduce reviews, keep "
            "dated copies of those tables in the engine (or export them to files) and point "
            "the sources at them"
        )
    if not PERIOD_FOLDER.match(period) or (team and not SAFE_TEAM.match(team)):
        raise ReviewkitError(
            f"{shown_path(snapshot_path)} names period {period!r} and team {team!r}, which "
            "reviewkit never publishes: it is not a review snapshot as written"
        )
    with open_project(project_dir) as project:
        root = project.root
        cache = project.workspace.cache
        store = project.config.store_location
    folder = (out if out is not None else root / "reports" / REPRODUCED) / period
    base = folder / (team or COMPANY)
    if (
        base.with_suffix(".html").resolve()
        == snapshot_path.with_name(f"{team or COMPANY}.html").resolve()
    ):
        raise ReviewkitError(
            f"{shown_path(base.with_suffix('.html'))} is the review being reproduced: pass "
            "another --out folder"
        )
    (root / ".reviewkit").mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="reproduce-", dir=root / ".reviewkit"))
    try:
        copy = scratch / root.name
        notes = _materialise(root, cache, snapshot, copy, snapshot_path)
        notebook = _reproduced_notebook(root, cache, snapshot, scratch, notes, snapshot_path)
        with open_project(copy) as replica:
            name = replica.config.name
            through = replica.data_through()
            replica_store = replica.config.store_location
        if not isinstance(replica_store, Path):
            raise ReviewkitError(
                f"cannot reproduce {shown_path(snapshot_path)} yet: its store is in PostgreSQL "
                "and a reproduction needs the store as it was in a file of its own; copy the "
                "store into a SQLite file (`reviewkit store migrate --to FILE`), set "
                "REVIEWKIT_STORE=FILE and reproduce again"
            )
        if not replica_store.resolve().is_relative_to(copy.resolve()):
            raise ReviewkitError(
                f"cannot reproduce {shown_path(snapshot_path)}: the config's store: "
                f"({shown_path(replica_store)}) is outside the project, so the review cannot "
                "be given the store as it was; keep the store inside the project folder"
            )
        last_event = snapshot.get("store_last_event_id")
        if last_event is not None:
            store_as_of(store, replica_store, int(last_event)).close()
        folder.mkdir(parents=True, exist_ok=True)
        published = str(snapshot.get("finished_at", "")) or "at an unknown time"
        job = Job(
            notebook,
            copy,
            period,
            team,
            timeout,
            folder,
            f"{name} review · {team or COMPANY} · {period}",
            f"data through {through} · reproduced from the review published {published}"
            if through
            else f"no data · reproduced from the review published {published}",
            {key: snapshot[key] for key in INPUT_KEYS if key in snapshot},
            {
                "reproduces": {
                    "snapshot": str(snapshot_path.resolve()),
                    "published_at": snapshot.get("finished_at"),
                    "parameters": snapshot.get("parameters"),
                },
                "notes": notes,
            },
            previous=str((snapshot.get("parameters") or {}).get("previous", "")),
            scratch=scratch,
        )
        (result,) = run_jobs([job], LocalExecutor(1), None, tracker, shared=[scratch])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_index(folder.parent)
    return Reproduction(snapshot_path, period, folder, result, tuple(notes))


def _materialise(
    root: Path, cache: SourceCache, snapshot: Mapping[str, Any], copy: Path, snapshot_path: Path
) -> list[str]:
    """Lay out in ``copy`` every export and config file the snapshot records, by its path in
    the project, with the recorded content; the notes on what could not be as recorded."""
    notes: list[str] = []
    files: dict[str, str] = dict(snapshot["exports"])
    config = snapshot.get("config")
    if isinstance(config, dict) and config:
        files |= config
    else:
        with open_project(root) as project:
            current = config_files(project.config)
        notes.append(
            "the snapshot does not record the config (it predates archiving): the current "
            + ", ".join(relative(p, root) for p in current)
            + " used instead"
        )
        for path in current:
            place(path, copy / relative(path, root))
    for shown, digest in files.items():
        if Path(shown).is_absolute() or ".." in Path(shown).parts:
            raise ReviewkitError(
                f"cannot reproduce {shown_path(snapshot_path)}: it read {shown}, outside the "
                "project folder, and a reproduction runs in a copy of the project; keep the "
                "exports inside the project"
            )
        found = find_recorded(root, cache, root / shown, shown, digest, snapshot_path)
        place(found, copy / shown)
    return notes


def _reproduced_notebook(
    root: Path,
    cache: SourceCache,
    snapshot: Mapping[str, Any],
    scratch: Path,
    notes: list[str],
    snapshot_path: Path,
) -> Path:
    """The review notebook as it was (its archived copy when it changed since), or the current
    one, with a note, for a snapshot that does not record its content."""
    digest = snapshot.get("notebook_sha256")
    recorded = Path(str(snapshot.get("notebook") or default_notebook()))
    if not digest:
        current = recorded if recorded.is_file() else default_notebook()
        notes.append(
            f"the snapshot does not record the notebook's content: {shown_path(current)} as it "
            "is now used instead"
        )
        return current
    shown = f"the review notebook {shown_path(recorded)}"
    target = scratch / "review.ipynb"
    place(find_recorded(root, cache, recorded, shown, str(digest), snapshot_path), target)
    return target
