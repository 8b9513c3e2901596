"""Published reviews that reach people (`delivery:` in reviewkit.yaml): each review by email to
its recipients (an HTML body with the scorecard inline, the full review attached, its PDF too
if asked), and a summary with a link to the live page to chat webhooks (Slack, Microsoft Teams).

>>> deliver(project, "2026-10", Path("reports/2026-10"), ["billing", "company"])

Each message is sent once: what was delivered is recorded beside the review
(``<review>.delivery.json``: per recipient or webhook, the digest of what the review's readers
saw, :func:`reviewkit.publish.html.reader_digest`) as soon as the server has it (the mail server's
250 to its data, the webhook's 2xx), so what a server accepted is never sent again, whatever goes
wrong after (a QUIT answered 421, a connection broken off). A second call sends only what is
missing, or a review whose numbers or words changed since (its subject then says "updated"):
a review re-run over the same inputs is not sent again, whatever bytes its page came out as,
and no review runs again. A ledger written by an earlier reviewkit, keyed on the page's bytes
(which every re-run changed), is taken to hold what each of its recipients has, so upgrading
sends nothing again. A failed send is tried again (``attempts``, waiting longer each time) and
then reported; the others go on. Secrets come from the environment, never from reviewkit.yaml:
``$REVIEWKIT_SMTP_USER``/``$REVIEWKIT_SMTP_PASSWORD`` (unset: no login, for a relay that needs
none) and each webhook's ``url_from`` variable; the login goes over TLS only, or in clear text to
a relay on this machine that ``allow_plaintext_auth: true`` names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import html
import http.client
import json
import os
import smtplib
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any, Final

from reviewkit.base.clock import now
from reviewkit.base.errors import ReviewkitError, shown_path
from reviewkit.base.files import atomic_write
from reviewkit.config import ChatDelivery, Delivery, EmailDelivery, is_loopback
from reviewkit.present import narrative
from reviewkit.project import Project
from reviewkit.publish.html import reader_digest
from reviewkit.publish.report import COMPANY
from reviewkit.publish.report.index import live_page
from reviewkit.publish.report.pdf import find_chromium, print_pdf

__all__ = [
    "DeliveryError",
    "DeliveryRun",
    "Sent",
    "deliver",
    "new_message",
    "post_chat",
    "send_mail",
    "with_retries",
]

SMTP_USER_ENV: Final = "REVIEWKIT_SMTP_USER"
SMTP_PASSWORD_ENV: Final = "REVIEWKIT_SMTP_PASSWORD"  # noqa: S105 (the variable's name)
#: beside ``<review>.html``: what was delivered of it, to whom
LEDGER: Final = ".delivery.json"
#: a ledger entry's digest of what the review's readers saw (:func:`reader_digest`)
SEEN_KEY: Final = "seen_sha256"
#: the digest of the page's bytes, in the ledgers of an earlier reviewkit
BYTES_KEY: Final = "sha256"
#: seconds before the second try of a failed send (doubling after that)
FIRST_PAUSE: Final = 2.0
TIMEOUT: Final = 30.0
#: Slack refuses a section whose text is over 3,000 characters, a header over 150, and a message
#: of more than 50 blocks, or (measured by others, not documented) with more than about 13,000
#: characters in all its blocks
SLACK_SECTION: Final = 3000
SLACK_HEADER: Final = 150
SLACK_TEXT: Final = 12_000
#: Microsoft Teams refuses a webhook message over 28 KB (HTTP 413; some 21 KB as others
#: measured it): the summary's share of it, in bytes of JSON
TEAMS_TEXT: Final = 18_000


@dataclass(frozen=True)
class Sent:
    """One message of one review: to an email address or a webhook (``slack:VARIABLE``)."""

    review: str
    to: str
    ok: bool
    attempts: int = 0
    #: delivered before, unchanged: not sent again
    already: bool = False
    #: an earlier version was delivered: this one was sent as updated
    updated: bool = False
    error: str = ""

    def line(self) -> str:
        """What happened, as `reviewkit deliver` and the scheduler's log say it:
        ``billing → luis@example.com: sent (try 1)``."""
        if self.already:
            how = "already delivered"
        elif not self.ok:
            how = f"not delivered after {self.attempts} tries: {self.error}"
        elif self.updated:
            how = f"updated, sent again (try {self.attempts})"
        else:
            how = f"sent (try {self.attempts})"
        return f"{self.review} → {self.to}: {how}"


@dataclass(frozen=True)
class DeliveryRun:
    period: str
    sent: tuple[Sent, ...]
    #: what the people who run the delivery should know (links that point at this machine)
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.sent)

    @property
    def failed(self) -> tuple[Sent, ...]:
        return tuple(s for s in self.sent if not s.ok)


class DeliveryError(ReviewkitError):
    """A message that could not be sent (its try is reported, and tried again)."""


def deliver(
    project: Project,
    period: str,
    directory: Path,
    reviews: Sequence[str],
    *,
    first_pause: float = FIRST_PAUSE,
) -> DeliveryRun:
    """Send the published reviews ``reviews`` (team names, or ``company``) of ``period`` in
    ``directory`` as `delivery:` says; raises :class:`ReviewkitError` when the project has no
    `delivery:` or a review is not published."""
    delivery = project.config.delivery
    if delivery is None:
        raise ReviewkitError(
            "reviewkit.yaml has no `delivery:` section: say who gets each review (see "
            "docs/guide/schedule.md)"
        )
    if delivery.email is not None:
        smtp_login(delivery.email)  # a login in clear text is refused before anything is sent
    chromium = None  # to print each review's PDF, when the mails attach it
    if delivery.email is not None and delivery.email.pdf:
        chromium = find_chromium("`delivery: email: pdf: true` (or set it to false)")
    sent: list[Sent] = []
    for review in reviews:
        page = directory / f"{review}.html"
        if not page.is_file():
            raise ReviewkitError(
                f"{shown_path(page)} is not published: run `reviewkit report --period {period}` "
                "first"
            )
        content = _Review(project, period, review, page, chromium)
        ledger = _Ledger(directory / f"{review}{LEDGER}", content.digest)
        for to, send in _channels(delivery, content, ledger):
            had = ledger.had(to)
            if had == content.digest:
                sent.append(Sent(review, to, ok=True, already=True))
                continue
            updated = had is not None
            tried = with_retries(
                review, to, functools.partial(send, updated), delivery.attempts, first_pause
            )
            sent.append(dataclasses.replace(tried, updated=updated))
    return DeliveryRun(period, tuple(sent), _notes(project, sent))


def _notes(project: Project, sent: Sequence[Sent]) -> tuple[str, ...]:
    """A note when messages went out with links to `live_url` on this machine only."""
    host = urllib.parse.urlsplit(project.config.live_url).hostname or ""
    if not is_loopback(host) or not any(s.ok and not s.already for s in sent):
        return ()
    return (
        f"the messages link the live pages at {project.config.live_url}, which opens only on "
        "the machine that serves them: set `live_url:` in reviewkit.yaml to the address people "
        "open `reviewkit serve` at (docs/guide/schedule.md)",
    )


class _Review:
    """What the messages of one review say."""

    def __init__(
        self, project: Project, period: str, review: str, page: Path, chromium: str | None
    ) -> None:
        self.project, self.period, self.review, self.page = project, period, review, page
        self.chromium = chromium
        self.body = page.read_bytes()
        self.digest = reader_digest(self.body.decode("utf-8", errors="replace"))
        team = None if review == COMPANY else review
        self.team = team
        self.url = live_page(project.config.live_url, period, review)
        self.summary = narrative.executive_summary(project, period, team)
        self.scorecard = narrative.scorecard_table(project, period, team).markup

    def pdf(self) -> Path:
        """The review as PDF beside it (``reviewkit report --pdf`` prints it), printed now if
        it is missing or older than the review; a DeliveryError if it cannot be."""
        pdf = self.page.with_suffix(".pdf")
        if pdf.is_file() and pdf.stat().st_mtime_ns >= self.page.stat().st_mtime_ns:
            return pdf
        assert self.chromium is not None, "deliver() finds chromium for PDFs"
        try:
            print_pdf(self.chromium, self.page, pdf)
        except (subprocess.SubprocessError, OSError) as exc:
            raise DeliveryError(f"could not print {shown_path(pdf)} to attach: {exc}") from None
        return pdf

    def subject(self, updated: bool) -> str:
        """``Northwind review · billing · 2026-10``, and ``(updated)`` for a review sent again
        because its numbers or words changed."""
        name = self.project.config.name
        return f"{name} review · {self.review} · {self.period}" + (" (updated)" if updated else "")

    def html(self, subject: str) -> str:
        points = "".join(f"<li>{narrative.marked(line)}</li>" for line in self.summary)
        return (
            "<!doctype html><html><body style='font-family: sans-serif'>"
            f"<h2>{html.escape(subject)}</h2>"
            + (f"<ul>{points}</ul>" if points else "")
            + self.scorecard
            + f"<p><a href='{html.escape(self.url)}'>Open the live review</a> · the full "
            "review is attached.</p></body></html>"
        )

    def text(self, subject: str) -> str:
        lines = [subject, "", *(f"- {line}" for line in self.summary)]
        return "\n".join(
            [*lines, "", f"The live review: {self.url}", "The full review is attached."]
        )


def _channels(
    delivery: Delivery, review: _Review, ledger: _Ledger
) -> list[tuple[str, Callable[[bool], None]]]:
    """Each recipient and webhook of ``review`` with its send (given whether the message is an
    update), which records it in ``ledger`` as soon as the server has the message."""
    channels: list[tuple[str, Callable[[bool], None]]] = []
    email = delivery.email
    if email is not None:
        for address in delivery.recipients.get(review.review, ()):
            channels.append((address, functools.partial(_mail, email, review, address, ledger)))
    for hook in delivery.chat:
        to = f"{hook.format}:{hook.url_from}"
        channels.append((to, functools.partial(_post, hook, review, to, ledger)))
    return channels


def _mail(
    email: EmailDelivery, review: _Review, address: str, ledger: _Ledger, updated: bool
) -> None:
    subject = review.subject(updated)
    message = new_message(email, address, subject)
    message.set_content(review.text(subject))
    message.add_alternative(review.html(subject), subtype="html")
    message.add_attachment(  # bytes: sent base64, so it arrives byte for byte
        review.body, maintype="text", subtype="html", filename=review.page.name
    )
    if email.pdf:
        pdf = review.pdf()
        message.add_attachment(
            pdf.read_bytes(), maintype="application", subtype="pdf", filename=pdf.name
        )
    send_mail(email, message, accepted=lambda: ledger.record(address))


def new_message(email: EmailDelivery, to: str, subject: str) -> EmailMessage:
    """An email from the `delivery: email:` sender to ``to``, dated by reviewkit's clock, its
    subject on one line (whatever line breaks the names in it hold)."""
    message = EmailMessage()
    message["Subject"] = " ".join(subject.split())
    message["From"] = email.sender
    message["To"] = to
    message["Date"] = format_datetime(now(dt.UTC).astimezone())
    message["Message-ID"] = make_msgid(domain="reviewkit")
    return message


def send_mail(
    email: EmailDelivery, message: EmailMessage, accepted: Callable[[], None] | None = None
) -> None:
    """Send ``message`` through the configured SMTP server (TLS as configured, the server's
    certificate verified, the login from the environment); a failure is a DeliveryError.

    The message is delivered once the server has accepted its data: ``accepted`` is called
    then, and what goes wrong after (the server answering QUIT with 421, or hanging up) is no
    failure: sending the message again would deliver it twice."""
    login = smtp_login(email)
    context = ssl.create_default_context()
    try:
        if email.security == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                email.server, email.port, timeout=TIMEOUT, context=context
            )
        else:
            server = smtplib.SMTP(email.server, email.port, timeout=TIMEOUT)
    except (OSError, smtplib.SMTPException) as exc:
        raise _mail_failed(email, exc) from None
    try:
        try:
            if email.security == "starttls":
                server.starttls(context=context)
            if login is not None:
                server.login(*login)
            server.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise _mail_failed(email, exc) from None
        if accepted is not None:
            accepted()
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            server.quit()  # whatever it answers: the message is accepted, or refused, already
        server.close()


def smtp_login(email: EmailDelivery) -> tuple[str, str] | None:
    """The SMTP login from the environment, None without ``$REVIEWKIT_SMTP_USER``; a
    ReviewkitError when it would cross the network in clear text."""
    user = os.environ.get(SMTP_USER_ENV)
    if not user:
        return None
    if email.security == "none" and not email.allow_plaintext_auth:
        raise ReviewkitError(
            f"${SMTP_USER_ENV} is set, but reviewkit.yaml says `delivery: email: security: "
            "none`: the login and password would cross the network in clear text to "
            f"{email.server}:{email.port}, where anyone on the way can read them. Set "
            "`security: starttls` (or ssl) if the server offers TLS; for a mail relay on this "
            "machine (server: localhost or 127.0.0.1), add `allow_plaintext_auth: true` under "
            f"`delivery: email:`; for a server that needs no login, unset ${SMTP_USER_ENV}"
        )
    return user, os.environ.get(SMTP_PASSWORD_ENV, "")


def _mail_failed(email: EmailDelivery, exc: Exception) -> DeliveryError:
    return DeliveryError(f"the mail server {email.server}:{email.port} refused or failed: {exc}")


def _post(hook: ChatDelivery, review: _Review, to: str, ledger: _Ledger, updated: bool) -> None:
    subject = review.subject(updated)
    post_chat(hook, subject, review.summary, review.url, accepted=lambda: ledger.record(to))


def post_chat(
    hook: ChatDelivery,
    subject: str,
    lines: Sequence[str],
    url: str,
    accepted: Callable[[], None] | None = None,
) -> None:
    """Post ``subject``, ``lines`` and a button to ``url`` to the webhook, in its format; a
    failure is a DeliveryError.

    The message is delivered once the webhook answers 2xx: ``accepted`` is called then, and
    the rest of the answer is not read (a connection broken off in its body is no failure:
    posting again would post twice)."""
    address = os.environ.get(hook.url_from, "")
    if not address:
        raise DeliveryError(
            f"${hook.url_from} is not set: it holds the {hook.format} webhook's address"
        )
    if not address.startswith(("https://", "http://")):
        raise DeliveryError(f"${hook.url_from} must be an https:// address")
    body = json.dumps(_chat_message(hook.format, subject, lines, url)).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 (http or https only: checked above)
        address, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310
    except urllib.error.HTTPError as exc:
        exc.close()
        raise DeliveryError(f"the {hook.format} webhook answered HTTP {exc.code}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise DeliveryError(
            f"the {hook.format} webhook cannot be reached or did not answer: {exc}"
        ) from None
    with response:  # a 2xx: urllib raises HTTPError for the other statuses
        if accepted is not None:
            accepted()


def _chat_message(form: str, subject: str, lines: Sequence[str], url: str) -> dict[str, Any]:
    """The message in the webhook's own format, within its limits: Slack's ``text``/``blocks``
    (the summary in as many sections as it takes), or a Microsoft Teams MessageCard; each with a
    button to the live page, where a summary too long to post goes on."""
    if form == "slack":
        bullets = _fitted([_cut(b, SLACK_SECTION) for b in _bullets(lines)], SLACK_TEXT, len)
        sections = [
            {"type": "section", "text": {"type": "plain_text", "text": text}}
            for text in _packed(bullets, SLACK_SECTION)
        ]
        return {
            "text": f"{subject}: {url}",
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": _cut(subject, SLACK_HEADER)},
                },
                *sections,
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "Open the live review"},
                            "url": url,
                        }
                    ],
                },
            ],
        }
    return {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": subject,
        "title": subject,
        "text": "\n\n".join(_fitted(_bullets(lines), TEAMS_TEXT, lambda b: len(json.dumps(b)))),
        "potentialAction": [
            {
                "@type": "OpenUri",
                "name": "Open the live review",
                "targets": [{"os": "default", "uri": url}],
            }
        ],
    }


def _bullets(lines: Sequence[str]) -> list[str]:
    return [f"• {line}" for line in lines] or ["No notable changes."]


def _fitted(bullets: list[str], budget: int, size: Callable[[str], int]) -> list[str]:
    """``bullets``, whole and in order, while their sizes (plus one each, for the line break)
    add up to ``budget`` at most; past that, a last line says how many more the review has."""
    if sum(size(b) + 1 for b in bullets) <= budget:
        return bullets
    kept: list[str] = []
    room = budget - size(_more(len(bullets))) - 1
    for bullet in bullets:
        room -= size(bullet) + 1
        if room < 0:
            break
        kept.append(bullet)
    return [*kept, _more(len(bullets) - len(kept))]


def _more(count: int) -> str:
    return f"… and {count} more in the review"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _packed(bullets: list[str], limit: int) -> list[str]:
    """The bullets, a line each, in as few texts of at most ``limit`` characters as they go
    into in order (each bullet is ``limit`` characters at most)."""
    texts: list[str] = []
    for bullet in bullets:
        if texts and len(texts[-1]) + 1 + len(bullet) <= limit:
            texts[-1] += "\n" + bullet
        else:
            texts.append(bullet)
    return texts


def with_retries(
    review: str, to: str, send: Callable[[], None], attempts: int, first_pause: float
) -> Sent:
    pause = first_pause
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            send()
        except DeliveryError as exc:
            error = str(exc)
            if attempt < attempts:
                time.sleep(pause)
                pause *= 2
            continue
        return Sent(review, to, ok=True, attempts=attempt)
    return Sent(review, to, ok=False, attempts=attempts, error=error)


class _Ledger:
    """What was delivered of one review (``<review>.delivery.json``), written as soon as a server
    has each message, so a crash or a failure sends nothing twice."""

    def __init__(self, path: Path, digest: str) -> None:
        self.path, self.digest = path, digest
        try:
            self.entries: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.entries = {}
        except (OSError, ValueError) as exc:
            raise ReviewkitError(
                f"{shown_path(path)} cannot be read ({exc}): it records what was delivered; "
                "delete it to deliver the review again to everyone"
            ) from None

    def had(self, to: str) -> str | None:
        """The digest of what ``to`` was sent of the review (None: nothing yet).

        An entry written by an earlier reviewkit has the digest of the page's bytes, which a
        re-run changed even when nothing a reader sees had: whether it holds what the page says
        now cannot be told, and reading it as changed would send every review again after an
        upgrade. It is taken to hold the review as it is now, and rewritten so (its time kept):
        from then on a change is seen, and sent."""
        entry = self.entries.get(to)
        if not isinstance(entry, dict):
            return None
        if SEEN_KEY not in entry and BYTES_KEY in entry:
            self.record(to, sent_at=str(entry.get("sent_at", "")))
        seen = self.entries[to].get(SEEN_KEY)
        return seen if isinstance(seen, str) else None

    def record(self, to: str, *, sent_at: str = "") -> None:
        sent_at = sent_at or now(dt.UTC).isoformat()
        self.entries[to] = {SEEN_KEY: self.digest, "sent_at": sent_at}
        text = json.dumps(self.entries, indent=2, sort_keys=True) + "\n"
        atomic_write({self.path: text.encode("utf-8")})
