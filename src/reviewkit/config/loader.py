"""Reading ``reviewkit.yaml``: the project's own keys, then each section in the order they depend
on each other, every problem collected before one :class:`ConfigError` is raised."""

from __future__ import annotations

from pathlib import Path

from reviewkit.base.errors import ConfigError, shown_path
from reviewkit.base.yamlfile import Located, load_yaml
from reviewkit.config.alerts import AlertChecks
from reviewkit.config.collector import Collector
from reviewkit.config.delivery import DeliveryChecks
from reviewkit.config.keys import allowed
from reviewkit.config.metrics import MetricChecks
from reviewkit.config.model import (
    CONFIG_FILE,
    Metric,
    Outcome,
    ProjectConfig,
    Source,
    StatusRules,
)
from reviewkit.config.outcomes import OutcomeChecks
from reviewkit.config.sources import SourceChecks
from reviewkit.config.targets import TargetChecks
from reviewkit.config.top import TopChecks

__all__ = ["load_config"]


def load_config(project_dir: Path) -> ProjectConfig:
    """Read and validate ``project_dir/reviewkit.yaml``, raising :class:`ConfigError` with every
    problem found."""
    root = project_dir.resolve()
    located = load_yaml(root / CONFIG_FILE, shown_as=shown_path(root / CONFIG_FILE))
    check = Collector(located)
    config = _project(check, root)
    if check.problems or config is None:
        main = located.path
        check.problems.sort(key=lambda p: (p.path != main, p.path, p.line or 0, p.col or 0))
        raise ConfigError.from_problems(
            f"{located.path} has {len(check.problems)} problem(s):", check.problems
        )
    return config


def _project(check: Collector, root: Path) -> ProjectConfig | None:
    """The whole file: the project's own keys, then each section in the order they depend on
    each other; builds the typed config and collects every problem in ``check``."""
    top_keys = TopChecks(check)
    top = check.mapping(check.located.data, (), allowed(""), required=("sources", "metrics"))
    if top is None:
        return None
    name = check.text(top.get("name", root.name), ("name",)) or root.name
    calendar = check.project_calendar = top_keys.calendar(top.get("calendar", {}))
    sources: dict[str, Source] = {}
    source_checks = SourceChecks(check)
    for key, raw in (check.mapping(top.get("sources", {}), ("sources",)) or {}).items():
        source = source_checks.source(key, raw)
        if source is not None:
            sources[source.name] = source
    metrics: dict[str, Metric] = {}
    metric_checks = MetricChecks(check)
    for key, raw in (check.mapping(top.get("metrics", {}), ("metrics",)) or {}).items():
        metric = metric_checks.metric(key, raw)
        if metric is not None:
            metrics[metric.name] = metric
    metric_checks.references(sources, metrics)
    target_checks = TargetChecks(check)
    rules = target_checks.rules(top.get("status", {}), ("status",), StatusRules())
    targets = target_checks.targets(top.get("targets", []), sources, metrics, rules)
    outcome_checks = OutcomeChecks(check)
    outputs = outcome_checks.outputs(top["outputs"], sources) if "outputs" in top else None
    outcomes: dict[str, Outcome] = {}
    outcome_checks.outcomes(
        top.get("outcomes", []), ("outcomes",), sources, metrics, rules, outcomes
    )
    for included in top_keys.includes(top.get("include", []), root):
        _included_outcomes(check, included, sources, metrics, rules, outcomes)
    outcome_checks.outcome_tree(outcomes)
    store = None
    if "store" in top:
        store = top_keys.store(top["store"], root)
    user = top_keys.user(top["user"]) if "user" in top else None
    schedule = top_keys.cron(top["schedule"]) if "schedule" in top else None
    live_url = top_keys.live_url(top["live_url"]) if "live_url" in top else None
    delivery = DeliveryChecks(check).delivery(top["delivery"]) if "delivery" in top else None
    alerts = AlertChecks(check).alerts(top.get("alerts", []), metrics, outcomes, delivery)
    return ProjectConfig(
        root,
        name,
        calendar,
        sources,
        metrics,
        check.located,
        targets,
        rules,
        outputs,
        outcomes,
        store,
        user,
        schedule,
        live_url or ProjectConfig.live_url,
        delivery,
        alerts,
    )


def _included_outcomes(
    check: Collector,
    included: Located,
    sources: dict[str, Source],
    metrics: dict[str, Metric],
    rules: StatusRules,
    outcomes: dict[str, Outcome],
) -> None:
    """The outcomes of an included file, checked against the project's sources and metrics, its
    problems reported at its own lines."""
    child = Collector(included)
    child.project_calendar = check.project_calendar
    spec = child.mapping(included.data, (), allowed("include"))
    if spec is not None:
        OutcomeChecks(child).outcomes(
            spec.get("outcomes", []), ("outcomes",), sources, metrics, rules, outcomes
        )
    check.problems += child.problems
