"""Every benchmark runs, at its toy size (``--tiny``): ``make bench`` measures at full size.
No timing is asserted here; only that each prints its table and says whether it met its target."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import page_save  # noqa: E402 (a benchmark module, not a package)

# each benchmark at its toy size still starts servers, kernels and browsers
pytestmark = pytest.mark.slow

#: the benchmarks' shared modules, not benchmarks (company.py is tested in test_company.py)
HELPERS = ("harness.py", "company.py")
BENCHMARKS = sorted(p for p in (REPO / "benchmarks").glob("*.py") if p.name not in HELPERS)
#: page_save.py is the load test (tests/test_load.py) at full size, reported from what it prints:
#: its tiny run would be a second load test in the suite. tests/test_load.py has page_save report
#: its own run; test_page_save_runs_the_load_test_and_reports_it checks the rest.
RUN_ELSEWHERE = ("page_save.py",)
TINY = [p for p in BENCHMARKS if p.name not in RUN_ELSEWHERE]


def test_there_is_a_benchmark_per_target() -> None:
    assert len(BENCHMARKS) >= 4
    assert {p.name for p in BENCHMARKS} >= set(RUN_ELSEWHERE)


@pytest.mark.parametrize("script", TINY, ids=[p.stem for p in TINY])
def test_benchmark_runs_tiny(script: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    for name in ("DATA", "RUNTIME", "CONFIG"):
        folder = tmp_path / f"jupyter-{name.lower()}"
        folder.mkdir()
        env[f"JUPYTER_{name}_DIR"] = str(folder)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    # one run of each side (--tiny alone runs up to 2, alternating: the same work again, which
    # only a median needs)
    command = [sys.executable, str(script), "--tiny", "--repeat", "1"]
    result = subprocess.run(
        [*command, "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "target" in result.stdout and ("met" in result.stdout or "MISSED" in result.stdout)


#: what tests/test_load.py prints (its lines that page_save.py reads)
LOAD_PRINTED = """\
..
load: 1 viewers, 5 s steady (ramp-up 9 s, wall 14 s), 2 page loads, 3 outcome switches, 2 saves \
acknowledged, 2 found, 0 lost; peak RSS 900 MB over 4 processes
page saves: 2 saves, p50 180 ms, p99 240 ms, max 240 ms
CPU in the steady state: browser 40%, kernels 45%, server 15%
.
1 passed in 30.00s
"""


def test_page_save_runs_the_load_test_and_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[tuple[list[str], dict[str, str]]] = []

    def load_test(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        ran.append((command, kwargs["env"]))  # type: ignore[arg-type]
        return subprocess.CompletedProcess(command, 0, stdout=LOAD_PRINTED, stderr="")

    monkeypatch.setattr(page_save.subprocess, "run", load_test)
    monkeypatch.setattr(sys, "argv", ["page_save.py", "--tiny", "--work", str(tmp_path)])
    page_save.main()
    ((command, env),) = ran
    assert command[-1] == "tests/test_load.py" and "-s" in command
    assert (env["REVIEWKIT_LOAD_VIEWERS"], env["REVIEWKIT_LOAD_SECONDS"]) == ("1", "5")
    shown = capsys.readouterr().out
    assert "p99" in shown and "240" in shown and "CPU in the steady state: browser 40%" in shown
    assert "target p99 under 1,000 ms: met" in shown
