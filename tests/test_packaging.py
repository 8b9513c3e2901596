"""The project's set-up stays honest: pinned deps agree everywhere, and the README's commands exist."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

import reviewkit
from reviewkit.base.errors import ReviewkitError
from reviewkit.store.core import StoreError

REPO = Path(__file__).resolve().parents[1]
#: conda-forge names that differ from PyPI's
CONDA_NAMES = {"python-duckdb": "duckdb", "types-pyyaml": "types-PyYAML"}


def _requirement(text: str) -> tuple[str, str]:
    # pip's extras (psycopg[binary]) are packaging details conda has no word for
    name, spec = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)$", text.strip()).groups()
    return name.lower(), spec.replace(" ", "")


def test_environment_yml_names_the_same_dependencies_as_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = dict(_requirement(r) for r in project["dependencies"])
    wanted.update(_requirement(r) for r in project["optional-dependencies"]["dev"])
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = {}
    for item in env["dependencies"]:
        if isinstance(item, str) and not item.startswith(("python=", "pip")):
            name, spec = _requirement(item)
            conda[CONDA_NAMES.get(name, name).lower()] = spec
    assert conda == wanted


def test_every_dependency_is_pinned_in_the_lock() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lock = (REPO / "requirements.lock").read_text().lower()
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        name, _ = _requirement(requirement)
        assert re.search(rf"^{re.escape(name)}==", lock, re.M), f"{name} is not pinned"


def test_ci_runs_make_test_and_the_readme_opens_with_the_two_commands() -> None:
    assert "make test" in (REPO / ".ci" / "run").read_text()
    head = (REPO / "README.md").read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head


def test_the_public_api_resolves_and_exports_the_store_error() -> None:
    # A caller of the library's store catches StoreError; it must not need reviewkit.store.core for it.
    assert reviewkit.StoreError is StoreError and issubclass(StoreError, ReviewkitError)
    assert "StoreError" in reviewkit.__all__
    for name in reviewkit.__all__:
        assert getattr(reviewkit, name) is not None, name


def test_the_modules_are_layered_as_the_pipeline() -> None:
    """import-linter's contracts in pyproject.toml: the packages are layered as the pipeline
    (base -> config -> sources -> metrics, store -> evidence -> project -> present -> publish,
    serve -> cli), and inside every package its modules likewise; all contracts are kept."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert f"Contracts: {len(contracts['contracts'])} kept, 0 broken." in result.stdout


def test_every_package_of_several_modules_has_its_own_contract() -> None:
    """A new package cannot grow a cycle inside it unnoticed: each one with more than one module
    is the container of an import-linter contract that lists all of them (exhaustive)."""
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    contained = {
        container: contract.get("exhaustive", False)
        for contract in contracts["contracts"]
        for container in contract.get("containers", [])
    }
    source = REPO / "src"
    for init in sorted((source / "reviewkit").rglob("__init__.py")):
        package = init.parent
        modules = [p for p in package.iterdir() if p.suffix == ".py" and p.name != "__init__.py"]
        subpackages = [p for p in package.iterdir() if (p / "__init__.py").is_file()]
        if len(modules) + len(subpackages) > 1:
            name = ".".join(package.relative_to(source).parts)
            assert contained.get(name), f"add an exhaustive import-linter contract for {name}"


IRI_CHECKS = """
import jsonschema
checker = jsonschema.FormatChecker()
print([checker.conforms(v, f) for v, f in (
    ("http://example.com/\\u00e4", "iri"), ("not an iri ::: []", "iri"),
    ("/a/b?c#d", "iri-reference"), ("\\u0000", "iri-reference"),
)])
"""


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    return done.stdout


@pytest.mark.slow  # fresh interpreters, timed imports
def test_jsonschemas_iri_parsers_are_built_only_when_an_iri_is_checked() -> None:
    """reviewkit stands in for rfc3987_syntax (reviewkit.base.deferred): importing reviewkit and
    Altair builds none of its Lark parsers, and jsonschema's iri checks answer as without it."""
    charts = "import reviewkit.present.charts, sys; print('lark' in sys.modules)"
    assert _python(charts).strip() == "False"
    assert _python("import reviewkit" + IRI_CHECKS) == _python(IRI_CHECKS)
    assert _python(IRI_CHECKS).strip() == "[True, False, True, False]"
