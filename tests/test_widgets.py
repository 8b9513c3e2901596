"""The review widgets driven through their traits, as a browser would, without a browser: set
control values, click buttons, then check the store and what the widget shows."""

from __future__ import annotations

import datetime as dt
import html
import re
import shutil
import subprocess
import sys
import threading
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ipywidgets  # type: ignore[import-untyped]
import pandas as pd
import pytest
import traitlets

import reviewkit.present
from reviewkit import open_project
from reviewkit.base.authors import Author, find_author
from reviewkit.present.widgets import (
    CheckinForm,
    KpiExplorer,
    LinkEditor,
    ReviewDashboard,
    ReviewNavigator,
    Viewer,
)
from reviewkit.serve import dashboard
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


def candidate_editor(
    project, search: str = "ONB-418", author: str | None = "alice", **options: Any
) -> LinkEditor:
    editor = LinkEditor(project, author=author, **options)
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
    """The navigator's team picks the outcomes offered; a period picked there lists the work
    delivered in it. At first every delivered output is listed, newest first (issue 29)."""
    navigator = ReviewNavigator(project, period="2026-10", team="billing")
    editor = LinkEditor(project, navigator)
    assert offered(editor.outcome_picker) == ["billing-churn"]
    assert editor.team_picker.value == "" and editor.period_picker.value == ""
    delivered = [label.rsplit(", ", 1)[1].rstrip(")") for label, _ in editor.candidates.options]
    assert delivered == sorted(delivered, reverse=True)  # newest first
    assert min(delivered) < "2026-09-01" < "2026-10-01" <= max(delivered)  # older work too
    navigator.period_picker.value = "2026-09"
    assert editor.period_picker.value == "2026-09" and editor.message == ""
    shown = [label for label, _ in editor.candidates.options]
    assert shown and all(", 2026-09-" in label for label in shown)
    navigator.team_picker.value = ""
    assert offered(editor.outcome_picker) == list(project.outcomes()["id"])


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


# -- messages on another thread ----------------------------------------------------------------


class Subshell:
    """A kernel subshell: JupyterLab 4.6 delivers ipywidgets' messages on such a thread, not on
    the one that opened the project and its store (issue 29). Setting a control here is what a
    browser's change does there; a deadlock fails the test after a minute."""

    def __init__(self) -> None:
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="subshell")

    def set(self, control: Any, value: object) -> None:
        self.thread.submit(setattr, control, "value", value).result(timeout=60)


@pytest.fixture
def subshell():
    shell = Subshell()
    yield shell
    shell.thread.shutdown()


def shown_ok(panel: Any) -> bool:
    return panel.message == "" and "#b00020" not in panel.status.value


def test_the_link_editor_answers_messages_on_a_subshell_thread(project, subshell) -> None:
    editor = candidate_editor(project, search="")
    everything = editor.candidates.options
    subshell.set(editor.search_box, "ONB-41")  # two keys typed, one message each
    assert shown_ok(editor), editor.message
    narrowed = [v for _, v in editor.candidates.options]
    assert narrowed and len(narrowed) < len(everything)
    assert all(v.startswith("ONB-41") for v in narrowed)
    subshell.set(editor.search_box, "ONB-418")
    assert shown_ok(editor), editor.message
    assert [v for _, v in editor.candidates.options] == ["ONB-418"]
    for outcome_id in ("support-speed", "onboarding-activation"):  # the outcome changed twice
        subshell.set(editor.outcome_picker, outcome_id)
        assert shown_ok(editor), editor.message
        linked = list(project.links(outcome_id=outcome_id)["output_id"])
        assert linked and all(output_id in editor.links_view.value for output_id in linked)
    editor.candidates.value = ("ONB-418",)
    editor.link_button.click()  # and back on the main thread
    assert editor.message == "linked ONB-418 to onboarding-activation"


def test_the_checkin_form_answers_messages_on_a_subshell_thread(project, subshell) -> None:
    form = CheckinForm(project, ReviewNavigator(project, team="billing"), author="luis")
    form.note_box.value = "Retries look good"
    form.save_button.click()
    assert form.message == "saved: billing-churn is on track in 2026-10"
    subshell.set(form.navigator.team_picker, "")  # every team's outcomes
    for outcome_id, note in (("retention", ""), ("billing-churn", "Retries look good")):
        subshell.set(form.outcome_picker, outcome_id)  # the outcome changed twice
        assert form.message == "saved: billing-churn is on track in 2026-10"  # no error since
        assert "#b00020" not in form.status.value
        assert form.note_box.value == note  # its saved check-in, or none
        assert "Proposed from the numbers for 2026-10" in form.proposed.value


def test_a_widget_on_a_subshell_and_a_cell_query_the_project_at_once(project) -> None:
    """While a cell queries on the main thread, widget messages on a subshell query the
    same project: DuckDB refuses a second call on a busy connection ("connection is busy with
    another call"), so the workspace takes them in turn, and each gets its own answer."""
    count = "SELECT team, channel, avg(resolution_hours) AS hours FROM tickets GROUP BY ALL ORDER BY ALL"
    expected_kpis = project.sql(count)
    expected_outputs = project.outputs(team="billing")
    stop = threading.Event()
    errors: list[BaseException] = []

    def cell() -> None:  # a long-running cell
        try:
            while not stop.is_set():
                pd.testing.assert_frame_equal(project.sql(count), expected_kpis)
        except BaseException as exc:  # reported below
            errors.append(exc)

    running = threading.Thread(target=cell)
    running.start()
    try:
        with ThreadPoolExecutor(2, thread_name_prefix="subshell") as shell:
            answers = [shell.submit(project.outputs, team="billing") for _ in range(20)]
            for answer in answers:
                pd.testing.assert_frame_equal(answer.result(timeout=60), expected_outputs)
    finally:
        stop.set()
        running.join(timeout=60)
    assert not running.is_alive() and errors == []


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


# -- who saves (issue 29) ----------------------------------------------------------------------


@pytest.fixture
def nobody(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An environment that names nobody but the OS user root, as JupyterLab in a container: no
    REVIEWKIT_USER or JUPYTERHUB_USER, and a HOME and git config of its own (neither this
    machine's git config nor its system one is read). Returns that HOME."""
    home = tmp_path / "home"
    home.mkdir()
    for name in ("REVIEWKIT_USER", "JUPYTERHUB_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above it
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):  # what getpass reads first
        monkeypatch.setenv(name, "root")
    return home


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=folder, check=True, capture_output=True)


def saved_as(panel: Any) -> str:
    """Who a panel says it saves as: its "Saving as" line as text."""
    return html.unescape(re.sub(r"<[^>]+>", "", panel.saving_as.value))


def test_saves_are_recorded_under_the_first_name_the_environment_knows(
    project, nobody: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """project.actor, REVIEWKIT_USER, `user:` in reviewkit.yaml, JUPYTERHUB_USER, git config
    user.name (with user.email) read in the project's folder, then the OS user: each one found
    when those before it are not, and used by the widgets' saves."""
    found = project.author()
    assert (found.name, found.source, found.person) == ("root", "the OS user", False)
    monkeypatch.setenv("LOGNAME", "ana")  # an OS user that is someone, as a last resort
    assert (project.author().name, project.author().person) == ("ana", True)
    monkeypatch.setenv("LOGNAME", "root")

    git(project.root, "init", "-q")  # a real repository: its config, read from the folder
    git(project.root, "config", "user.email", "ana@example.com")
    assert project.author().source == "the OS user"  # an email alone names nobody
    git(project.root, "config", "user.name", "root")
    assert project.author().source == "the OS user"  # nor does root, wherever it is found
    git(project.root, "config", "user.name", "Ana Lima")
    assert project.author() == Author("Ana Lima <ana@example.com>", "git config user.name")
    git(project.root, "config", "--unset", "user.email")
    git(project.root, "config", "--global", "user.email", "ana@home.example")  # HOME's
    assert project.author().name == "Ana Lima <ana@home.example>"
    editor = candidate_editor(project, author=None)
    assert saved_as(editor) == "Saving as Ana Lima <ana@home.example> (from git config user.name)"
    editor.candidates.value = ("ONB-418",)
    editor.link_button.click()
    assert editor.message == "linked ONB-418 to onboarding-activation"
    assert project.links(output_id="ONB-418").iloc[0]["author"] == "Ana Lima <ana@home.example>"

    monkeypatch.setenv("JUPYTERHUB_USER", "root")  # passed over
    assert project.author().source == "git config user.name"
    monkeypatch.setenv("JUPYTERHUB_USER", "ana.lima")
    assert project.author() == Author("ana.lima", "JUPYTERHUB_USER")

    config = project.root / "reviewkit.yaml"
    config.write_text(config.read_text(encoding="utf-8") + "user: Ana L.\n", encoding="utf-8")
    with open_project(project.root) as configured:
        assert configured.config.user == "Ana L."
        assert configured.author() == Author("Ana L.", "user: in reviewkit.yaml")
        monkeypatch.setenv("REVIEWKIT_USER", "Ana from the environment")
        assert configured.author() == Author("Ana from the environment", "REVIEWKIT_USER")
        form = CheckinForm(configured, ReviewNavigator(configured, team="billing"))
        form.note_box.value = "Retries look good"
        form.save_button.click()
        assert form.message == "saved: billing-churn is on track in 2026-10"
        assert configured.checkins(period="2026-10")[0].author == "Ana from the environment"
        configured.actor = "Ana in code"
        assert configured.author() == Author("Ana in code", "project.actor")
        assert configured.store.actor == "Ana in code"  # the store, already open, follows
        assert configured.author("alice") == Author("alice", "author=")  # a widget's author=
        form.note_box.value = "Retries look good, says Ana"
        form.save_button.click()
        assert configured.checkins(period="2026-10")[0].author == "Ana in code"
        assert saved_as(form) == "Saving as Ana in code (from project.actor)"


def test_git_missing_or_failing_is_no_name(project, nobody: Path, monkeypatch) -> None:
    """Without git on the PATH, or in a folder that is gone, the name is looked for elsewhere
    and nothing fails."""
    git(project.root, "init", "-q")
    git(project.root, "config", "user.name", "Ana Lima")
    assert find_author(folder=project.root).name == "Ana Lima"
    assert find_author(folder=project.root / "gone").source == "the OS user"
    monkeypatch.setenv("PATH", str(nobody))  # an empty folder: no git
    assert find_author(folder=project.root) == Author("root", "the OS user", person=False)


def test_root_alone_is_refused_and_nothing_is_saved(project, nobody: Path) -> None:
    """When the only name found is the OS user root, the link editor and the check-in form say
    so (and how to set a name) before anything is tried, and refuse every save: the store is
    unchanged."""
    how = (
        'set REVIEWKIT_USER (export REVIEWKIT_USER="Ana Lima"), add `user: Ana Lima` to '
        'reviewkit.yaml, or run git config --global user.name "Ana Lima"'
    )
    before = len(project.store.events())
    editor = candidate_editor(project, author=None)
    assert saved_as(editor).startswith("Nothing says who you are, so nothing can be saved")
    assert how in saved_as(editor) and "#b00020" in editor.saving_as.value
    editor.candidates.value = ("ONB-418",)
    editor.hypothesis_box.value = "A checklist"
    for button, doing in (
        (editor.link_button, "link outputs"),
        (editor.unlink_button, "unlink outputs"),
        (editor.undo_button, "undo changes"),
    ):
        button.click()
        assert editor.message == (
            f"not saved: reviewkit will not {doing} as 'root' (the OS user), which says "
            f"nothing about who you are; {how}, then try again"
        )
        assert "#b00020" in editor.status.value
    form = CheckinForm(project, ReviewNavigator(project, team="billing"))
    assert how in saved_as(form)
    form.note_box.value = "Retries look good"
    form.save_button.click()
    assert form.message.startswith("not saved: reviewkit will not check in as 'root'")
    form.complete_button.click()
    assert form.message.startswith("not saved: reviewkit will not complete this review as")
    assert len(project.store.events()) == before
    assert project.links(output_id="ONB-418").empty and project.checkins() == []
    # a name set in the kernel is taken at the next save, and the line says so
    project.actor = "Ana Lima"
    form.save_button.click()
    assert form.message == "saved: billing-churn is on track in 2026-10"
    assert saved_as(form) == "Saving as Ana Lima (from project.actor)"


def test_a_signed_in_person_saves_under_their_name_even_on_a_root_server(
    project, nobody: Path
) -> None:
    """In the served pages' sign-in mode the signed-in person is the author, as before: the
    refusal of root is for the environment's name only, and the page (not the widget) says who
    is signed in."""
    priya = Viewer("Priya Raman", role="contributor")
    form = CheckinForm(project, ReviewNavigator(project, team="billing"), viewer=priya)
    assert form.saving_as.value == ""
    form.note_box.value = "Retries look good"
    form.save_button.click()
    assert form.message == "saved: billing-churn is on track in 2026-10"
    assert project.checkins(period="2026-10")[0].author == "Priya Raman"


def test_the_saving_as_line_is_escaped(project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWKIT_USER", "<b>Ana</b> & <script>x()</script>")
    editor = LinkEditor(project)
    form = CheckinForm(project)
    for panel in (editor, form):
        assert panel.saving_as.value == (
            "Saving as <b>&lt;b&gt;Ana&lt;/b&gt; &amp; &lt;script&gt;x()&lt;/script&gt;</b> "
            "<small>(from REVIEWKIT_USER)</small>"
        )
        assert panel.saving_as in panel.widget.children


def test_a_user_in_reviewkit_yaml_is_one_persons_name(write_config) -> None:
    from reviewkit.base.errors import ConfigError  # noqa: PLC0415
    from reviewkit.config import load_config  # noqa: PLC0415
    from tests.test_config import VALID_SOURCE  # noqa: PLC0415

    base = VALID_SOURCE + "metrics:\n  n: {source: tickets, agg: count}\n"
    assert load_config(write_config(base)).user is None
    assert load_config(write_config(base + "user: Ana Lima <ana@example.com>\n")).user == (
        "Ana Lima <ana@example.com>"
    )
    for wrong, said in (
        ("root", "'root' says nothing about who saves"),
        ('"  "', "write one person's name on one line"),
        ("[ana, bo]", "expected text"),
    ):
        with pytest.raises(ConfigError, match=said):
            load_config(write_config(base + f"user: {wrong}\n"))


# -- the widgets read well (issue 29) ----------------------------------------------------------


def controls(widget: Any) -> list[Any]:
    """Every control under ``widget`` that has a description, in page order."""
    found = []
    if getattr(widget, "description", "") and not isinstance(widget, ipywidgets.Button):
        found.append(widget)
    for child in getattr(widget, "children", ()):
        found += controls(child)
    return found


def test_the_links_and_checkins_pages_read_well(project, monkeypatch) -> None:
    """As wide as the notebook, descriptions at their own width, one meaning per label, full
    labels on hover, roomy text boxes."""
    monkeypatch.setattr(dashboard, "url_query", lambda: "")
    links = dashboard.page("links", str(project.root), period="latest", team="onboarding")
    checkins = dashboard.page("checkins", str(project.root), period="latest", team="billing")
    navigator, editor = links.panels
    for page, wanted in (
        (links, ["Period", "Outcome's team", "Outcome", "Delivered by", "Delivered in"]),
        (checkins, ["Period", "Outcome's team", "Outcome", "Status", "Confidence", "Note"]),
    ):
        shown = controls(page.widget)
        labels = [control.description for control in shown]
        assert len(labels) == len(set(labels)), labels  # one label, one control, one meaning
        assert [label for label in labels if label in wanted] == wanted
        for control in shown:
            assert control.style.description_width == "initial", control.description
    assert [label for label in labels if "team" in label.casefold()] == ["Outcome's team"]
    form = checkins.panels[1]
    wide = [editor.outcome_picker, editor.search_box, editor.candidates, editor.hypothesis_box]
    for control in [*wide, form.outcome_picker, form.note_box, form.decisions_box]:
        assert control.layout.width == "100%", control.description
    for box in (editor.hypothesis_box, form.note_box, form.decisions_box):
        assert box.rows >= 3
    for row in (editor.widget.children[1], navigator.widget.children[0]):
        assert (row.layout.width, row.layout.flex_flow) == ("100%", "row wrap")
    # the full label of what is picked, on hover
    assert editor.outcome_picker.tooltip == editor.outcome_picker.label
    assert editor.outcome_picker.label == (
        "New customers reach value in their first week (onboarding-activation)"
    )
    form.outcome_picker.value = "billing-churn"
    assert form.outcome_picker.tooltip == "Fewer billing-team customers churn (billing-churn)"
    picked = editor.candidates.options[:2]
    editor.candidates.value = tuple(value for _, value in picked)
    assert editor.candidates.tooltip == "\n".join(label for label, _ in picked)
    # delivered: every month at first, newest first, older work too
    assert editor.period_picker.value == "" and navigator.period == "2026-10"
    delivered = [label.rsplit(", ", 1)[1].rstrip(")") for label, _ in editor.candidates.options]
    assert delivered == sorted(delivered, reverse=True) and min(delivered) < "2026-10-01"
    assert editor.message == "" or editor.message.startswith("showing the newest ")


def test_the_outcome_buttons_show_whole_headings(project) -> None:
    board = ReviewDashboard(project, ReviewNavigator(project, period="2026-10"))
    headings = [label for label, _ in board.outcome_picker.options]
    assert len(headings) > 1 and any(len(heading) > 30 for heading in headings)
    assert board.outcome_picker.tooltips == tuple(headings)
    assert board.outcome_picker.style.button_width == "auto"
    assert board.outcome_picker.layout.width == "100%"
    board.navigator.team_picker.value = "support"
    assert board.outcome_picker.tooltips == tuple(h for h, _ in board.outcome_picker.options)
