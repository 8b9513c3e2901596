"""benchmarks/company.py, benchmark 7's simulated company: the sample's 5 teams split into
sub-teams. Its exports must still read as declared, the split must partition the sample's rows
(every byte but the team names unchanged), and each sub-team must have data of its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from python_calamine import CalamineWorkbook

from reviewkit import open_project
from reviewkit.scaffold.sample import TEAMS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import company  # noqa: E402 (a benchmark module, not a package)

SUBTEAM = re.compile(r"\b(" + "|".join(TEAMS) + r")-\d{3}\b")
ROW_EXPORTS = ("support_tickets.csv", "nps_responses.csv", "issues_export.csv")


@pytest.fixture(scope="module")
def built(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> company.Company:
    return company.build(sample_dir, tmp_path_factory.mktemp("company") / "c10", 10)


def test_ten_teams_are_the_five_split_in_two(built: company.Company) -> None:
    assert built.teams == [f"{t}-00{j}" for t in TEAMS for j in (1, 2)]


def test_reviewkit_check_passes(built: company.Company) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reviewkit", "check", "--project", str(built.project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "error" not in (result.stdout + result.stderr).lower()


@pytest.mark.parametrize("name", ROW_EXPORTS)
def test_csv_rows_are_partitioned_and_otherwise_byte_identical(
    sample_dir: Path, built: company.Company, name: str
) -> None:
    encoding = "latin-1" if name == "issues_export.csv" else "utf-8"
    split = (built.project / "data" / name).read_bytes().decode(encoding)
    original = (sample_dir / "data" / name).read_bytes().decode(encoding)
    # every sub-team has rows, and naming each row's team again gives the sample's bytes back
    # (its BOM, CRLF line ends, delimiter, quoting and encoding kept)
    assert {m.group(0) for m in SUBTEAM.finditer(split)} == set(built.teams)
    assert SUBTEAM.sub(lambda m: m.group(1), split) == original


def test_accounts_are_partitioned(sample_dir: Path, built: company.Company) -> None:
    original = pq.read_table(sample_dir / "data" / "subscriptions.parquet")
    split = pq.read_table(built.project / "data" / "subscriptions.parquet")
    assert set(split["team"].to_pylist()) == set(built.teams)
    teams = [name.rsplit("-", 1)[0] for name in split["team"].to_pylist()]
    assert teams == original["team"].to_pylist()
    assert split.drop_columns(["team"]).equals(original.drop_columns(["team"]))
    owners: dict[str, set[str]] = {}  # an account stays in one sub-team, all its months
    for account, team in zip(
        split["account_id"].to_pylist(), split["team"].to_pylist(), strict=True
    ):
        owners.setdefault(account, set()).add(team)
    assert max(len(t) for t in owners.values()) == 1
    # the account export: the same sub-team for each account, all its spells
    original_rows = pd.read_csv(sample_dir / "data" / "accounts.csv", keep_default_na=False)
    split_rows = pd.read_csv(built.project / "data" / "accounts.csv", keep_default_na=False)
    assert split_rows.drop(columns="team").equals(original_rows.drop(columns="team"))
    assert [t.rsplit("-", 1)[0] for t in split_rows["team"]] == list(original_rows["team"])
    spells = split_rows.groupby("account_id")["team"].agg(set)
    assert max(len(t) for t in spells) == 1
    assert all(owners[account] == teams for account, teams in spells.items() if account in owners)


def test_activity_counts_are_shared_out(sample_dir: Path, built: company.Company) -> None:
    def rows(project: Path) -> list[list[object]]:
        book = CalamineWorkbook.from_path(str(project / "data" / "product_activity.xlsx"))
        assert book.sheet_names == ["About", "activity"]
        return book.get_sheet_by_name("activity").to_python()[1:]

    totals: dict[tuple[object, str], list[int]] = {}
    days: dict[str, set[object]] = {}
    for day, team, *counts in rows(built.project):
        assert isinstance(team, str)
        days.setdefault(team, set()).add(day)
        kept = totals.setdefault((day, team.rsplit("-", 1)[0]), [0, 0, 0])
        kept[:] = [a + int(b) for a, b in zip(kept, counts, strict=True)]
    original = rows(sample_dir)
    assert totals == {(d, t): [int(v) for v in c] for d, t, *c in original}
    assert set(days) == set(built.teams)  # every sub-team has every day
    assert {len(d) for d in days.values()} == {len(original) // len(TEAMS)}


def test_plan_is_shared_out(sample_dir: Path, built: company.Company) -> None:
    def plan(project: Path) -> dict[tuple[str, str], float]:
        lines = (project / "data" / "mrr_targets.csv").read_text().splitlines()[1:]
        return {(m, t): float(v) for m, t, v in (line.split(",") for line in lines)}

    split, original = plan(built.project), plan(sample_dir)
    assert {t for _, t in split} == set(built.teams)
    for (month, team), target in original.items():
        parts = [v for (m, t), v in split.items() if m == month and t.startswith(f"{team}-")]
        assert len(parts) == 2
        assert sum(parts) == pytest.approx(target, abs=0.02)


def test_outcomes_and_links_are_cloned(sample_dir: Path, built: company.Company) -> None:
    config = yaml.safe_load((built.project / "reviewkit.yaml").read_text())
    sample = yaml.safe_load((sample_dir / "reviewkit.yaml").read_text())
    outcomes = {o["id"]: o for o in config["outcomes"]}
    for outcome in sample["outcomes"]:
        if "team" not in outcome:  # the company-wide goals are kept as they are
            assert outcomes[outcome["id"]] == outcome
            continue
        assert outcome["id"] not in outcomes
        for j in ("001", "002"):
            clone = outcomes[f"{outcome['id']}-{j}"]
            team = f"{outcome['team']}-{j}"
            assert (clone["team"], clone["kpi"]["filters"]["team"]) == (team, team)
            assert clone.get("parent") == outcome.get("parent")
    # a level (MRR) is scaled by the sub-team's share; a rate (churn) is not
    targets = [outcomes[f"growth-mrr-00{j}"]["target"]["value"] for j in (1, 2)]
    assert sum(targets) == pytest.approx(412000, rel=0.01)
    assert outcomes["billing-churn-001"]["target"]["value"] == 0.02
    links = yaml.safe_load((built.project / "data" / "links.yaml").read_text())["links"]
    original = yaml.safe_load((sample_dir / "data" / "links.yaml").read_text())["links"]
    assert len(links) == len(original)
    assert {link["outcome_id"] for link in links} <= set(outcomes)
    assert all(re.search(r"-00[12]$", link["outcome_id"]) for link in links)


def test_subteams_ask_their_own_queries(built: company.Company) -> None:
    with open_project(built.project) as project:
        for metric in ("tickets", "nps", "mrr", "activation_rate", "outputs_delivered"):
            frame = project.kpi(metric, start="2026-10-01", end="2026-10-31", by="team")
            values = dict(zip(frame["team"], frame["value"], strict=True))
            assert set(values) == set(built.teams), metric
            assert values["growth-001"] != values["growth-002"], metric
            assert values["billing-001"] != values["billing-002"], metric


@pytest.mark.parametrize("teams", [0, 3, 7, 502])
def test_a_team_count_that_does_not_split_evenly_says_what_to_use(teams: int) -> None:
    with pytest.raises(ValueError, match=r"must be a multiple of 5 .* at least 5: got"):
        company.check_teams(teams)


def test_report_scale_refuses_a_bad_team_count(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "report_scale.py"),
            "--teams",
            "12",
            "--work",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "--teams must be a multiple of 5" in result.stderr
    assert "use e.g. 10, 100 or 500" in result.stderr
