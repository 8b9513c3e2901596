"""Every benchmark runs, at its toy size (``--tiny``): ``make bench`` measures at full size.
No timing is asserted here; only that each prints its table and says whether it met its target."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# each benchmark at its toy size still starts servers, kernels and browsers
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
#: the benchmarks' shared modules, not benchmarks (company.py is tested in test_company.py)
HELPERS = ("harness.py", "company.py")
BENCHMARKS = sorted(p for p in (REPO / "benchmarks").glob("*.py") if p.name not in HELPERS)


def test_there_is_a_benchmark_per_target() -> None:
    assert len(BENCHMARKS) >= 4


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_runs_tiny(script: Path, tmp_path: Path) -> None:
    env = dict(os.environ)
    for name in ("DATA", "RUNTIME", "CONFIG"):
        folder = tmp_path / f"jupyter-{name.lower()}"
        folder.mkdir()
        env[f"JUPYTER_{name}_DIR"] = str(folder)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    result = subprocess.run(
        [sys.executable, str(script), "--tiny", "--work", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "target" in result.stdout and ("met" in result.stdout or "MISSED" in result.stdout)
