"""reviewkit: turn the KPI exports a company already has into monthly reviews about outcomes.

The package follows the data, and each layer imports only those below it (import-linter's
contracts in pyproject.toml; docs/architecture.md): ``base`` (errors, files, clock, periods, SQL)
-> ``config`` (reviewkit.yaml) -> ``sources`` (exports into DuckDB) -> ``metrics`` (KPIs,
comparisons, targets) and ``store`` (links, check-ins) -> ``evidence`` (the review model,
alignment, impact) -> ``project`` (the facade) -> ``present`` (charts, narrative, widgets) ->
``publish`` (reports, delivery, schedule) and ``serve`` (live pages) -> ``cli``.
Start with :func:`open_project`.
"""

from typing import TYPE_CHECKING, Any

from reviewkit.base.deferred import defer_slow_imports
from reviewkit.base.errors import ConfigError, DataError, Problem, QueryError, ReviewkitError
from reviewkit.base.periods import Calendar, Period, parse_period
from reviewkit.config import Metric, ProjectConfig, Source, load_config
from reviewkit.store.core import StoreError

defer_slow_imports()  # before Altair or Jupyter imports jsonschema

if TYPE_CHECKING:
    from reviewkit.check import check_project
    from reviewkit.project import Project, open_project

__all__ = [
    "Calendar",
    "ConfigError",
    "DataError",
    "Metric",
    "Period",
    "Problem",
    "Project",
    "ProjectConfig",
    "QueryError",
    "ReviewkitError",
    "Source",
    "StoreError",
    "check_project",
    "load_config",
    "open_project",
    "parse_period",
]


def __getattr__(name: str) -> Any:
    """``Project``, ``open_project`` and ``check_project`` on first use: the project pulls in
    DuckDB and pandas, which `import reviewkit.config` (validating a reviewkit.yaml) and
    `reviewkit --help` should not pay for."""
    if name == "check_project":
        from reviewkit.check import check_project  # noqa: PLC0415 (DuckDB and pandas when used)

        return check_project
    if name in ("Project", "open_project"):
        from reviewkit import project  # noqa: PLC0415 (DuckDB and pandas only when used)

        return getattr(project, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
