"""The notebooks run for real: papermill injects test parameters, nbval executes every cell."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reviewkit import open_project

# every notebook runs in a real kernel (papermill, nbval, JupyterLab)
pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


@pytest.fixture
def jupyter_env(tmp_path: Path) -> dict[str, str]:
    """Jupyter's data, runtime and config dirs in a temp dir: tests never touch ~/.local."""
    env = dict(os.environ)
    for name in ("DATA", "RUNTIME", "CONFIG"):
        path = tmp_path / f"jupyter-{name.lower()}"
        path.mkdir()
        env[f"JUPYTER_{name}_DIR"] = str(path)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.name for n in NOTEBOOKS])
def test_notebooks_are_committed_without_outputs(notebook: Path) -> None:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    assert [c for c in cells if c["cell_type"] == "code" and c["outputs"]] == []
    assert any("parameters" in c["metadata"].get("tags", []) for c in cells)


def run_under_nbval(
    notebook: str, parameters: list[str], tmp_path: Path, env: dict[str, str]
) -> None:
    """Inject ``parameters`` with papermill --prepare-only, then let nbval execute every cell."""
    prepared = tmp_path / notebook
    subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            str(REPO / "notebooks" / notebook),
            str(prepared),
            "--prepare-only",
            *parameters,
        ],
        check=True,
        env=env,
        capture_output=True,
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbval-lax",
            "-p",
            "no:cacheprovider",
            "-q",
            "-W",
            "ignore::DeprecationWarning",
            str(prepared),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "passed" in result.stdout


def test_explore_kpis_runs_under_nbval(sample_dir: Path, tmp_path: Path, jupyter_env) -> None:
    run_under_nbval(
        "explore_kpis.ipynb",
        [
            "-p",
            "project_dir",
            str(sample_dir),
            "-p",
            "metric",
            "activation_rate",
            "-p",
            "by",
            "team",
            "-p",
            "start",
            "2026-01-01",
            "-y",
            '{"filters": {"team": ["growth", "onboarding"]}}',
        ],
        tmp_path,
        jupyter_env,
    )


def test_explore_kpis_runs_on_any_project(regional_dir: Path, jupyter_env) -> None:
    """With its defaults, on a project that is not the sample (its own metrics, no team)."""
    run_under_nbval(
        "explore_kpis.ipynb", ["-p", "project_dir", str(regional_dir)], regional_dir, jupyter_env
    )


@pytest.mark.parametrize("notebook", ["review.ipynb", "link_outputs.ipynb", "checkins.ipynb"])
def test_review_pages_run_under_nbval(
    notebook: str, sample_dir: Path, tmp_path: Path, jupyter_env
) -> None:
    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with open_project(folder) as project:
        project.import_links(folder / "data" / "links.yaml")
    parameters = ["-p", "project_dir", str(folder), "-p", "period", "2026-09"]
    run_under_nbval(notebook, [*parameters, "-p", "team", "billing"], tmp_path, jupyter_env)


def test_monthly_review_runs_under_nbval(sample_dir: Path, tmp_path: Path, jupyter_env) -> None:
    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with open_project(folder) as project:
        project.import_links(folder / "data" / "links.yaml")
    parameters = [
        "-p",
        "project_dir",
        str(folder),
        "-p",
        "period",
        "2026-10",
        "-p",
        "team",
        "growth",
    ]
    run_under_nbval("monthly_review.ipynb", parameters, tmp_path, jupyter_env)


def test_papermill_documents_the_parameters(jupyter_env) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            "--help-notebook",
            str(REPO / "notebooks" / "explore_kpis.ipynb"),
        ],
        env=jupyter_env,
        capture_output=True,
        text=True,
        check=True,
    )
    for name in ("project_dir", "metric", "grain", "start", "end", "by", "filters"):
        assert f"  {name}: " in result.stdout
    assert "a metric name from the catalogue" in result.stdout


def test_link_outputs_documents_its_parameters(jupyter_env) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            "--help-notebook",
            str(REPO / "notebooks" / "link_outputs.ipynb"),
        ],
        env=jupyter_env,
        capture_output=True,
        text=True,
        check=True,
    )
    for name in ("project_dir", "period", "team"):
        assert f"  {name}: " in result.stdout
