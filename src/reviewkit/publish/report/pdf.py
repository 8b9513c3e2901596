"""A published review printed to PDF by headless Chromium (Debian's ``chromium``), offline."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

from reviewkit.base.errors import ReviewkitError
from reviewkit.base.files import replacing

__all__ = ["CHROMIUM_FLAGS", "CHROMIUM_OFFLINE", "find_chromium", "print_pdf"]

#: Chromium offline: no sandbox (root), no GPU, and nothing reaching the network (the browser
#: tests and benchmarks launch it with these too)
CHROMIUM_OFFLINE: Final = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
#: printing a review to PDF
CHROMIUM_FLAGS: Final = ("--headless", *CHROMIUM_OFFLINE, "--no-pdf-header-footer")
#: seconds Chromium gets to print one review
PDF_TIMEOUT: Final = 120
#: how long Chromium lets the page's scripts run (virtual time) before printing: the charts are
#: drawn by vega-embed once the inlined library has loaded
PDF_SCRIPT_BUDGET_MS: Final = 10_000


def find_chromium(why: str) -> str:
    """The ``chromium`` on the PATH; raises :class:`ReviewkitError` saying ``why`` it is needed
    and how to install it."""
    found = shutil.which("chromium")
    if found is None:
        raise ReviewkitError(
            f"{why} needs headless Chromium: install Debian's chromium package "
            "(apt-get install chromium)"
        )
    return found


def print_pdf(chromium: str, page: Path, target: Path) -> None:
    """Print the HTML ``page`` to the PDF ``target`` with headless Chromium, offline, with a
    fresh profile, after letting the page's scripts draw its charts (into a temp file renamed
    into place). Raises ``subprocess.SubprocessError`` or ``OSError`` when it fails."""
    with (
        replacing(target) as partial,
        tempfile.TemporaryDirectory(
            prefix="reviewkit-chromium-", ignore_cleanup_errors=True
        ) as profile,
    ):
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--virtual-time-budget={PDF_SCRIPT_BUDGET_MS}",
                f"--print-to-pdf={partial}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=PDF_TIMEOUT,
        )
        if not partial.read_bytes().startswith(b"%PDF"):
            raise subprocess.SubprocessError(f"chromium wrote no PDF for {page}")
