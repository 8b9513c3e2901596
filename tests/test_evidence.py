"""Impact evidence on the sample company: the planted effects are found, the decoys are not."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from reviewkit import QueryError, open_project
from reviewkit.scaffold.sample import DECOYS, PLANTED_EFFECTS, TEAM_OUTCOMES


@pytest.fixture(scope="module")
def north(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("north") / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with open_project(folder) as project:
        project.import_links(folder / "data" / "links.yaml")
        yield project


@pytest.mark.parametrize("effect", PLANTED_EFFECTS, ids=[e.key for e in PLANTED_EFFECTS])
def test_planted_effects_have_the_right_sign_and_size_within_the_interval(north, effect) -> None:
    result = north.impact(effect.key, TEAM_OUTCOMES[effect.team])
    assert result.estimate is not None and result.low is not None and result.high is not None
    assert (result.estimate > 0) == (effect.size > 0)
    assert result.low <= effect.size <= result.high
    assert result.method == "difference in differences"
    assert "evidence of association, not proof" in result.sentence


def test_every_planted_effect_is_detected(north) -> None:
    verdicts = {e.key: north.impact(e.key, TEAM_OUTCOMES[e.team]).verdict for e in PLANTED_EFFECTS}
    assert set(verdicts.values()) == {"moved as hypothesised"}


@pytest.mark.parametrize("decoy", DECOYS, ids=[d.key for d in DECOYS])
def test_decoys_show_no_detectable_change(north, decoy) -> None:
    result = north.impact(decoy.key, TEAM_OUTCOMES[decoy.team])
    assert result.verdict == "no detectable change"


def test_outcome_rollup_and_team_share(north) -> None:
    frame = north.outcome_impact("mobile-nps")
    assert {"MOB-559", "MOB-486"} <= set(frame["output"])
    rollup = frame.attrs["rollup"]
    assert rollup["moved as hypothesised"] >= 1
    assert sum(rollup.values()) == len(frame)
    share = north.team_impact("onboarding", "2025-12", months=12)
    assert share["start"] == dt.date(2025, 1, 1) and share["end"] == dt.date(2025, 12, 31)
    assert "ONB-241" in share["outputs_with_impact"]
    assert 0 < share["share"] < 1


def test_impact_of_a_missing_link_says_how_to_make_it(north) -> None:
    with pytest.raises(QueryError, match=r"there is no link from 'GRO-1' to 'growth-mrr'"):
        north.impact("GRO-1", "growth-mrr")


def test_too_early_when_the_lag_has_not_passed(north) -> None:
    recent = north.outputs(start="2026-11-01", team="growth")
    output = recent.iloc[0]["id"]
    north.link(output, "growth-mrr", hypothesis="A late launch")
    result = north.impact(output, "growth-mrr")
    assert result.verdict in ("too early", "not enough data")
    north.unlink(output, "growth-mrr")


def test_impact_takes_a_link_or_an_outcome(north) -> None:
    (link,) = north.store.links(output_id="ONB-241")
    assert north.impact(link).verdict == "moved as hypothesised"
    frame = north.impact("onboarding-activation")
    assert "ONB-241" in set(frame["output"])


def test_a_team_without_rows_yet_has_not_enough_data_not_an_error(
    sample_dir: Path, tmp_path: Path
) -> None:
    """A new team owns an outcome whose KPI has no rows for it yet, and links work to it: each
    link is "not enough data" (found by the simulated 500-team company, where it failed the
    team's review and the company's)."""
    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    config = folder / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8")
    new = (
        "  - id: newteam-nps\n    parent: customer-love\n    title: The new team's users love it\n"
        "    owner: Ana\n    team: newteam\n    kpi: {metric: nps, filters: {team: newteam}}\n"
        "    baseline: {value: 15, period: 2025-12}\n    target: {value: 30, by: 2026-12-31}\n"
        "    lag_days: 45\n"
    )
    config.write_text(text.replace("  - id: mobile-nps\n", new + "  - id: mobile-nps\n"), "utf-8")
    with open_project(folder) as project:
        project.link(
            "MOB-559", "newteam-nps", hypothesis="the new team's app", direction="increase"
        )
        frame = project.outcome_impact("newteam-nps")
    assert list(frame["output"]) == ["MOB-559"]
    assert list(frame["verdict"]) == ["not enough data"]


def test_a_recorded_event_in_the_window_confounds_a_planted_effect(
    sample_dir: Path, tmp_path: Path
) -> None:
    """SUP-169's planted drop in resolution hours, with a business event recorded inside its
    effect window: the support team's event (or a company-wide one) confounds it; one scoped to
    another team leaves that team out of the comparison, and one about another KPI changes
    nothing."""
    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    effect = next(e for e in PLANTED_EFFECTS if e.key == "SUP-169")
    outcome = TEAM_OUTCOMES[effect.team]
    day = effect.delivered + dt.timedelta(days=60)
    with open_project(folder) as project:
        project.import_links(folder / "data" / "links.yaml")
        assert project.impact(effect.key, outcome).verdict == "moved as hypothesised"
        assert "growth" in dict(project.impact(effect.key, outcome).comparison)
        project.store.add_event(
            "Growth promo", day, metrics=("resolution_hours",), scope=(("team", "growth"),)
        )
        project.store.add_event("Price change", day, metrics=("mrr",))
        result = project.impact(effect.key, outcome)
        assert result.verdict == "moved as hypothesised"
        # the growth team's own event leaves it out of the comparison instead
        assert result.comparison and "growth" not in dict(result.comparison)
        assert f"growth: Growth promo ({day})" in result.sentence
        project.store.add_event(
            "Help centre outage",
            day,
            end=day + dt.timedelta(days=3),
            metrics=("resolution_hours",),
            scope=(("team", "support"),),
        )
        result = project.impact(effect.key, outcome)
        assert result.verdict == "confounded by an event"
        assert result.confounded_by == f"Help centre outage ({day} to {day + dt.timedelta(days=3)})"
