"""The review widgets driven through their traits, as a browser would, without a browser: set
control values, click buttons, then check the store and what the widget shows."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import traitlets

import reviewkit.present
from reviewkit import open_project
from reviewkit.present.widgets import (
    CheckinForm,
    KpiExplorer,
    LinkEditor,
    ReviewDashboard,
    ReviewNavigator,
    Viewer,
)
from reviewkit.store.core import Decision
from tests.conftest import warm_copy

TEAMS = ["billing", "growth", "mobile", "onboarding", "support"]


@pytest.fixture(scope="module")
def warm(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return warm_copy(sample_dir, tmp_path_factory.mktemp("widgets") / "project")


@pytest.fixture
def project(warm: Path, tmp_path: Path):
    """A fresh copy of the sample project with its links imported (a store of its own)."""
    folder = tmp_path / "project"
    shutil.copytree(warm, folder)
    with open_project(folder) as opened:
        opened.import_links(folder / "data" / "links.yaml", author="importer")
        yield opened


@pytest.fixture
def charts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    """A stand-in for ``reviewkit.present.charts`` that records what the widgets ask it to draw: these
    tests check the widgets' requests and outputs, not the charts themselves."""
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    fake = types.ModuleType("reviewkit.present.charts")

    def recorder(name: str):
        def draw(*args: Any, **kwargs: Any) -> str:
            calls.append((name, args, kwargs))
            return f"<{name} chart>"

        return draw

    for name in ("kpi_trend", "outputs_on_outcome", "impact_chart"):
        setattr(fake, name, recorder(name))
    monkeypatch.setitem(sys.modules, "reviewkit.present.charts", fake)
    # `from reviewkit.present import charts` takes the package's attribute once charts was imported
    monkeypatch.setattr(reviewkit.present, "charts", fake, raising=False)
    return calls


def force(control: Any, value: object) -> None:
    """Put ``value`` into a control the way a hostile browser could, skipping ipywidgets' own
    validation (the widgets must check every value themselves)."""
    control._trait_values["value"] = value


# -- ReviewNavigator ----------------------------------------------------------------------------


def test_navigator_offers_recent_complete_months_and_the_teams(project) -> None:
    navigator = ReviewNavigator(project)
    assert navigator.period == "2026-10" and navigator.team == ""
    assert navigator.period_picker.options[:3] == ("2026-10", "2026-09", "2026-08")
    assert len(navigator.period_picker.options) == 12
    assert [value for _, value in navigator.team_picker.options] == ["", *TEAMS]
    navigator.period_picker.value = "2026-09"
    navigator.team_picker.value = "billing"
    assert (navigator.period, navigator.team) == ("2026-09", "billing")
    assert navigator.message == ""


def test_navigator_refuses_a_value_outside_its_options(project) -> None:
    navigator = ReviewNavigator(project, period="2026-09")
    with pytest.raises(traitlets.TraitError):
        navigator.period_picker.value = "2031-01"  # ipywidgets refuses it first...
    force(navigator.period_picker, "2031-01")  # ...and when something slips past it:
    navigator.team_picker.value = "growth"
    assert "period '2031-01' is not one of the choices" in navigator.message
    assert "color: #b00020" in navigator.status.value
    assert (navigator.period, navigator.team) == ("2026-09", "")


def test_navigator_parameters_are_checked(project) -> None:
    with pytest.raises(reviewkit.ReviewkitError, match="not one of the recent complete months"):
        ReviewNavigator(project, period="2020-01")
    with pytest.raises(reviewkit.ReviewkitError, match="team 'sales' is unknown"):
        ReviewNavigator(project, team="sales")


# -- KpiExplorer --------------------------------------------------------------------------------


def test_explorer_draws_the_trend_and_the_table(project, charts) -> None:
    explorer = KpiExplorer(project, metric="csat", start="2026-01-01")
    assert [c[0] for c in charts] == ["kpi_trend"]
    _, args, kwargs = charts[0]
    assert args == (project, "csat")
    assert kwargs["grain"] == "month" and kwargs["filters"] is None
    assert kwargs["period"] == "latest" and kwargs["periods"] == 11  # 2026-01 .. 2026-11
    assert len(explorer.chart.outputs) == 1 and len(explorer.table.outputs) == 1
    assert "2026-03" in explorer.table.outputs[0]["data"]["text/html"]
    assert [v for _, v in explorer.by_picker.options] == ["", "team", "channel", "priority"]


def test_explorer_filters_and_groups_through_the_library(project, charts) -> None:
    explorer = KpiExplorer(project, metric="csat", start="2026-01-01")
    explorer.filter_picker.value = "team"
    assert "support" in explorer.value_picker.options
    assert set(explorer.value_picker.options) <= set(TEAMS)
    wanted = explorer.value_picker.options[0]
    explorer.value_picker.value = (wanted,)
    assert charts[-1][2]["filters"] == {"team": [wanted]}
    explorer.end_picker.value = dt.date(2026, 6, 30)
    assert charts[-1][2]["period"] == "2026-06-30" and charts[-1][2]["periods"] == 6
    drawn = len(charts)
    explorer.filter_picker.value = ""
    explorer.by_picker.value = "channel"
    assert len(charts) == drawn + 1  # the filter change redraws; the breakdown is a table
    table = explorer.chart.outputs[0]["data"]["text/html"]
    assert "chat" in table and "email" in table
    assert len(explorer.chart.outputs) == 1


def test_explorer_refuses_bad_ranges_and_values(project, charts) -> None:
    explorer = KpiExplorer(project, metric="csat")
    explorer.start_picker.value = dt.date(2026, 6, 1)
    drawn = len(charts)
    explorer.end_picker.value = dt.date(2026, 1, 31)
    assert "swap the dates" in explorer.message
    force(explorer.grain_picker, "decade")
    explorer.start_picker.value = dt.date(2025, 1, 1)
    assert "grain 'decade' is not one of the choices" in explorer.message
    assert len(charts) == drawn  # nothing drawn from refused values
    explorer.grain_picker.value = "quarter"
    assert explorer.message == "" and charts[-1][2]["grain"] == "quarter"
    force(explorer.start_picker, "yesterday")
    explorer.refresh()
    assert "is not a date" in explorer.message
    assert len(charts) == drawn + 1
    with pytest.raises(reviewkit.ReviewkitError, match="unknown metric 'sales'"):
        KpiExplorer(project, metric="sales")
    with pytest.raises(reviewkit.ReviewkitError, match="cannot be broken down by 'plan'"):
        KpiExplorer(project, metric="csat", by="plan")
    with pytest.raises(reviewkit.ReviewkitError, match="unknown grain 'decade'"):
        KpiExplorer(project, metric="csat", grain="decade")


def test_explorer_follows_the_navigator(project, charts) -> None:
    navigator = ReviewNavigator(project)
    explorer = KpiExplorer(project, navigator, metric="csat")
    assert explorer.end_picker.value == dt.date(2026, 10, 31)
    navigator.team_picker.value = "support"
    assert explorer.filter_picker.value == "team"
    assert explorer.value_picker.value == ("support",)
    assert charts[-1][2]["filters"] == {"team": ["support"]}
    navigator.period_picker.value = "2026-08"
    assert explorer.end_picker.value == dt.date(2026, 8, 31)
    assert charts[-1][2]["period"] == "2026-08-31"


def offered(picker: Any) -> list[object]:
    return [value for _, value in picker.options]


def test_the_explorer_opens_any_project_on_its_own_catalogue(regional_dir: Path, charts) -> None:
    """A project that is not the sample: with the notebook's defaults (no metric, no breakdown)
    the explorer shows the catalogue's first metric, and the breakdown offers only the picked
    metric's dimensions."""
    with open_project(regional_dir) as regional:
        explorer = KpiExplorer(regional, ReviewNavigator(regional), metric="", by="")
        assert explorer.message == ""
        assert explorer.metric_picker.value == "signups"
        assert charts[-1][1] == (regional, "signups")
        assert offered(explorer.by_picker) == [""]  # signups has no dimension
        assert offered(explorer.filter_picker) == [""]
        explorer.metric_picker.value = "views"
        assert offered(explorer.by_picker) == ["", "region"]
        explorer.by_picker.value = "region"
        assert explorer.message == ""
        assert "north" in explorer.chart.outputs[0]["data"]["text/html"]
        explorer.metric_picker.value = "signups"
        assert offered(explorer.by_picker) == [""] and explorer.by_picker.value == ""
        assert explorer.message == "" and charts[-1][1] == (regional, "signups")
        with pytest.raises(
            reviewkit.ReviewkitError,
            match=r"^metric 'views' cannot be broken down by 'team'; its dimensions are: region$",
        ):
            KpiExplorer(regional, metric="views", by="team")
        with pytest.raises(
            reviewkit.ReviewkitError,
            match=r"^metric 'signups' cannot be broken down by 'region': it has no dimensions$",
        ):
            KpiExplorer(regional, by="region")
        with pytest.raises(
            reviewkit.ReviewkitError,
            match=r"^metric 'views' cannot be filtered on 'team'; its dimensions are: region$",
        ):
            KpiExplorer(regional, metric="views", filters={"team": "a"})
        with pytest.raises(
            reviewkit.ReviewkitError,
            match=r"^unknown metric 'csat'; the catalogue has: signups, views$",
        ):
            KpiExplorer(regional, metric="csat")


def test_the_explorer_of_a_project_without_metrics_says_so(regional_dir: Path) -> None:
    config = (regional_dir / "reviewkit.yaml").read_text(encoding="utf-8")
    (regional_dir / "reviewkit.yaml").write_text(
        config.split("metrics:")[0] + "metrics: {}\n", encoding="utf-8"
    )
    with (
        open_project(regional_dir) as empty,
        pytest.raises(
            reviewkit.ReviewkitError,
            match=r"^the project has no metrics to explore: declare one under `metrics:` in reviewkit.yaml$",
        ),
    ):
        KpiExplorer(empty)


# -- LinkEditor ---------------------------------------------------------------------------------


def candidate_editor(project, search: str = "ONB-418", **options: Any) -> LinkEditor:
    editor = LinkEditor(project, author="alice", **options)
    editor.outcome_picker.value = "onboarding-activation"
    editor.team_picker.value = "onboarding"
    editor.search_box.value = search
    return editor


def test_linking_saves_to_the_store_escapes_and_shows_evidence(project, charts) -> None:
    editor = candidate_editor(project)
    assert editor.lag_box.value == 28  # the outcome's lag
    assert [v for _, v in editor.candidates.options] == ["ONB-418"]
    editor.candidates.value = ("ONB-418",)
    hostile = "<script>alert('x')</script> & more"
    editor.hypothesis_box.value = hostile
    editor.confidence_picker.value = "high"
    editor.link_button.click()
    assert editor.message == "linked ONB-418 to onboarding-activation"
    links = project.links(output_id="ONB-418")
    assert links.iloc[0]["hypothesis"] == hostile  # stored as typed
    assert links.iloc[0]["author"] == "alice" and links.iloc[0]["lag_days"] == 28
    assert links.iloc[0]["direction"] == "increase" and links.iloc[0]["confidence"] == "high"
    assert "&lt;script&gt;" in editor.links_view.value
    assert "<script>" not in editor.links_view.value
    assert "evidence of association, not proof" in editor.evidence.value
    assert len(editor.evidence_charts.outputs) == 1
    assert charts[-1][0] == "impact_chart"
    assert charts[-1][2]["title"] == "ONB-418 → onboarding-activation"
    assert editor.candidates.options == ()  # linked now, so no longer a candidate
    with open_project(project.root) as other:  # another Voila kernel sees it
        assert list(other.links(output_id="ONB-418")["outcome_id"]) == ["onboarding-activation"]


def test_link_many_then_unlink_and_undo(project) -> None:
    editor = candidate_editor(project, search="")
    editor.period_picker.value = "2026-09"
    picked = tuple(v for _, v in editor.candidates.options[:3])
    editor.candidates.value = picked
    editor.direction_picker.value = "decrease"
    editor.link_button.click()
    assert set(project.links(outcome_id="onboarding-activation")["output_id"]) >= set(picked)
    editor.unlinked_box.value = False
    editor.candidates.value = picked[:1]
    editor.unlink_button.click()
    assert editor.message == f"unlinked {picked[0]} from onboarding-activation"
    assert project.links(output_id=picked[0]).empty
    editor.undo_button.click()
    assert editor.message == f"undone: the last change to {picked[0]}→onboarding-activation"
    assert not project.links(output_id=picked[0]).empty
    for _ in picked:  # then each link, newest first
        editor.undo_button.click()
    editor.undo_button.click()
    assert editor.message == "nothing to undo"
    assert not set(picked) & set(project.links(outcome_id="onboarding-activation")["output_id"])


@pytest.mark.parametrize("lag", [-5, 4000])
def test_a_lag_out_of_range_is_refused(project, lag: int) -> None:
    editor = candidate_editor(project)
    editor.candidates.value = ("ONB-418",)
    editor.lag_box.value = lag
    editor.link_button.click()
    assert f"lag {lag} is not a number of days from 0 to 3650" in editor.message
    assert project.links(output_id="ONB-418").empty


def test_hostile_values_are_refused_with_a_message(project) -> None:
    editor = candidate_editor(project)
    editor.link_button.click()
    assert editor.message == "select one or more outputs in the list first"
    editor.candidates.value = ("ONB-418",)
    editor.hypothesis_box.value = "x" * 5000
    editor.link_button.click()
    assert "the hypothesis has 5000 characters" in editor.message
    editor.hypothesis_box.value = "fine"
    force(editor.confidence_picker, "certain")
    editor.link_button.click()
    assert "confidence 'certain' is not one of the choices" in editor.message
    force(editor.confidence_picker, "high")
    force(editor.candidates, ("ONB-418", "NOPE-1"))
    editor.link_button.click()
    assert "output 'NOPE-1' is not one of the choices" in editor.message
    assert project.links(output_id="ONB-418").empty
    editor.search_box.value = "y" * 300
    assert "search has 300 characters" in editor.message


def test_library_errors_are_messages(project) -> None:
    editor = candidate_editor(project)
    editor.candidates.value = ("ONB-418",)
    editor.link_button.click()
    with open_project(project.root) as other:  # bob changes the same link meanwhile
        other.link("ONB-418", "onboarding-activation", hypothesis="bob's", author="bob")
    editor.undo_button.click()
    assert "cannot undo" in editor.message and "bob changed it since" in editor.message
    assert project.links(output_id="ONB-418").iloc[0]["hypothesis"] == "bob's"


def test_link_editor_follows_the_navigator(project) -> None:
    navigator = ReviewNavigator(project, period="2026-10", team="billing")
    editor = LinkEditor(project, navigator)
    assert editor.team_picker.value == "billing" and editor.period_picker.value == "2026-10"
    shown = [label for label, _ in editor.candidates.options]
    assert shown and all("(billing, 2026-10-" in label for label in shown)


# -- CheckinForm --------------------------------------------------------------------------------


def test_checkin_saves_the_proposed_status_and_decisions(project) -> None:
    navigator = ReviewNavigator(project, team="billing")
    form = CheckinForm(project, navigator, author="luis")
    assert [v for _, v in form.outcome_picker.options] == ["billing-churn"]
    assert "on track" in form.proposed.value
    form.note_box.value = "Dunning retries <b>working</b>"
    form.decisions_box.value = "Extend to annual plans | luis\n\n  Review dunning copy|ana  "
    form.save_button.click()
    assert form.message == "saved: billing-churn is on track in 2026-10"
    (checkin,) = project.checkins(period="2026-10")
    assert checkin.note == "Dunning retries <b>working</b>" and checkin.author == "luis"
    assert [(d.text, d.owner) for d in checkin.decisions] == [
        ("Extend to annual plans", "luis"),
        ("Review dunning copy", "ana"),
    ]
    form.status_picker.value = "at risk"
    form.save_button.click()
    assert project.checkins(period="2026-10")[0].status == "at risk"
    form.complete_button.click()
    assert form.message == "the 2026-10 review of billing is complete"


def test_checkin_refuses_bad_decisions_and_values(project) -> None:
    form = CheckinForm(project, author="luis")
    form.decisions_box.value = "Extend to annual plans"
    form.save_button.click()
    assert "decision line 1 'Extend to annual plans' is not 'decision | owner'" in form.message
    form.decisions_box.value = "\n".join(f"d{n} | x" for n in range(25))
    form.save_button.click()
    assert "25 decisions; record at most 20" in form.message
    form.decisions_box.value = ""
    force(form.status_picker, "great")
    form.save_button.click()
    assert "status 'great' is not one of the choices" in form.message
    assert project.checkins() == []


def test_complete_review_shows_the_refusal_and_followups_come_next_month(project) -> None:
    navigator = ReviewNavigator(project, period="2026-09")
    form = CheckinForm(project, navigator, author="luis")
    form.outcome_picker.value = "mobile-nps"
    form.status_picker.value = "off track"
    form.decisions_box.value = "Ship <offline> mode | mia"
    form.save_button.click()
    form.complete_button.click()
    assert "the 2026-09 review cannot be marked complete yet" in form.message
    assert "outcome 'retention' has no check-in for 2026-09" in form.message
    assert "outcome 'mobile-nps' is off track in 2026-09 but has no note" in form.message
    assert "&#x27;retention&#x27;" in form.status.value and "<br>" in form.status.value
    assert project.store.reviews() == []
    navigator.period_picker.value = "2026-10"
    assert "Ship &lt;offline&gt; mode" in form.followups_view.value
    assert form.status_picker.value == "" and form.decisions_box.value == ""
    navigator.period_picker.value = "2026-09"
    assert form.decisions_box.value == "Ship <offline> mode | mia"  # the saved check-in, loaded


def test_checkin_form_has_its_own_navigator_when_none_is_given(project) -> None:
    form = CheckinForm(project)
    assert form.navigator.widget in form.widget.children
    form.navigator.team_picker.value = "support"
    assert [v for _, v in form.outcome_picker.options] == ["support-speed"]


def test_the_real_charts_are_drawn_into_the_outputs(project) -> None:
    explorer = KpiExplorer(project, metric="nps", start="2025-11-01")
    (drawn,) = explorer.chart.outputs
    assert any("vega" in kind or kind == "text/html" for kind in drawn["data"])
    editor = candidate_editor(project)
    editor.candidates.value = ("ONB-418",)
    editor.link_button.click()
    assert editor.message == "linked ONB-418 to onboarding-activation"
    assert len(editor.evidence_charts.outputs) == 1


# -- ReviewDashboard ----------------------------------------------------------------------------


def test_dashboard_shows_the_review_and_drills_into_each_outcome(project) -> None:
    navigator = ReviewNavigator(project, period="2026-10", team="support")
    board = ReviewDashboard(project, navigator)
    assert board.message == ""
    assert "<li>" in board.summary.value
    assert len(board.scorecard.outputs) == 2  # the chart and the table
    headings = [label for label, _ in board.outcome_picker.options]
    assert headings and board.outcome_picker.value == board.outcome_picker.options[0][1]
    first = [o["data"].get("text/html", "") for o in board.detail.outputs]
    assert headings[0] in first[0]
    if len(headings) > 1:
        board.outcome_picker.value = board.outcome_picker.options[1][1]
        assert headings[1] in board.detail.outputs[0]["data"]["text/html"]
    navigator.team_picker.value = "billing"
    assert board.outcome_picker.options != tuple(headings)


def test_dashboard_refuses_an_outcome_outside_its_options(project) -> None:
    board = ReviewDashboard(project, ReviewNavigator(project, team="growth"))
    shown = board.detail.outputs
    force(board.outcome_picker, "outcome-nps")  # not one of growth's outcomes
    board._show_outcome()
    assert "is not one of the choices" in board.message
    assert board.detail.outputs == shown


# -- who may do what (a signed-in viewer) ------------------------------------------------------


def test_a_signed_in_viewer_may_read_but_not_change(project) -> None:
    viewer = Viewer("Ana Reader", "ana@example.com", role="viewer")
    editor = candidate_editor(project)
    editor.viewer = viewer
    editor.candidates.value = ("ONB-418",)
    before = len(project.store.events())
    for button in (editor.link_button, editor.unlink_button, editor.undo_button):
        button.click()
        assert editor.message.startswith("Ana Reader may read these pages but not ")
        assert "ask whoever runs reviewkit to make you a contributor" in editor.message
    form = CheckinForm(project, ReviewNavigator(project, team="billing"), viewer=viewer)
    form.save_button.click()
    assert form.message.startswith("Ana Reader may read these pages but not check in")
    assert len(project.store.events()) == before


def test_contributors_save_under_their_name_and_owners_decide(project) -> None:
    navigator = ReviewNavigator(project, team="billing")
    priya = Viewer("Priya Raman", role="contributor")  # owns onboarding, not billing
    form = CheckinForm(project, navigator, viewer=priya, author="ignored")
    form.note_box.value = "Retries look good"
    form.save_button.click()
    assert form.message == "saved: billing-churn is on track in 2026-10"
    assert project.checkins(period="2026-10")[0].author == "Priya Raman"
    form.decisions_box.value = "Extend to annual plans | luis"
    form.save_button.click()
    assert form.message == (
        "only an outcome's owner may record decisions on billing-churn: Luis Ortega, "
        "not Priya Raman"
    )
    form.decisions_box.value = ""
    form.complete_button.click()
    assert form.message.startswith("only an outcome's owner may complete this review")
    assert project.store.reviews() == []
    luis = Viewer("Luis", "Luis Ortega", role="contributor")  # the owner, by the name given
    owner = CheckinForm(project, navigator, viewer=luis)
    owner.decisions_box.value = "Extend to annual plans | luis"
    owner.save_button.click()
    assert owner.message == "saved: billing-churn is on track in 2026-10"
    owner.complete_button.click()
    assert owner.message == "the 2026-10 review of billing is complete"
    assert project.store.reviews()[0].author == "Luis"
    # the owner's decision has a due date (set outside the form, which does not show it)
    due = Decision("Extend to annual plans", "luis", dt.date(2026, 12, 15))
    project.checkin("billing-churn", "2026-10", note="as decided", decisions=[due])
    # Priya, not the owner, may save a note but not clear, change or add to the decisions
    form = CheckinForm(project, navigator, viewer=priya)
    assert form.decisions_box.value == "Extend to annual plans | luis"
    for edited in ("", "Extend to annual plans | priya", "Extend | luis\nAnother | priya"):
        form.decisions_box.value = edited
        form.save_button.click()
        assert form.message.startswith("only an outcome's owner may record decisions"), edited
    form.decisions_box.value = "Extend to annual plans | luis"
    form.note_box.value = "Priya's note"
    form.save_button.click()
    assert form.message == "saved: billing-churn is on track in 2026-10"
    (kept,) = project.checkins(period="2026-10", outcome_id="billing-churn")
    assert (kept.note, kept.author, kept.decisions) == ("Priya's note", "Priya Raman", (due,))
