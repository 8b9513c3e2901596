"""Alerts after a data refresh (`reviewkit alerts --check`): each rule fires once per change,
by email through a real SMTP server and to chat webhooks (the fixtures of test_deliver), names
the KPI, the numbers and the page to open (the team's review for a team's KPI), says what
happened to what in its subject, and one that cannot be sent fires again."""

from __future__ import annotations

import datetime as dt
import shutil
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reviewkit import open_project
from reviewkit.base import clock
from reviewkit.cli import main
from tests.conftest import Hooks, Mailbox
from tests.test_deliver import DELIVERY

ALERTS = """
alerts:
  - {name: outcome at risk, status: at risk, to: [luis@northwind.example], chat: false}
  - {name: mobile NPS under 99, metric: nps, filters: {team: mobile}, below: 99}
  - {name: exports late, stale_days: 3, metric: tickets, chat: false,
     to: [ops@northwind.example]}
  - {name: onboarding verdicts, verdicts: true, outcome: onboarding-activation, chat: false,
     to: [priya@northwind.example]}
"""


@pytest.fixture
def project(sample_dir: Path, tmp_path: Path, smtp: tuple[Mailbox, int]) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    config = folder / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8") + DELIVERY.format(port=smtp[1]) + ALERTS
    config.write_text(text, encoding="utf-8")
    with open_project(folder) as opened:
        opened.import_links(folder / "data" / "links.yaml", author="importer")
    return folder


def check(project: Path) -> Any:
    return CliRunner().invoke(main, ["alerts", "--check", "--project", str(project)])


def test_alerts_fire_once_per_change_and_again_until_sent(
    project: Path, smtp: tuple[Mailbox, int], hooks: Hooks
) -> None:
    box, _ = smtp
    with open_project(project) as opened:
        card = opened.outcome_scorecard("latest")
    alarming = card[card["status"].isin(["at risk", "off track"])]
    assert len(alarming) >= 1  # the sample company has outcomes in trouble

    hooks.fail = {"/teams"}  # the NPS alert's chat cannot be sent yet
    first = check(project)
    assert first.exit_code == 1, first.output
    lines = first.output.splitlines()
    status = [line for line in lines if line.startswith("outcome at risk: ")]
    assert len(status) == len(alarming)
    row = alarming.iloc[0]
    assert f"{row['title']}: {row['label']} is {row['text']} in 2026-10" in first.output
    assert "voila/render/review.ipynb?period=2026-10" in status[0]
    (nps,) = [line for line in lines if line.startswith("mobile NPS under 99: ")]
    assert "(team = mobile) is" in nps and "in 2026-10, below 99" in nps and "NOT SENT" in nps
    assert "review.ipynb?period=2026-10&team=mobile " in nps  # the mobile team's review
    (posted,) = hooks.posted["/slack"]
    assert posted["blocks"][0]["text"]["text"].startswith(
        "Northwind Cloud alert · NPS (team = mobile) is below 99: "
    )
    (late,) = [line for line in lines if line.startswith("exports late: ")]
    assert "tickets has had no new data since 2026-11-15 (10 days)" in late
    assert not any(line.startswith("onboarding verdicts") for line in lines)  # first sight
    to = sorted(m["To"] for m in box.messages)
    assert to == sorted(["luis@northwind.example"] * len(alarming) + ["ops@northwind.example"])
    # each says what happened to which outcome, not the rule's name for all of them
    assert sorted(m["Subject"] for m in box.messages if m["To"] == "luis@northwind.example") == (
        sorted(f"Northwind Cloud alert · {r.title} is {r.status}" for r in alarming.itertuples())
    )
    (ops,) = [m for m in box.messages if m["To"] == "ops@northwind.example"]
    assert ops["Subject"] == "Northwind Cloud alert · tickets has had no new data for 10 days"
    assert abs(parsedate_to_datetime(ops["Date"]) - clock.now(dt.UTC)) < dt.timedelta(minutes=5)

    hooks.fail = set()
    second = check(project)
    assert second.exit_code == 0, second.output
    assert second.output.startswith("mobile NPS under 99: ")  # only what was not sent
    assert len(second.output.splitlines()) == 1
    assert len(hooks.posted["/teams"]) == 1

    with open_project(project) as opened:  # a link's evidence changes: judged much later
        (output,) = opened.links(outcome_id="onboarding-activation")["output_id"][:1]
        opened.link(output, "onboarding-activation", lag_days=3000)
    third = check(project)
    assert third.exit_code == 0, third.output
    (verdict,) = third.output.splitlines()
    assert verdict.startswith(f"onboarding verdicts: the evidence that {output} moved ")
    assert "now says: too early" in verdict
    assert "priya@northwind.example" in [m["To"] for m in box.messages]
    assert check(project).output == "no alert fired: nothing changed since the last check\n"


def test_a_login_refused_in_clear_text_sends_no_alert(
    project: Path, smtp: tuple[Mailbox, int], hooks: Hooks
) -> None:
    """`security: none` with an SMTP login is refused before the first alert: refused after
    some chat posts, their state unsaved, the next check posted them again."""
    config = project / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8").replace("security: starttls", "security: none")
    first = (
        "  - {name: outcome at risk, status: at risk, to: [luis@northwind.example], chat: false}\n"
    )
    assert first in text
    config.write_text(text.replace(first, ""), encoding="utf-8")  # a chat-only alert first
    for _ in range(2):
        result = check(project)
        assert result.exit_code == 1 and "would cross the network in clear text" in result.output
    assert not any(hooks.posted.values())
    assert smtp[0].messages == [] and not (project / ".reviewkit" / "alerts.json").exists()
