"""What every benchmark shares: reviewkit and its peer measured side by side in one run,
alternating (A, B, A, B...) so a noisy neighbour hits both alike, then medians and the ratio.

Each benchmark is a script: ``python benchmarks/<name>.py [--tiny] [--repeat N]``. ``--tiny``
runs it at a toy size, which is what ``make test`` checks (that it runs, not how fast);
``make bench`` runs them all at full size. Timed assertions never go in the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def arguments(
    description: str, repeat: int, more: Callable[[argparse.ArgumentParser], None] | None = None
) -> argparse.Namespace:
    """``--tiny`` (the smoke size for ``make test``), ``--repeat N`` and ``--work DIR``, plus
    the options ``more`` adds to the parser."""
    parser = argparse.ArgumentParser(description=description)
    if more is not None:
        more(parser)
    parser.add_argument("--tiny", action="store_true", help="toy size: check that it runs")
    parser.add_argument("--repeat", type=int, default=repeat, help="runs of each side")
    parser.add_argument(
        "--work",
        type=Path,
        default=REPO / "build" / "bench",
        help="scratch folder for generated data (default build/bench)",
    )
    options = parser.parse_args()
    if options.tiny:
        options.repeat = min(options.repeat, 2)
    options.work.mkdir(parents=True, exist_ok=True)
    return options


@dataclass
class Samples:
    """Timings (seconds) of one side, plus any numbers measured alongside (peak RSS...)."""

    name: str
    seconds: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def median_of(self, key: str) -> float:
        return statistics.median(self.extra[key])


def alternate(sides: dict[str, Callable[[], Any]], repeat: int) -> dict[str, Samples]:
    """Run each side ``repeat`` times, interleaved. A side returns None, or a dict of extra
    numbers to keep (e.g. ``{"peak_mb": 512.0}``)."""
    found = {name: Samples(name) for name in sides}
    for _ in range(repeat):
        for name, run in sides.items():
            started = time.perf_counter()
            extra = run()
            found[name].seconds.append(time.perf_counter() - started)
            for key, value in (extra or {}).items():
                found[name].extra.setdefault(key, []).append(float(value))
    return found


def run_process(command: Sequence[str], **kwargs: Any) -> dict[str, float]:
    """Run a command to its end (it must succeed); its wall time and peak RSS in MB."""
    started = time.perf_counter()
    pid = subprocess.Popen(list(command), **kwargs)
    _, status, usage = os.wait4(pid.pid, 0)
    pid.returncode = os.waitstatus_to_exitcode(status)
    if pid.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {pid.returncode}")
    return {"wall": time.perf_counter() - started, "peak_mb": usage.ru_maxrss / 1024}


def machine() -> str:
    """One line describing where it ran."""
    cpus = os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.node()} · {platform.machine()} · {cpus} CPUs · {memory:.0f} GiB · "
        f"Python {platform.python_version()} · {platform.system()} {platform.release()}"
    )


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table under a title; numbers right-aligned."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = [title, "  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def verdict(name: str, value: float, target: float, *, higher_is_better: bool = True) -> str:
    """``target met: 12.3x >= 10x`` or ``target MISSED: ...`` for the closing table."""
    met = value >= target if higher_is_better else value <= target
    sign = ">=" if higher_is_better else "<="
    return f"{name}: {'met' if met else 'MISSED'} ({value:,.2f} {sign} {target:,.2f})"


def peak_rss_mb() -> float:
    """This process's peak RSS so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


__all__ = [
    "PYTHON",
    "REPO",
    "Samples",
    "alternate",
    "arguments",
    "machine",
    "peak_rss_mb",
    "run_process",
    "table",
    "verdict",
]
