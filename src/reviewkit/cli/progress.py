"""How `reviewkit report` shows its progress: a bar redrawn in place on a terminal, plain lines
elsewhere."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from reviewkit.publish.report import TeamResult

__all__ = ["ProgressDisplay"]

#: seconds between redraws of the progress bar (its clock)
TICK = 1.0
BAR_WIDTH = 24


class ProgressDisplay:
    """How ``reviewkit report`` shows progress on ``stream`` (default: stderr). On a terminal,
    a bar redrawn in place (reviews done of all, time so far, the reviews running), with a line
    above it for each review as it ends; otherwise (CI, a log file) one plain line per review as
    it ends, ``[2/6] billing: ok (3.1 s)``. A :class:`reviewkit.publish.report.Progress`."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._total = 0
        self._done = 0
        self._running: list[str] = []
        self._began = clock()

    def begin(self, labels: Sequence[str]) -> None:
        with self._lock:
            self._total, self._done, self._running = len(labels), 0, []
            self._began = self._clock()
            self._draw()
        if self.tty and self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()

    def started(self, label: str) -> None:
        with self._lock:
            self._running.append(label)
            self._draw()

    def finished(self, result: TeamResult, done: int, total: int) -> None:
        from reviewkit.publish.report import progress_line  # noqa: PLC0415

        with self._lock:
            if result.label in self._running:
                self._running.remove(result.label)
            self._done, self._total = done, total
            line = progress_line(result, done, total)
            if self.tty:
                self.stream.write("\r\x1b[K" + line + "\n")
            else:
                self.stream.write(line + "\n")
            self._draw()

    def close(self) -> None:
        """Stop the clock and take the bar off the screen (the lines stay)."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self.tty:
            with self._lock:
                self.stream.write("\r\x1b[K")
                self.stream.flush()

    def bar(self) -> str:
        """The bar's text: ``[#####-------] 2/6 reviews · 0:12 · running: billing, growth``."""
        filled = BAR_WIDTH * self._done // self._total if self._total else 0
        seconds = int(self._clock() - self._began)
        text = (
            f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {self._done}/{self._total} reviews "
            f"· {seconds // 60}:{seconds % 60:02d}"
        )
        if self._running:
            text += " · running: " + ", ".join(self._running)
        width = shutil.get_terminal_size((100, 24)).columns - 1
        return text if len(text) <= width else text[: max(width - 1, 0)] + "…"

    def _draw(self) -> None:
        """Redraw the bar in place (on a terminal only); the caller holds the lock."""
        if self.tty:
            self.stream.write("\r" + self.bar() + "\x1b[K")
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(TICK):
            with self._lock:
                self._draw()
