"""Reviews that reach people: published reviews mailed through a real SMTP server (aiosmtpd, in
this process, with STARTTLS and a login) and posted to chat webhooks (a local HTTP server), each
once; a failed send is tried again and reported, and a second delivery sends only what is
missing or what its readers would see changed, without running any review again. A message the
server has accepted is delivered, whatever goes wrong after (a QUIT answered 421, a webhook's
body broken off), the SMTP login never crosses the network in clear text, and a relay that
needs no login gets the mail without one."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from reviewkit import open_project
from reviewkit.base import clock
from reviewkit.cli import main
from reviewkit.config import ChatDelivery
from reviewkit.present import render
from reviewkit.publish import schedule
from reviewkit.publish.deliver import post_chat
from reviewkit.publish.report import run_reports
from tests.conftest import SLACK_LIMITS, TEAMS_BYTES, Hooks, Mailbox, isolate_jupyter
from tests.support.postgres import free_port
from tests.test_config import VALID_SOURCE, problems
from tests.test_report import FIXTURE, PERIOD, with_cell

pytestmark = pytest.mark.usefixtures("jupyter_dirs")

DELIVERY = """
delivery:
  email:
    server: 127.0.0.1
    port: {port}
    security: starttls
    from: "Northwind reviews <reviews@northwind.example>"
  recipients:
    billing: [luis@northwind.example]
    company: [dana@northwind.example, ceo@northwind.example]
  chat:
    - {{format: slack, url_from: TEST_SLACK_WEBHOOK}}
    - {{format: teams, url_from: TEST_TEAMS_WEBHOOK}}
  attempts: 2
"""


@pytest.fixture(scope="module")
def reviews(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample company with its October reviews of billing and the company published (with the
    small fixture notebook, for speed), once for the module: each test delivers from a copy."""
    folder = tmp_path_factory.mktemp("reviews") / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with pytest.MonkeyPatch.context() as patch:
        isolate_jupyter(folder.parent, patch)
        run = run_reports(folder, PERIOD, teams=["billing", ""], jobs=2, notebook=FIXTURE)
    assert run.ok
    return folder


@pytest.fixture
def published(reviews: Path, tmp_path: Path, smtp: tuple[Mailbox, int]) -> Path:
    """A copy of the published reviews whose reviewkit.yaml has `delivery:` (the mail server of
    ``smtp``, the webhooks of ``hooks``), nothing delivered yet."""
    folder = tmp_path / "project"
    # not the runs' views of the project (the next run makes its own): they link into `reviews`
    shutil.copytree(reviews, folder, ignore=shutil.ignore_patterns("views"))
    config = folder / "reviewkit.yaml"
    config.write_text(
        config.read_text(encoding="utf-8") + DELIVERY.format(port=smtp[1]), encoding="utf-8"
    )
    return folder


def deliver(project: Path) -> Any:
    return CliRunner().invoke(main, ["deliver", "--project", str(project), "--period", PERIOD])


def test_each_review_reaches_its_recipients_by_email_and_chat(
    published: Path, smtp: tuple[Mailbox, int], hooks: Hooks
) -> None:
    box, _ = smtp
    result = deliver(published)
    assert result.exit_code == 0, result.output
    assert sorted(m["To"] for m in box.messages) == [
        "ceo@northwind.example",
        "dana@northwind.example",
        "luis@northwind.example",
    ]
    assert box.logins == ["mailer"] * 3  # logged in, over TLS (required by the server)
    (luis,) = [m for m in box.messages if m["To"] == "luis@northwind.example"]
    assert luis["Subject"] == "Northwind Cloud review · billing · 2026-10"
    assert luis["From"] == "Northwind reviews <reviews@northwind.example>"
    sent_at = parsedate_to_datetime(luis["Date"])  # reviewkit's clock, not the machine's date
    assert abs(sent_at - clock.now(dt.UTC)) < dt.timedelta(minutes=5), luis["Date"]
    body = luis.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<table" in body and "Fewer billing-team customers churn" in body  # the scorecard
    assert "voila/render/review.ipynb?period=2026-10&amp;team=billing" in body
    (attached,) = list(luis.iter_attachments())
    assert attached.get_filename() == "billing.html"
    sent = attached.get_payload(decode=True)
    assert sent == (published / "reports" / PERIOD / "billing.html").read_bytes()
    slack = hooks.posted["/slack"]
    assert [m["blocks"][0]["text"]["text"] for m in slack] == [
        "Northwind Cloud review · billing · 2026-10",
        "Northwind Cloud review · company · 2026-10",
    ]
    assert "review.ipynb?period=2026-10&team=billing" in slack[0]["text"]
    teams = hooks.posted["/teams"]
    assert teams[0]["@type"] == "MessageCard"
    assert teams[0]["potentialAction"][0]["targets"][0]["uri"].endswith(
        "period=2026-10&team=billing"
    )
    assert "billing → luis@northwind.example: sent (try 1)" in result.output
    # the default live_url opens on the serving machine only: the links in the messages too
    assert "note: the messages link the live pages at http://127.0.0.1:8866/" in result.stderr
    again = deliver(published)  # nothing sent: nothing to note
    assert "already delivered" in again.output and "note:" not in again.stderr


def test_links_to_a_live_url_people_can_open_need_no_note(
    published: Path, smtp: tuple[Mailbox, int], hooks: Hooks
) -> None:
    config = published / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8")
    config.write_text(f"live_url: https://reviews.example.com/\n{text}", encoding="utf-8")
    result = deliver(published)
    assert result.exit_code == 0, result.output
    assert (
        "https://reviews.example.com/voila/render/review.ipynb?period=2026-10"
        in (hooks.posted["/slack"][0]["text"])
    )
    assert "note:" not in result.stderr


def test_the_pdf_is_printed_and_attached_when_asked(
    published: Path, smtp: tuple[Mailbox, int], hooks: Hooks
) -> None:
    if shutil.which("chromium") is None and os.environ.get("CI") != "true":
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    config = published / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8").replace("starttls\n", "starttls\n    pdf: true\n")
    config.write_text(text, encoding="utf-8")
    result = deliver(published)
    assert result.exit_code == 0, result.output
    (luis,) = [m for m in smtp[0].messages if m["To"] == "luis@northwind.example"]
    page, pdf = list(luis.iter_attachments())
    assert (page.get_filename(), pdf.get_filename()) == ("billing.html", "billing.pdf")
    assert pdf.get_content_type() == "application/pdf"
    printed = published / "reports" / PERIOD / "billing.pdf"  # beside the review, for the index
    assert pdf.get_payload(decode=True) == printed.read_bytes()
    assert printed.read_bytes().startswith(b"%PDF")


def test_a_failed_delivery_is_retried_reported_and_never_sent_twice(
    published: Path, smtp: tuple[Mailbox, int], hooks: Hooks
) -> None:
    box, _ = smtp
    box.refuse = {"luis@northwind.example"}  # one 451, then accepted
    hooks.fail = {"/teams"}  # down for the whole first delivery
    page = published / "reports" / PERIOD / "billing.html"
    published_at = page.stat().st_mtime_ns
    first = deliver(published)
    assert first.exit_code == 1
    assert "billing → luis@northwind.example: sent (try 2)" in first.output
    assert (
        "billing → teams:TEST_TEAMS_WEBHOOK: not delivered after 2 tries: the teams "
        "webhook answered HTTP 500" in first.output
    )
    assert len(box.messages) == 3 and len(hooks.posted["/slack"]) == 2

    hooks.fail = set()
    second = deliver(published)
    assert second.exit_code == 0, second.output
    assert len(box.messages) == 3 and len(hooks.posted["/slack"]) == 2  # nothing twice
    assert len(hooks.posted["/teams"]) == 2  # what was missing
    assert "billing → luis@northwind.example: already delivered" in second.output
    assert page.stat().st_mtime_ns == published_at  # no review ran again
    ledger = json.loads((published / "reports" / PERIOD / "billing.delivery.json").read_text())
    assert set(ledger) == {
        "luis@northwind.example",
        "slack:TEST_SLACK_WEBHOOK",
        "teams:TEST_TEAMS_WEBHOOK",
    }


def test_delivery_secrets_stay_out_of_reviewkit_yaml(write_config) -> None:
    text = (
        VALID_SOURCE
        + """\
metrics:
  n: {source: tickets, agg: count}
delivery:
  chat:
    - {format: slack, url_from: "https://hooks.slack.com/services/T0/B0/secret"}
    - {format: discord, url_from: X}
  recipients:
    billing: [luis, "a@b.io"]
"""
    )
    assert problems(write_config, text) == [
        "reviewkit.yaml:9:1: delivery: recipients are given but no `email:` server to send through",
        "reviewkit.yaml:11:23: delivery.chat.0.url_from: give the name of the environment "
        "variable that holds the webhook's URL (e.g. REVIEWKIT_SLACK_WEBHOOK), not the URL: it "
        "is a secret and reviewkit.yaml is not",
        "reviewkit.yaml:12:8: delivery.chat.1.format: 'discord' is not one of: slack, teams",
        "reviewkit.yaml:14:15: delivery.recipients.billing.0: 'luis' is not an email address "
        "(name@example.com)",
    ]


def test_without_delivery_the_command_says_what_to_add(sample_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    run_reports(folder, PERIOD, teams=["billing"], notebook=FIXTURE)
    with open_project(folder):
        pass
    result = deliver(folder)
    assert result.exit_code == 1
    assert "reviewkit.yaml has no `delivery:` section" in result.output


def charted(tmp_path: Path) -> Path:
    """The fixture notebook with a chart drawn as the review notebook draws its charts."""
    chart = [
        "import altair as alt\n",
        "import pandas as pd\n",
        "from reviewkit.present import render\n",
        "render.enable()\n",
        'alt.Chart(pd.DataFrame({"month": [period], "churn": [0.03]})).mark_point().encode(\n',
        '    x="month", y="churn"\n',
        ")",
    ]
    return with_cell(FIXTURE, tmp_path, "charted", chart)


def test_a_scheduled_run_delivers_what_it_published(
    published: Path,
    smtp: tuple[Mailbox, int],
    hooks: Hooks,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The scheduler sends each review it publishes, logs each message it sent, skipped or could
    not send, and records what could not be sent; a changed cron day runs the month again and
    sends only what was missing; over two months with a re-run, each review reaches each
    recipient once."""
    box, _ = smtp
    hooks.fail = {"/slack"}
    notebook = charted(tmp_path)

    def small_run(project_dir: Path, period: str, **_: Any) -> Any:  # the fixture, with a chart
        return run_reports(project_dir, period, teams=["billing", ""], jobs=2, notebook=notebook)

    monkeypatch.setattr(schedule, "run_reports", small_run)
    log: list[str] = []
    (run,) = schedule.run_schedule(
        published,
        "0 6 1 * *",
        once=True,
        clock=lambda: dt.datetime(2026, 11, 1, 6, 5),
        progress=log.append,
    )
    assert run.period == PERIOD and run.ok
    assert sorted(m["To"] for m in box.messages) == [
        "ceo@northwind.example",
        "dana@northwind.example",
        "luis@northwind.example",
    ]
    assert run.undelivered == (
        "billing → slack:TEST_SLACK_WEBHOOK: the slack webhook answered HTTP 500",
        "company → slack:TEST_SLACK_WEBHOOK: the slack webhook answered HTTP 500",
    )
    state = json.loads((published / ".reviewkit" / "schedule.json").read_text(encoding="utf-8"))
    assert state["runs"][-1]["undelivered"] == list(run.undelivered)
    failed = "not delivered after 2 tries: the slack webhook answered HTTP 500"
    assert [line for line in log if "→" in line] == [
        "billing → luis@northwind.example: sent (try 1)",
        f"billing → slack:TEST_SLACK_WEBHOOK: {failed}",
        "billing → teams:TEST_TEAMS_WEBHOOK: sent (try 1)",
        "company → dana@northwind.example: sent (try 1)",
        "company → ceo@northwind.example: sent (try 1)",
        f"company → slack:TEST_SLACK_WEBHOOK: {failed}",
        "company → teams:TEST_TEAMS_WEBHOOK: sent (try 1)",
    ]

    hooks.fail = set()  # the cron day moves to the 2nd: October runs again
    log.clear()
    (again,) = schedule.run_schedule(
        published,
        "0 6 2 * *",
        once=True,
        clock=lambda: dt.datetime(2026, 11, 2, 6, 5),
        progress=log.append,
    )
    assert again.period == PERIOD and again.ok and again.undelivered == ()
    assert len(box.messages) == 3 and len(hooks.posted["/teams"]) == 2  # nothing twice
    assert [line for line in log if "→" in line] == [
        "billing → luis@northwind.example: already delivered",
        "billing → slack:TEST_SLACK_WEBHOOK: sent (try 1)",
        "billing → teams:TEST_TEAMS_WEBHOOK: already delivered",
        "company → dana@northwind.example: already delivered",
        "company → ceo@northwind.example: already delivered",
        "company → slack:TEST_SLACK_WEBHOOK: sent (try 1)",
        "company → teams:TEST_TEAMS_WEBHOOK: already delivered",
    ]

    # the next month, then November again (its record deleted, as the docs allow): each review
    # of each month reached each recipient once, counted at the mail server
    for day in (dt.datetime(2026, 12, 2, 6, 5), dt.datetime(2026, 12, 2, 7, 0)):
        (run,) = schedule.run_schedule(published, "0 6 2 * *", once=True, clock=lambda day=day: day)
        assert run.period == "2026-11" and run.ok and run.undelivered == ()
        (published / ".reviewkit" / "schedule.json").unlink()
    received = Counter((m["Subject"], m["To"]) for m in box.messages)
    assert set(received.values()) == {1}
    assert sorted(received) == sorted(
        (f"Northwind Cloud review · {review} · {month}", to)
        for month in (PERIOD, "2026-11")
        for review, to in (
            ("billing", "luis@northwind.example"),
            ("company", "dana@northwind.example"),
            ("company", "ceo@northwind.example"),
        )
    )
    assert len(hooks.posted["/teams"]) == 4


def chart_page(title: str, churn: list[float], style: str = "margin:2rem") -> str:
    """A published review with one chart, as the review notebook draws its charts (each time
    with new element ids) and the chart library inline; ``style``, as another version of
    reviewkit might style the page."""
    frame = pd.DataFrame({"month": ["2026-09", "2026-10"], "churn": churn})
    chart = alt.Chart(frame).mark_line().encode(x="month", y="churn")
    return render.page([chart], title=title).replace("margin:2rem", style)


def test_a_review_is_sent_again_only_when_what_its_readers_see_changed(
    published: Path, smtp: tuple[Mailbox, int], hooks: Hooks
) -> None:
    """Every re-run sent every review again: the ledger knew a review by its page's bytes, and
    each re-run's chart ids were new. A page whose words and charts are the same is not sent
    again, whatever its bytes; one whose numbers or words changed is sent again, as updated,
    to each recipient and webhook that had it."""
    box, _ = smtp
    page = published / "reports" / PERIOD / "billing.html"
    page.write_text(chart_page("Billing review", [2.1, 2.0]), encoding="utf-8")
    assert deliver(published).exit_code == 0
    assert len(box.messages) == 3 and len(hooks.posted["/slack"]) == 2

    first = page.read_text(encoding="utf-8")
    page.write_text(chart_page("Billing review", [2.1, 2.0], "margin: 2rem"), encoding="utf-8")
    assert page.read_text(encoding="utf-8") != first  # other bytes, the same words and chart
    rerun = deliver(published)
    assert rerun.exit_code == 0, rerun.output
    assert rerun.output.count(": already delivered") == 7
    assert len(box.messages) == 3 and len(hooks.posted["/slack"]) == 2

    updated = "Northwind Cloud review · billing · 2026-10 (updated)"
    for title, churn, sent in (
        ("Billing review", [2.1, 1.8], 4),  # a number in the chart changed
        ("Billing review, corrected", [2.1, 1.8], 5),  # a word changed
    ):
        page.write_text(chart_page(title, churn), encoding="utf-8")
        changed = deliver(published)
        assert changed.exit_code == 0, changed.output
        assert "billing → luis@northwind.example: updated, sent again (try 1)" in changed.output
        assert "company → dana@northwind.example: already delivered" in changed.output
        assert [m["Subject"] for m in box.messages[3:]] == [updated] * (sent - 3)
        assert [m["To"] for m in box.messages[3:]] == ["luis@northwind.example"] * (sent - 3)
        assert [p["blocks"][0]["text"]["text"] for p in hooks.posted["/slack"][2:]] == [updated] * (
            sent - 3
        )
        assert [p["title"] for p in hooks.posted["/teams"][2:]] == [updated] * (sent - 3)
    (attached,) = list(box.messages[-1].iter_attachments())
    assert attached.get_payload(decode=True) == page.read_bytes()  # the review as it is now


def test_ledgers_of_an_earlier_reviewkit_send_nothing_again(
    published: Path, smtp: tuple[Mailbox, int], hooks: Hooks
) -> None:
    """A ledger written before (each recipient keyed on the page's bytes, which a re-run
    changed) is taken to hold what each recipient has: upgrading sends no review again; it is
    rewritten, so a later change is seen and sent as updated."""
    box, _ = smtp
    folder = published / "reports" / PERIOD
    chats = ["slack:TEST_SLACK_WEBHOOK", "teams:TEST_TEAMS_WEBHOOK"]
    recipients = {
        "billing": ["luis@northwind.example", *chats],
        "company": ["dana@northwind.example", "ceo@northwind.example", *chats],
    }
    sent_at = "2026-11-01T06:05:00+00:00"
    for review, to in recipients.items():
        old = {name: {"sha256": "0" * 64, "sent_at": sent_at} for name in to}
        (folder / f"{review}.delivery.json").write_text(json.dumps(old), encoding="utf-8")
    upgraded = deliver(published)
    assert upgraded.exit_code == 0, upgraded.output
    assert upgraded.output.count(": already delivered") == 7
    assert box.messages == [] and hooks.posted == {}
    ledger = json.loads((folder / "billing.delivery.json").read_text(encoding="utf-8"))
    assert ledger["luis@northwind.example"]["sent_at"] == sent_at
    assert set(ledger["luis@northwind.example"]) == {"seen_sha256", "sent_at"}

    page = folder / "billing.html"
    page.write_text(page.read_text(encoding="utf-8").replace("done", "redone"), encoding="utf-8")
    changed = deliver(published)
    assert changed.exit_code == 0, changed.output
    assert [m["Subject"] for m in box.messages] == [
        "Northwind Cloud review · billing · 2026-10 (updated)"
    ]


def test_a_relay_that_needs_no_login_gets_the_mail_without_one(
    published: Path, smtp_relay: tuple[Mailbox, int], hooks: Hooks
) -> None:
    """No REVIEWKIT_SMTP_USER: the mail goes to a relay that offers no login (over STARTTLS)."""
    box, port = smtp_relay
    config = published / "reviewkit.yaml"
    text = re.sub(r"port: \d+", f"port: {port}", config.read_text(encoding="utf-8"), count=1)
    config.write_text(text, encoding="utf-8")
    result = deliver(published)
    assert result.exit_code == 0, result.output
    assert len(box.messages) == 3 and box.logins == []


def test_a_long_summary_fits_in_slack_and_teams_messages(hooks: Hooks) -> None:
    """A company of a dozen outcomes has a summary over 3,000 characters, more than a Slack
    section holds: Slack refused the message (400). It goes in several sections now, each
    within Slack's limits, and what would not fit in a message at all (or in a Teams card) is
    left to the review, whose button the message keeps."""
    url = "http://127.0.0.1:8866/voila/render/review.ipynb?period=2026-10"
    outcome = "Customers stay with Northwind: retention is 97.1% in 2026-10, +0.4 pp on 2026-09 "
    lines = [f"{outcome}(better), and {n} more words to say about it." * 3 for n in range(12)]
    slack = ChatDelivery(format="slack", url_from="TEST_SLACK_WEBHOOK")
    teams = ChatDelivery(format="teams", url_from="TEST_TEAMS_WEBHOOK")
    subject = "Northwind Cloud review · company · 2026-10"
    for hook in (slack, teams):
        post_chat(hook, subject, lines, url)  # refused past the limits (tests/conftest.py)
    (message,) = hooks.posted["/slack"]
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert len(sections) >= 2 and all(len(s) <= SLACK_LIMITS["section"] for s in sections)
    assert "\n".join(sections).splitlines() == [f"• {line}" for line in lines]  # all of it
    assert message["blocks"][-1]["elements"][0]["url"] == url

    long_title = "A goal whose title goes on and on " * 10
    many = [f"{long_title}: {line}" for line in lines * 8]
    for hook in (slack, teams):
        post_chat(hook, f"{long_title} is off track", many, url)
    message = hooks.posted["/slack"][-1]
    assert len(message["blocks"]) <= SLACK_LIMITS["blocks"]
    assert message["blocks"][0]["text"]["text"].endswith("…")  # the header, cut
    shown = "\n".join(b["text"]["text"] for b in message["blocks"] if b["type"] == "section")
    assert shown.splitlines()[-1].startswith("… and ") and "more in the review" in shown
    card = hooks.posted["/teams"][-1]
    assert len(json.dumps(card).encode()) <= TEAMS_BYTES
    assert card["text"].endswith("more in the review")
    assert card["potentialAction"][0]["targets"][0]["uri"] == url


@contextmanager
def mail_server(box: Mailbox, project: Path, security: str, **options: Any) -> Iterator[None]:
    """``box`` on an aiosmtpd server of its own on loopback, which the project's `delivery:
    email:` now reaches with ``security``."""
    port = free_port()
    config = project / "reviewkit.yaml"
    text = re.sub(
        r"port: \d+\n    security: starttls",
        f"port: {port}\n    security: {security}",
        config.read_text(encoding="utf-8"),
    )
    config.write_text(text, encoding="utf-8")
    controller = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=box.authenticate, **options
    )
    controller.start()
    try:
        yield
    finally:
        controller.stop()


def recorded(project: Path) -> set[str]:
    """Who the delivery ledgers of the October reviews say has each review."""
    found: set[str] = set()
    for ledger in (project / "reports" / PERIOD).glob("*.delivery.json"):
        found |= set(json.loads(ledger.read_text(encoding="utf-8")))
    return found


@dataclass
class QuitRefused(Mailbox):
    """Accepts each message (250 to its data), then answers QUIT with 421 and hangs up, as a
    server going down does; notes at each QUIT whether the delivery ledger already has the
    recipient of the message it has just accepted."""

    project: Path = Path()
    recorded_by_quit: list[bool] = field(default_factory=list)

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        self.recorded_by_quit.append(self.messages[-1]["To"] in recorded(self.project))
        return "421 4.3.2 service shutting down"


def test_a_message_the_server_accepted_is_delivered_once_though_its_quit_fails(
    published: Path, hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REVIEWKIT_SMTP_USER")  # a relay without a login: the QUIT is the point
    box = QuitRefused(project=published)
    with mail_server(box, published, "none"):
        first = deliver(published)
        assert first.exit_code == 0, first.output
        assert "billing → luis@northwind.example: sent (try 1)" in first.output
        second = deliver(published)
    assert second.exit_code == 0, second.output
    assert "billing → luis@northwind.example: already delivered" in second.output
    assert sorted(m["To"] for m in box.messages) == [  # one copy each, over both deliveries
        "ceo@northwind.example",
        "dana@northwind.example",
        "luis@northwind.example",
    ]
    assert box.recorded_by_quit == [True] * 3  # recorded as soon as the server had it
    assert {"ceo@northwind.example", "luis@northwind.example"} <= recorded(published)


def test_a_webhook_that_answered_2xx_then_broke_off_is_delivered_once(
    published: Path, hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted: list[dict[str, Any]] = []

    class BrokenOff(BaseHTTPRequestHandler):
        """200 and its headers, then the connection closed 98 bytes into a 100-byte body."""

        def do_POST(self) -> None:
            posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"ok")
            self.close_connection = True

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), BrokenOff)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("TEST_SLACK_WEBHOOK", f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        first = deliver(published)
        second = deliver(published)
    finally:
        server.shutdown()
        server.server_close()
    assert first.exit_code == 0, first.output
    assert "billing → slack:TEST_SLACK_WEBHOOK: sent (try 1)" in first.output
    assert [p["blocks"][0]["text"]["text"] for p in posted] == [  # once each, over both
        "Northwind Cloud review · billing · 2026-10",
        "Northwind Cloud review · company · 2026-10",
    ]
    assert second.exit_code == 0, second.output
    assert "company → slack:TEST_SLACK_WEBHOOK: already delivered" in second.output
    assert "slack:TEST_SLACK_WEBHOOK" in recorded(published)


@dataclass
class AuthInClear(Mailbox):
    """Offers AUTH without TLS (aiosmtpd's ``auth_require_tls=False``); notes each client that
    greets it and each AUTH it is sent."""

    greeted: list[str] = field(default_factory=list)
    auths: list[str] = field(default_factory=list)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.greeted.append(hostname)
        session.host_name = hostname  # what aiosmtpd does without this hook
        return responses

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        self.auths.append(mechanism)
        return super().authenticate(server, session, envelope, mechanism, data)


def test_the_smtp_login_never_crosses_the_network_in_clear(published: Path, hooks: Hooks) -> None:
    box = AuthInClear()
    with mail_server(box, published, "none", auth_require_tls=False):
        refused = deliver(published)
        assert refused.exit_code == 1
        assert box.greeted == [] and box.auths == []  # refused before connecting
        assert hooks.posted == {}  # nor was anything else sent
        said = " ".join(refused.output.split())
        assert (
            "$REVIEWKIT_SMTP_USER is set, but reviewkit.yaml says `delivery: email: security: "
            "none`: the login and password would cross the network in clear text to 127.0.0.1:"
        ) in said
        assert "add `allow_plaintext_auth: true` under `delivery: email:`" in said
        config = published / "reviewkit.yaml"  # a relay on this machine may take it in clear
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text.replace("security: none\n", "security: none\n    allow_plaintext_auth: true\n"),
            encoding="utf-8",
        )
        allowed = deliver(published)
    assert allowed.exit_code == 0, allowed.output
    assert box.auths == ["PLAIN"] * 3 and box.logins == ["mailer"] * 3
    assert len(box.messages) == 3


def test_plaintext_auth_is_only_for_a_relay_on_this_machine(write_config) -> None:
    text = (
        VALID_SOURCE
        + """\
metrics:
  n: {source: tickets, agg: count}
delivery:
  email:
    server: smtp.example.com
    security: none
    from: reviews@example.com
    allow_plaintext_auth: true
"""
    )
    assert problems(write_config, text) == [
        "reviewkit.yaml:14:5: delivery.email.allow_plaintext_auth: only for a mail relay on this "
        "machine (server: localhost or 127.0.0.1): the SMTP login and password would cross the "
        "network to smtp.example.com in clear text, where anyone on the way can read them; "
        "remove it and set `security: starttls` (or ssl)"
    ]
