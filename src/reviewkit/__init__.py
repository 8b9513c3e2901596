"""reviewkit: turn the KPI exports a company already has into monthly reviews about outcomes.

The package follows the data: sources (exports into DuckDB) -> metrics (KPIs, periods) -> ...
Start with :func:`open_project`.
"""

from reviewkit.config import Calendar, Metric, ProjectConfig, Source, load_config
from reviewkit.errors import ConfigError, DataError, Problem, QueryError, ReviewkitError
from reviewkit.periods import Period, parse_period
from reviewkit.project import Project, check_project, open_project
from reviewkit.store import StoreError

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
