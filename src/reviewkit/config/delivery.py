"""``delivery:``: who receives each review, by email and chat (secrets never in the file)."""

from __future__ import annotations

import ipaddress
from typing import Any

from reviewkit.base.yamlfile import KeyPath, kind
from reviewkit.config.collector import Collector
from reviewkit.config.keys import allowed
from reviewkit.config.model import (
    CHAT_FORMATS,
    EMAIL,
    EMAIL_SECURITY,
    ENV_NAME,
    ChatDelivery,
    Delivery,
    EmailDelivery,
)

__all__ = ["DeliveryChecks", "is_loopback"]


class DeliveryChecks:
    """The email server, the chat webhooks and the recipients."""

    def __init__(self, check: Collector) -> None:
        self.check = check

    def delivery(self, raw: Any) -> Delivery | None:
        kp: KeyPath = ("delivery",)
        spec = self.check.mapping(raw, kp, allowed("delivery"))
        if spec is None:
            return None
        email = self.email(spec["email"]) if "email" in spec else None
        chat = []
        items = spec.get("chat", [])
        if not isinstance(items, list):
            self.check.error((*kp, "chat"), f"expected a list of webhooks, got {kind(items)}")
            items = []
        for i, item in enumerate(items):
            hook = self.check.mapping(
                item, (*kp, "chat", i), allowed("delivery.chat"), required=allowed("delivery.chat")
            )
            if hook is None or not all(k in hook for k in allowed("delivery.chat")):
                continue
            form = self.check.text(hook["format"], (*kp, "chat", i, "format"), CHAT_FORMATS)
            variable = self.env_name(hook["url_from"], (*kp, "chat", i, "url_from"))
            if form and variable:
                chat.append(ChatDelivery(form, variable))
        recipients: dict[str, tuple[str, ...]] = {}
        given = self.check.mapping(spec.get("recipients", {}), (*kp, "recipients")) or {}
        for review, addresses in given.items():
            where = (*kp, "recipients", review)
            listed = [addresses] if isinstance(addresses, str) else addresses
            if not isinstance(listed, list):
                self.check.error(
                    where, f"expected a list of email addresses, got {kind(addresses)}"
                )
                continue
            for j, address in enumerate(listed):
                if not isinstance(address, str) or not EMAIL.fullmatch(address):
                    self.check.error(
                        (*where, j), f"{address!r} is not an email address (name@example.com)"
                    )
            recipients[str(review)] = tuple(a for a in listed if isinstance(a, str))
        if recipients and email is None and "email" not in spec:
            self.check.error(kp, "recipients are given but no `email:` server to send through")
        attempts = self.check.integer(spec.get("attempts", 3), (*kp, "attempts"), 1, 10) or 3
        return Delivery(email, tuple(chat), recipients, attempts)

    def email(self, raw: Any) -> EmailDelivery | None:
        kp: KeyPath = ("delivery", "email")
        spec = self.check.mapping(raw, kp, allowed("delivery.email"), required=("server", "from"))
        if spec is None or not all(k in spec for k in ("server", "from")):
            return None
        server = self.check.text(spec["server"], (*kp, "server"))
        sender = self.check.text(spec["from"], (*kp, "from"))
        port = self.check.integer(spec.get("port", 587), (*kp, "port"), 1, 65535)
        security = self.check.text(
            spec.get("security", "starttls"), (*kp, "security"), EMAIL_SECURITY
        )
        pdf = spec.get("pdf", False)
        if not isinstance(pdf, bool):
            self.check.error((*kp, "pdf"), f"expected true or false, got {kind(pdf)}")
            pdf = False
        plaintext = spec.get("allow_plaintext_auth", False)
        if not isinstance(plaintext, bool):
            self.check.error(
                (*kp, "allow_plaintext_auth"), f"expected true or false, got {kind(plaintext)}"
            )
            plaintext = False
        if plaintext and server and not is_loopback(server):
            self.check.error(
                (*kp, "allow_plaintext_auth"),
                "only for a mail relay on this machine (server: localhost or 127.0.0.1): the "
                f"SMTP login and password would cross the network to {server} in clear text, "
                "where anyone on the way can read them; remove it and set `security: starttls` "
                "(or ssl)",
            )
            plaintext = False
        if not (server and sender and port and security):
            return None
        return EmailDelivery(server, sender, port, security, pdf, plaintext)

    def env_name(self, raw: Any, kp: KeyPath) -> str | None:
        """The name of an environment variable holding a secret (never the secret itself)."""
        text = self.check.text(raw, kp)
        if text is not None and not ENV_NAME.match(text):
            self.check.error(
                kp,
                "give the name of the environment variable that holds the webhook's URL (e.g. "
                "REVIEWKIT_SLACK_WEBHOOK), not the URL: it is a secret and reviewkit.yaml is not",
            )
            return None
        return text


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only: a mail relay, or where
    `reviewkit serve` listens."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
