"""Alerts (`alerts:` in reviewkit.yaml), checked after each data refresh with `reviewkit alerts
--check` (and by `reviewkit schedule` after its reports): an outcome whose status turns at risk
or off track, a KPI that crosses a value in the latest complete month, an export with no new
data for some days, a link whose verdict changes.

Each alert fires once per change, not on every check: what each rule last saw is kept in
``.reviewkit/alerts.json``, per outcome, KPI, source or link. A message names the KPI, the
numbers and the page to open (the review of the team whose outcome it is about, else the
company's); its subject says what happened to what ("Fewer billing-team customers churn is off
track"). It goes by email (the rule's ``to:``, through `delivery: email:`) and to
`delivery: chat:` webhooks. One that cannot be sent is reported and fires again at the
next check (what it saw is not recorded until it is sent).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from reviewkit.base.clock import today
from reviewkit.base.errors import ReviewkitError, shown_path
from reviewkit.base.files import atomic_write
from reviewkit.config import Alert
from reviewkit.metrics.catalogue import format_value, metric_sources
from reviewkit.project import Project
from reviewkit.publish.deliver import (
    FIRST_PAUSE,
    new_message,
    post_chat,
    send_mail,
    smtp_login,
    with_retries,
)
from reviewkit.publish.report import COMPANY
from reviewkit.publish.report.index import live_page

__all__ = ["Fired", "check_alerts"]

#: what each alert last saw, under the project
STATE: Final = Path(".reviewkit") / "alerts.json"
#: the levels each `status:` rule fires at
LEVELS: Final = {"at risk": ("at risk", "off track"), "off track": ("off track",)}


@dataclass(frozen=True)
class Fired:
    """An alert that fired: what it says, the page to open, and whether it was sent."""

    alert: str
    key: str
    message: str
    url: str
    sent: bool
    error: str = ""


@dataclass(frozen=True)
class _Seen:
    """What a rule sees of one thing: its state, whether that is alarming, the message, the page
    to open, and what happened in a few words (the subject)."""

    state: str
    alarm: bool
    message: str
    url: str
    subject: str


def check_alerts(project: Project, *, first_pause: float = FIRST_PAUSE) -> list[Fired]:
    """Evaluate every alert of the project; send and return those that fire."""
    path = project.root / STATE
    memory = _read(path)
    delivery = project.config.delivery
    if delivery is not None and delivery.email is not None:
        smtp_login(delivery.email)  # refused before any alert is sent, not after some were
    fired: list[Fired] = []
    for alert in project.config.alerts:
        seen = memory.setdefault(alert.name, {})
        for key, now in _observe(project, alert):
            before = seen.get(key)
            first = before is None
            if alert.kind == "verdicts":
                fires = not first and before != now.state  # a change, not the first sight
            else:
                fires = now.alarm and before != now.state
            if fires:
                sent = _send(project, alert, key, now, first_pause)
                fired.append(sent)
                if not sent.sent:
                    continue  # not recorded: it fires again at the next check
            seen[key] = now.state
    atomic_write({path: (json.dumps(memory, indent=2, sort_keys=True) + "\n").encode("utf-8")})
    return fired


def _read(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ReviewkitError(
            f"{shown_path(path)} cannot be read ({exc}): it records what each alert last saw; "
            "delete it, and each alert fires once more for what is alarming now"
        ) from None
    return data if isinstance(data, dict) else {}


def _observe(project: Project, alert: Alert) -> Iterator[tuple[str, _Seen]]:
    month = project.period("latest", "month")
    live = project.config.live_url
    if alert.kind == "status":
        assert alert.status is not None
        card = project.outcome_scorecard(month)
        for row in card.to_dict("records"):
            if alert.outcome and row["outcome"] != alert.outcome:
                continue
            status = str(row["status"])
            message = (
                f"{row['title']}: {row['label']} is {row['text']} in {month.label} (target to "
                f"date {row['target_text'] or 'none'}), so the outcome is {status}"
            )
            url = live_page(live, month.label, row["team"] or COMPANY)
            alarm = status in LEVELS[alert.status]
            subject = f"{row['title']} is {status}"
            yield str(row["outcome"]), _Seen(status, alarm, message, url, subject)
    elif alert.kind in ("below", "above"):
        assert alert.metric is not None and alert.value is not None
        metric = project.config.metrics[alert.metric]
        filters = {column: list(values) for column, values in alert.filters}
        series = project.kpi(
            alert.metric, grain="month", start=month.start, end=month.end, filters=filters
        )
        if series.empty or series["value"].isna().all():
            return
        value = float(series["value"].iloc[-1])
        crossed = value < alert.value if alert.kind == "below" else value > alert.value
        where = ", ".join(f"{c} = {'/'.join(v)}" for c, v in alert.filters)
        kpi = f"{metric.label}{f' ({where})' if where else ''}"
        shown = format_value(metric, value)
        message = (
            f"{kpi} is {shown} in {month.label}, {alert.kind} {format_value(metric, alert.value)}"
        )
        state = alert.kind if crossed else "within"
        key = alert.metric + "".join(f"|{c}={'/'.join(v)}" for c, v in alert.filters)
        url = live_page(live, month.label, _kpi_team(project, alert))
        subject = f"{kpi} is {alert.kind} {format_value(metric, alert.value)}: {shown}"
        yield key, _Seen(state, crossed, message, url, subject)
    elif alert.kind == "stale_days":
        assert alert.days is not None
        names = (
            sorted(metric_sources(project.config, alert.metric))
            if alert.metric
            else sorted(project.config.sources)
        )
        day = today()
        for name in names:
            through = project.workspace.source_dates(name).through
            late = (day - through).days if through is not None else None
            stale = late is None or late >= alert.days
            since = f"since {through} ({late} days)" if through else "at all"
            message = f"{name} has had no new data {since}: check the export's refresh"
            subject = f"{name} has had no new data {f'for {late} days' if through else 'at all'}"
            yield name, _Seen("stale" if stale else "fresh", stale, message, live, subject)
    else:
        for outcome in project.config.outcomes.values():
            if alert.outcome and outcome.id != alert.outcome:
                continue
            frame = project.outcome_impact(outcome.id)
            url = live_page(live, month.label, outcome.team or COMPANY)
            for row in frame.to_dict("records"):
                verdict = str(row["verdict"])
                message = (
                    f"the evidence that {row['output']} moved {outcome.title} now says: {verdict}"
                )
                subject = f"{row['output']} → {outcome.title}: the evidence now says {verdict}"
                yield f"{row['output']}→{outcome.id}", _Seen(verdict, True, message, url, subject)


def _kpi_team(project: Project, alert: Alert) -> str:
    """The review a KPI alert links: that of the team whose outcomes track this KPI (the
    metric, filtered as the alert filters it), else the company's."""
    assert alert.metric is not None
    wanted = _kpi(alert.metric, alert.filters)
    teams = {
        o.team for o in project.config.outcomes.values() if _kpi(o.metric, o.filters) == wanted
    }
    return teams.pop() if len(teams) == 1 and "" not in teams else COMPANY


def _kpi(metric: str, filters: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[str, list[Any]]:
    """A KPI as a comparable value: its metric and filters, whatever order they were given in."""
    return metric, sorted((column, sorted(values)) for column, values in filters)


def _send(project: Project, alert: Alert, key: str, seen: _Seen, first_pause: float) -> Fired:
    delivery = project.config.delivery
    subject = f"{project.config.name} alert · {seen.subject}"
    errors: list[str] = []
    if delivery is not None and delivery.email is not None:
        email = delivery.email
        for address in alert.to:

            def mail(address: str = address) -> None:
                message = new_message(email, address, subject)
                message.set_content(
                    f"{seen.message}.\n\nOpen: {seen.url}\n\n(The alert {alert.name!r} of "
                    "reviewkit.yaml)\n"
                )
                send_mail(email, message)

            outcome = with_retries(alert.name, address, mail, delivery.attempts, first_pause)
            errors += [f"{address}: {outcome.error}"] if not outcome.ok else []
    if delivery is not None and alert.chat:
        for hook in delivery.chat:

            def post(hook: Any = hook) -> None:
                post_chat(hook, subject, [seen.message], seen.url)

            to = f"{hook.format}:{hook.url_from}"
            outcome = with_retries(alert.name, to, post, delivery.attempts, first_pause)
            errors += [f"{to}: {outcome.error}"] if not outcome.ok else []
    return Fired(alert.name, key, seen.message, seen.url, not errors, "; ".join(errors))
