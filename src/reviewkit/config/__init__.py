"""The project file, ``reviewkit.yaml``: sources, the metric catalogue and the calendar.

Validation collects every problem with its file, line and key path before raising once, so a user
editing YAML by hand fixes everything in one pass. Unknown keys list the valid ones. Only the file
itself is checked here; checks that need the exports (columns present, expressions that bind) live
in :mod:`reviewkit.sources.loading` and :mod:`reviewkit.metrics.catalogue`.

The package, bottom up: ``model`` (the typed config and the words the file may use), ``keys``
(the one table of every key: section, type, default, help), ``collector`` (the problems of one
file and the value checks), one checker per section (``top``, ``sources``, ``metrics``,
``targets``, ``outcomes``, ``delivery``, ``alerts``), none knowing another, and ``loader``
(:func:`load_config`, which calls them in turn with one collector); ``reference`` writes
docs/reference/config.md from the table. Other packages import the names below from here.
"""

from reviewkit.base.errors import ConfigError
from reviewkit.config.delivery import is_loopback
from reviewkit.config.keys import OPTION_KEYS
from reviewkit.config.loader import load_config
from reviewkit.config.model import (
    AGGREGATIONS,
    CHANGES,
    CONFIG_FILE,
    DERIVED_OPS,
    ENGINES,
    FORMATS,
    LIFECYCLE_AGGREGATIONS,
    RETENTION_AGGREGATIONS,
    SURVEY_AGGREGATIONS,
    VALUE_FORMATS,
    Alert,
    ChatDelivery,
    DateColumn,
    Delivery,
    EmailDelivery,
    Lifecycle,
    Metric,
    Outcome,
    OutputsSpec,
    ProjectConfig,
    Source,
    StatusRules,
    Target,
)

__all__ = [
    "AGGREGATIONS",
    "CHANGES",
    "CONFIG_FILE",
    "DERIVED_OPS",
    "ENGINES",
    "FORMATS",
    "LIFECYCLE_AGGREGATIONS",
    "OPTION_KEYS",
    "RETENTION_AGGREGATIONS",
    "SURVEY_AGGREGATIONS",
    "VALUE_FORMATS",
    "Alert",
    "ChatDelivery",
    "ConfigError",
    "DateColumn",
    "Delivery",
    "EmailDelivery",
    "Lifecycle",
    "Metric",
    "Outcome",
    "OutputsSpec",
    "ProjectConfig",
    "Source",
    "StatusRules",
    "Target",
    "is_loopback",
    "load_config",
]
