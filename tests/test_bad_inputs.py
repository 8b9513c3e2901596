"""The bad-input corpus (tests/support/bad_inputs.py), end to end through the CLI.

For every case `reviewkit check` exits 1 and prints exactly the expected lines, each naming the
file, the line or key, and what to do; `reviewkit report` refuses the project before any kernel
starts; and neither command writes to the store or to reports/.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from reviewkit.cli import main
from reviewkit.store.core import Store
from tests.support.bad_inputs import CASES, CONFIG, Case


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_corpus_has_forty_cases_with_distinct_names() -> None:
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)


def test_the_good_project_the_cases_break_is_valid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Case("good", (), CONFIG).write(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check"])
    assert (result.exit_code, result.stdout) == (0, "")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_input_is_refused_exactly_and_writes_nothing(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case.write(tmp_path)
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "reviewkit.db"
    with Store(store) as kept:  # a team that has used reviewkit for a while
        kept.link("SUP-1", "happier", hypothesis="faster answers", lag_days=14)
    before = digest(store)

    check = CliRunner().invoke(main, ["check"])
    assert check.exit_code == 1, check.output
    assert check.stdout.splitlines() == list(case.expected)
    assert all(" error(s); fix them" in line for line in check.stderr.splitlines())

    report = CliRunner().invoke(main, ["report", "--period", "2026-01", "--team", "support"])
    assert report.exit_code == 1, report.output
    assert "Traceback" not in report.output
    assert not (tmp_path / "reports").exists()
    assert digest(store) == before
    assert not list(tmp_path.glob("reviewkit.db-*"))  # no WAL left holding unmerged writes
