"""The project's own keys: ``calendar:``, ``store:``, ``user:``, ``schedule:``, ``live_url:``
and ``include:``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from reviewkit.base.cron import parse_cron
from reviewkit.base.errors import ConfigError, ReviewkitError, shown_path
from reviewkit.base.periods import WEEKDAYS, Calendar
from reviewkit.base.urls import has_password, is_url
from reviewkit.base.yamlfile import Located, load_yaml
from reviewkit.config.collector import Collector
from reviewkit.config.keys import allowed
from reviewkit.config.model import STORE_ENV

__all__ = ["TopChecks"]


class TopChecks:
    """The calendar, where the store is, who saves, the schedule, the live pages' address and the
    included files."""

    def __init__(self, check: Collector) -> None:
        self.check = check

    def calendar(self, raw: Any) -> Calendar:
        cal = self.check.mapping(raw, ("calendar",), allowed("calendar"))
        if not cal:
            return Calendar()
        week = self.check.text(
            cal.get("week_ends_on", "sunday"), ("calendar", "week_ends_on"), WEEKDAYS
        )
        month = self.check.integer(
            cal.get("fiscal_year_start_month", 1), ("calendar", "fiscal_year_start_month"), 1, 12
        )
        return Calendar(week or "sunday", month or 1)

    def store(self, raw: Any, root: Path) -> Path | str | None:
        text = self.check.text(raw, ("store",))
        if text is None or not is_url(text):
            return (root / text) if text else None
        if has_password(text):
            self.check.error(
                ("store",),
                "the address has a password, which reviewkit.yaml must not hold (it is shared "
                "and kept in git); remove it and set PGPASSWORD or ~/.pgpass, or give the "
                f"whole address in ${STORE_ENV}",
            )
            return None
        return text

    def user(self, raw: Any) -> str | None:
        text = self.check.text(raw, ("user",))
        if text is None:
            return None
        if not text.strip() or "\n" in text:
            self.check.error(("user",), "write one person's name on one line, e.g. Ana Lima")
            return None
        if text.strip().casefold() == "root":
            self.check.error(
                ("user",), "'root' says nothing about who saves; write a person's name"
            )
            return None
        return text.strip()

    def live_url(self, raw: Any) -> str | None:
        text = self.check.text(raw, ("live_url",))
        if text is None:
            return None
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", text):
            self.check.error(
                ("live_url",),
                f"{text!r} is not a web address; write where `reviewkit serve` is reached, "
                "e.g. http://reviews.example.com:8866/",
            )
            return None
        return text if text.endswith("/") else text + "/"

    def cron(self, raw: Any) -> str | None:
        text = self.check.text(raw, ("schedule",))
        if text is None:
            return None
        try:
            return parse_cron(text).text
        except ReviewkitError as exc:
            self.check.error(("schedule",), str(exc))
            return None

    def includes(self, raw: Any, root: Path) -> list[Located]:
        files = self.check.text_list(raw, ("include",))
        out = []
        for i, name in enumerate(files):
            path = root / name
            if not path.is_file():
                self.check.error(
                    ("include", i), f"no such file '{name}' (looked in {shown_path(root)})"
                )
                continue
            try:
                included = load_yaml(path, shown_as=shown_path(path))
            except ConfigError as exc:
                self.check.problems += exc.problems
                continue
            self.check.problems += included.duplicates
            out.append(included)
        return out
