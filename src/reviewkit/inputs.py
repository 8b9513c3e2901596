"""What a review reads, as its snapshot records it: the hashes behind the report archive.

A published review's snapshot (:mod:`reviewkit.publish.report.snapshots`) and the archive of what
it read (:mod:`reviewkit.publish.report.archive`) record :func:`review_inputs`; the live review
page keeps its first paint under the same hashes (:mod:`reviewkit.serve.dashboard`), which is why
they live here, below both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reviewkit.base.files import relative
from reviewkit.config import CONFIG_FILE, ProjectConfig
from reviewkit.project import Project
from reviewkit.sources.loading import source_files

__all__ = ["config_files", "review_inputs"]


def config_files(config: ProjectConfig) -> list[Path]:
    """reviewkit.yaml and the files it includes."""
    data = config.located.data
    included = data.get("include", []) if isinstance(data, dict) else []
    names = [CONFIG_FILE, *(str(name) for name in included)]
    return [config.root / name for name in dict.fromkeys(names)]


def review_inputs(project: Project) -> dict[str, Any]:
    """What a review of ``project`` reads, as its snapshot records it: the content hash of every
    export file and of the config files, by path relative to the project, the store's last
    event id (None without a store file: opening it would create one), and for each source in a
    SQL engine, its table or query with the rows and dates it had (a stamp, not a hash:
    reviewkit cannot tell every change of a warehouse's table)."""
    config, root, cache = project.config, project.root, project.workspace.cache
    exports = {
        relative(path, root): cache.digest(path)
        for source in config.sources.values()
        for path in source_files(config, source)
    }
    warehouse = {}
    for name, source in config.sources.items():
        if source.engine is not None:
            loaded = project.workspace.source(name)
            warehouse[name] = {
                "engine": source.engine,
                "table": source.table,
                "query": source.query,
                "rows": loaded.rows,
                "first": str(loaded.min_date),
                "last": str(loaded.max_date),
            }
    hashed = {relative(path, root): cache.digest(path) for path in config_files(config)}
    last_event = None
    store = config.store_location
    if not isinstance(store, Path) or store.exists():
        last_event = project.store.last_event_id()
    return {
        "exports": exports,
        "config": hashed,
        "store_last_event_id": last_event,
        **({"warehouse": warehouse} if warehouse else {}),
    }
