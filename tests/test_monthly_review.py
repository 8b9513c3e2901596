"""The monthly review: its words from the numbers, the notebook executed for real by papermill,
and the published HTML (offline, no code, escaped, one Vega bundle)."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import time
from pathlib import Path

import duckdb
import nbformat
import pandas as pd
import papermill
import pytest

from reviewkit import ReviewkitError, open_project
from reviewkit.config import Metric
from reviewkit.present import narrative
from reviewkit.publish import html as publish
from reviewkit.publish import report

REPO = Path(__file__).resolve().parents[1]
PERIOD = "2026-10"
HOSTILE_TITLE = '<script>alert("t")</script> Fix & <b>ship</b>'
HOSTILE_HYPOTHESIS = "Fewer steps < more activation"
SECTIONS = (
    "Executive summary",
    "Outcome scorecard",
    "Outcomes",
    "Alignment",
    "Data quality",
    "Appendix: outputs delivered",
)

# the review notebook runs in a real kernel
pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def folder(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample company with its links imported and one hand-added output whose title and
    hypothesis a browser would take for markup."""
    root = tmp_path_factory.mktemp("review") / "project"
    shutil.copytree(sample_dir, root, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with open_project(root) as project:
        project.import_links(root / "data" / "links.yaml")
        project.add_output("ONB-X1", title=HOSTILE_TITLE, team="onboarding", delivered="2026-10-20")
        project.link("ONB-X1", "onboarding-activation", hypothesis=HOSTILE_HYPOTHESIS)
    return root


@pytest.fixture(scope="module")
def project(folder: Path):
    with open_project(folder) as opened:
        yield opened


@pytest.fixture(scope="module")
def reports(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """monthly_review.ipynb executed by papermill for one team and for the whole company, each
    published with to_html (Jupyter's dirs in a temp dir)."""
    scratch = tmp_path_factory.mktemp("papermill")
    pages = {}
    with pytest.MonkeyPatch.context() as patch:
        for name in ("DATA", "RUNTIME", "CONFIG"):
            path = scratch / f"jupyter-{name.lower()}"
            path.mkdir()
            patch.setenv(f"JUPYTER_{name}_DIR", str(path))
        patch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        for team in ("onboarding", ""):
            executed = scratch / f"review-{team or 'company'}.ipynb"
            started = time.perf_counter()
            papermill.execute_notebook(
                str(REPO / "notebooks" / "monthly_review.ipynb"),
                str(executed),
                parameters={"project_dir": str(folder), "period": PERIOD, "team": team},
                kernel_name="python3",
                cwd=str(REPO / "notebooks"),
                progress_bar=False,
            )
            print(f"papermill {team or 'company'}: {time.perf_counter() - started:.1f} s")
            pages[team] = publish.to_html(
                executed, title="Monthly review", subtitle=f"{team or 'Whole company'} · {PERIOD}"
            )
    return pages


# --- the words ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("team", "win", "month"),
    [("onboarding", "ONB-241", "2025-08"), ("support", "SUP-169", "2025-05")],
)
def test_the_summary_recognises_the_planted_win_of_a_team(project, team, win, month) -> None:
    """In the review of the month its effect showed (delivered + lag: 2025-07-09 for ONB-241,
    2025-04-02 for SUP-169), not in the reviews long after: then it is only counted."""
    sentences = narrative.executive_summary(project, month, team)
    wins = [s for s in sentences if s.startswith("Win to recognise")]
    assert any(win in s and "as hypothesised" in s for s in wins), sentences
    later = narrative.executive_summary(project, PERIOD, team)
    assert not any(win in s for s in later), later
    assert any("moved their KPI as hypothesised too: not news" in s for s in later), later


def test_wins_are_those_whose_effect_started_in_the_last_three_months(project) -> None:
    month = project.period("2025-09")
    verdicts = narrative.impacts(project, month, "onboarding")
    wins = narrative.recent_wins(verdicts, month)
    assert list(wins["output"]) == ["ONB-241", "ONB-250", "ONB-258"]
    assert all(dt.date(2025, 7, 1) <= day <= month.end for day in wins["effective"])
    moved = narrative._links(verdicts, "moved as hypothesised")
    older = moved[~moved["output"].isin(wins["output"])]
    # ONB-191, the sample's earlier planted step; the links delivered before it (and before
    # ONB-241) whose windows hold its step are measured up to it and no longer ride on it
    assert list(older["output"]) == ["ONB-191"]
    assert (older["effective"] < dt.date(2025, 7, 1)).all()
    summary = narrative.executive_summary(project, month, "onboarding", impact=verdicts)
    assert sum(s.startswith("Win to recognise") for s in summary) == 3
    # ONB-241 is the sample's planted effect; the two delivered weeks after it ride on its step,
    # and every one of the three wins says the credit is shared
    win = next(s for s in summary if "ONB-241" in s.split("“")[0])
    assert "the effect of ONB-250, ONB-258 falls in the same window: the credit is shared" in win
    assert all("the credit is shared" in s for s in summary if s.startswith("Win to recognise"))
    said = [i for i, s in enumerate(summary) if "whose effect was expected before" in s]
    assert len(said) == 1, summary
    assert (
        f"{len(older)} link(s) whose effect was expected before 2025-07-01 moved"
        in (summary[said[0]])
    )
    # after the wins it counts, and before what is too early to tell
    wins_at = [i for i, s in enumerate(summary) if s.startswith("Win to recognise")]
    early_at = [i for i, s in enumerate(summary) if s.startswith("Too early to tell")]
    assert max(wins_at) < said[0] < min(early_at, default=len(summary))


def test_a_decoy_whose_window_holds_another_links_effect_is_not_a_win(project) -> None:
    """ONB-156's effect window (from November 2024) holds ONB-191's real step, 14 weeks into
    it: the step is not ONB-156's, which is measured before it (issue 28; it read as moved)."""
    verdicts = narrative.impacts(project, project.period("2025-09"), "onboarding")
    frame = verdicts["onboarding-activation"].set_index("output")
    assert frame.loc["ONB-156", "verdict"] == "no detectable change"
    assert "stepped again from 2025-02-17, 14 weeks into" in frame.loc["ONB-156", "sentence"]
    assert (
        "The effect of ONB-191 is expected around that later step"
        in (frame.loc["ONB-156", "sentence"])
    )
    assert frame.loc["ONB-191", "verdict"] == "moved as hypothesised"


def test_the_company_summary_says_what_moved_what_is_off_target_and_what_is_too_early(
    project,
) -> None:
    sentences = narrative.executive_summary(project, PERIOD, "")
    text = "\n".join(sentences)
    # NPS of the mobile team is up 60% on a year earlier, and behind its target; said with its
    # margin and answers, and the segments that moved it
    assert re.search(
        r"Mobile users love the app: NPS is \d+ ±[\d.]+ \([\d,]+ answers\) in 2026-10, .*a year "
        r"earlier \(within noise\)\. By segment: ",
        text,
    )
    # behind its target, but by less than its answers' noise: within noise, not off track
    assert re.search(
        r"Mobile users love the app is within noise: behind the target to date by [\d.]+%[^(]*, "
        r"but the target to date lies inside the 95% interval \d+ to \d+ \([\d,]+ answers\)",
        text,
    )
    assert "Too early to tell whether" in text
    # every link that moved its KPI had its effect start before August: no win is news
    assert not any(s.startswith("Win to recognise") for s in sentences)
    assert re.search(r"\d+ link\(s\) whose effect was expected before 2026-08-01 moved", text)


def test_the_summary_leads_with_what_needs_a_decision(project) -> None:
    """Off track, then at risk, then what moved, the wins and what is too early (issue 30);
    the scorecard in the same order."""
    sentences = narrative.executive_summary(project, PERIOD, "")
    card = project.outcome_scorecard(PERIOD)

    def kind(sentence: str) -> int:
        marks = {"off track": "▼", "at risk": "◆", "within noise": "✚"}
        for rank, (status, mark) in enumerate(marks.items()):
            if any(sentence.startswith(f"{mark} {t} is {status}:") for t in card["title"]):
                return rank
        if sentence.startswith("Too early to tell") or (
            sentence.startswith("…and") and "too early" in sentence
        ):
            return 5
        if sentence.startswith(("Win to recognise", "No outcome's KPI moved", "…and")) or (
            "whose effect was expected before" in sentence
        ):
            return 4
        return 3  # what moved

    kinds = [kind(s) for s in sentences]
    assert kinds == sorted(kinds), list(zip(kinds, sentences, strict=True))
    assert {0, 1, 2, 3, 5} <= set(kinds)  # the sample has each
    statuses = list(card["status"])
    order = ["off track", "at risk", "within noise", "on track", "n/a"]
    assert statuses == sorted(statuses, key=order.index), statuses


def test_each_status_has_its_colour_and_shape_in_the_words_and_the_table(project) -> None:
    """Off track vermillion ▼, at risk orange ◆, within noise sky blue ✚, on track green ●
    (Okabe-Ito), in the summary's list (and the email's, which shares it) and the scorecard
    table (issue 30)."""
    colours = {"▼": "#D55E00", "◆": "#E69F00", "✚": "#56B4E9", "●": "#009E73"}
    listed = narrative.bullets(narrative.executive_summary(project, PERIOD, "")).markup
    marks = re.findall(r'<span class="reviewkit-status" style="color: (#\w+)">(.)</span>', listed)
    assert {mark for _, mark in marks} == {"▼", "◆", "✚"}  # the sample has no all-on-track month
    assert all(colours[mark] == colour for colour, mark in marks)
    markup = narrative.scorecard_table(project, PERIOD, "").markup
    cells = re.findall(
        r'<td class="reviewkit-status" style="color: (#\w+)">(.) ([a-z/ ]+)</td>', markup
    )
    statuses = list(project.outcome_scorecard(PERIOD)["status"])
    assert [status for _, _, status in cells] == statuses
    assert all(colours[mark] == colour for colour, mark, _ in cells)


def test_a_months_split_is_of_the_change_the_sentence_names(project) -> None:
    """In 2026-10 growth's MRR moved notably on a year earlier only: the plans named are each
    plan's own change from October 2025 to October 2026 (the raw snapshot), not from
    September."""
    summary = narrative.executive_summary(project, PERIOD, "growth")
    moved = next(s for s in summary if s.startswith("Growth-team revenue grows"))
    assert " on a year earlier (better). By plan: " in moved and " on 2026-09 " not in moved
    assert growth_plans_moved(project, "2026-10-01", "2025-10-01") == plans_said(moved)


def growth_plans_moved(project, now: str, then: str) -> dict[str, str]:
    """Each of growth's plans' own MRR change between two month-end snapshots (first days
    given), from the raw snapshot, as the summary writes it."""
    snapshot = project.config.root / "data" / "subscriptions.parquet"
    rows = (
        duckdb.connect()
        .execute(
            f"SELECT plan, sum(mrr) FILTER (WHERE month = DATE '{now}') - "
            f"sum(mrr) FILTER (WHERE month = DATE '{then}') "
            f"FROM read_parquet('{snapshot}') WHERE team = 'growth' GROUP BY plan"
        )
        .fetchall()
    )
    return {plan: f"{round(change):,}" for plan, change in rows}


def plans_said(sentence: str) -> dict[str, str]:
    """The plans a summary sentence says moved MRR up, and by how many dollars."""
    return dict(
        re.findall(r"(enterprise|pro|starter) \+\$([\d,]*\d)", sentence.split("By plan:")[1])
    )


def test_the_review_of_a_year_names_each_comparison_once(project) -> None:
    """A year's previous period is the year earlier: its change is said and shown once."""
    markup = narrative.scorecard_table(project, "2025", "growth").markup
    headers = re.findall(r"<th>([^<]*)</th>", markup)
    assert "vs a year ago" in headers and "vs previous" not in headers
    assert len(set(headers)) == len(headers)
    month = re.findall(r"<th>([^<]*)</th>", narrative.scorecard_table(project, PERIOD, "").markup)
    assert {"vs previous", "vs a year ago"} <= set(month)
    summary = narrative.executive_summary(project, "2025", "growth")
    assert summary[0] == "● Every outcome with a target is on track against its target to date."
    moved = summary[1]
    assert re.fullmatch(
        r"Growth-team revenue grows 2\.5% a month: MRR is (\S+) in 2025, \S+ on a year earlier "
        r"\(better\)\. By plan: enterprise \+\$[\d,]+ of it, pro \+\$[\d,]+, starter \+\$[\d,]+\.",
        # not also "on 2024"; explain_by: plan says which plans moved it
        moved,
    )
    # each plan's part is its own MRR change from December 2024 to December 2025 (the last
    # snapshots of the two years), from the raw snapshot
    assert growth_plans_moved(project, "2025-12-01", "2024-12-01") == plans_said(moved)
    calm = narrative.executive_summary(project, "2025", "mobile")[1]
    assert calm.startswith("No outcome's KPI moved notably in 2025 ")
    assert calm.endswith(" on a year earlier).")  # not "on the previous month or a year earlier"
    # billing's churn over 2025 is the year's own (the share of its opening customers lost by
    # its end), not an average month; without explain_by, the change is split by the first
    # dimension the outcome does not fix (team is fixed: plan)
    churn = narrative.executive_summary(project, "2025", "billing")[1]
    assert re.fullmatch(
        r"Fewer billing-team customers churn: Logo churn is \d\d\.\d% in 2025, -\d\.\d pp on a "
        r"year earlier \(better\)\. By plan: (starter|pro|enterprise) [-+]\d\.\d pp of it, .*\.",
        churn,
    )
    # a monthly target series serves the year's review (its last month is the series' due date)
    assert narrative.executive_summary(project, "2025", "onboarding")


def test_outcome_sections_cover_the_teams_outcomes(project) -> None:
    sections = narrative.outcome_sections(project, PERIOD, "billing")
    assert [s.anchor for s in sections] == ["outcome-billing-churn"]
    assert sections[0].heading == "Fewer billing-team customers churn"
    assert '<h3 id="outcome-billing-churn">' in sections[0].heading_html().markup


def test_data_quality_has_a_row_per_export_file(project) -> None:
    frame = narrative.data_quality(project, PERIOD)
    assert set(frame["source"]) == set(project.config.sources)
    assert frame["complete"].all() and (frame["coverage"] == "31 of 31 days").all()
    assert frame["sha256"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert frame["changed"].isna().all()
    first = frame.iloc[0]
    again = narrative.data_quality(project, PERIOD, previous={first["file"]: "0" * 64})
    assert again.iloc[0]["changed"] is True
    late = narrative.data_quality(project, "2026-11")
    assert late["flags"].str.contains("in progress").any()


def test_data_quality_reads_the_last_reviews_snapshot(project, tmp_path: Path) -> None:
    """``reviewkit report`` passes the previous review's snapshot: each export is then marked
    changed or not since that review."""
    frame = narrative.data_quality(project, PERIOD)
    recorded = dict(zip(frame["file"], frame["sha256"], strict=True))
    recorded[frame.iloc[0]["file"]] = "0" * 64  # as if that export was restated since
    folder = tmp_path / "reports" / "2026-09"
    folder.mkdir(parents=True)
    snapshot = folder / "billing.snapshot.json"
    snapshot.write_text(json.dumps({"exports": recorded}), encoding="utf-8")
    (tmp_path / "reports" / "2026-11").mkdir()
    (tmp_path / "reports" / "2026-11" / "billing.snapshot.json").write_text("{}")
    found = report.previous_snapshot(tmp_path / "reports", PERIOD, "billing")
    assert found == str(snapshot)  # the latest before the month, never a later one
    assert report.previous_snapshot(tmp_path / "reports", PERIOD, "growth") == ""
    marked = narrative.data_quality(project, PERIOD, previous=found)
    assert list(marked["changed"]) == [True] + [False] * (len(marked) - 1)
    assert narrative.data_quality(project, PERIOD, previous="")["changed"].isna().all()


def test_the_appendix_lists_the_months_outputs_with_their_outcomes(project) -> None:
    frame = narrative.outputs_appendix(project, PERIOD, "onboarding")
    assert (frame["team"] == "onboarding").all()
    row = frame[frame["output"] == "ONB-X1"].iloc[0]
    assert row["linked outcomes"] == "New customers reach value in their first week"
    assert frame["delivered"].map(lambda d: d.strftime("%Y-%m") == PERIOD).all()


def test_an_effect_is_never_rounded_to_nothing() -> None:
    metric = Metric(name="m", label="M", format="percent")
    # a +0.04 pp effect (+9.6% of 0.43%) read "+0.0 pp (0.0 pp to 0.1 pp)"
    row = {"estimate": 0.000417, "low": 0.00003, "high": 0.00081}
    assert narrative._effect(metric, row) == "+0.04 pp (0.003 pp to 0.1 pp)"


@pytest.mark.parametrize(
    ("estimate", "low", "high", "text"),
    [
        (0.4, -0.2, 1.0, "+0.4 points (-0.2 points to 1 point)"),
        (-6.0, -9.8, -2.1, "-6 points (-10 points to -2 points)"),
    ],
)
def test_an_effect_on_a_score_is_in_points(
    estimate: float, low: float, high: float, text: str
) -> None:
    nps = Metric(name="nps", label="NPS", format="score", decimals=0)
    assert narrative._effect(nps, {"estimate": estimate, "low": low, "high": high}) == text


def test_tables_and_lists_escape_user_text() -> None:
    markup = narrative.table(pd.DataFrame({"title": [HOSTILE_TITLE]})).markup
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    assert "<b>" not in narrative.bullets([HOSTILE_TITLE]).markup


# --- the published report ------------------------------------------------------------------


@pytest.mark.parametrize("team", ["onboarding", ""], ids=["onboarding", "company"])
def test_the_report_has_every_section_and_its_charts(reports, team) -> None:
    page = reports[team]
    for heading in SECTIONS:
        assert re.search(rf"<h2 id=\"[^\"]+\">{re.escape(heading)}", page), heading
        assert f">{heading}</a>" in page.split("<main>")[0]  # in the table of contents
    charts = len(re.findall(r'window\.vegaEmbed\("#reviewkit-', page))
    outcomes = 1 if team else 7
    # the company's two retention KPIs draw their cohorts, growth MRR its change by plan
    extra = 0 if team else 3
    assert charts == 2 + outcomes + extra  # scorecard, alignment, one per outcome, extras
    assert page.count("Logo retention by cohort") == (0 if team else 1)
    assert page.count("if (!window.vegaEmbed)") == 1  # the Vega bundle, once
    assert "New customers reach value in their first week</a>" in page


@pytest.mark.parametrize("team", ["onboarding", ""], ids=["onboarding", "company"])
def test_the_report_is_offline_and_shows_no_code(reports, team) -> None:
    page = reports[team]
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=", page)
    assert not re.search(r"""url\(\s*['"]?https?:""", page)
    assert "cdn." not in page and "require.js" not in page and "MathJax" not in page
    assert "mermaid" not in page and "widget-state" not in page
    # https:// remains only inside the inlined library and the chart specs' $schema: no loads
    loads = re.findall(r"""(?:src|href)\s*=\s*["']https?://""", page)
    assert loads == []
    assert "jp-InputArea" not in page and "jp-InputPrompt" not in page
    assert "narrative.show_outcomes" not in page and "import reviewkit" not in page


def test_the_report_escapes_user_text(reports) -> None:
    page = reports["onboarding"]
    assert HOSTILE_TITLE not in page and "<b>ship</b>" not in page
    assert "&lt;script&gt;alert(" in page  # the appendix and the impact table, as text
    assert "Fewer steps &lt; more activation" in page
    assert "Whole company" not in page and "onboarding · 2026-10" in page


def test_the_report_is_about_a_megabyte(reports) -> None:
    sizes = {team: len(page.encode()) for team, page in reports.items()}
    assert all(800_000 < size < 2_000_000 for size in sizes.values()), sizes


def test_to_html_escapes_the_header_and_refuses_charts_without_their_library() -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("## First"),
        nbformat.v4.new_code_cell("x = 1"),
    ]
    page = publish.to_html(notebook, title="A <b> title", subtitle="team & co")
    assert "<title>A &lt;b&gt; title</title>" in page
    assert "team &amp; co" in page and "x = 1" not in page
    assert '<a href="#First">First</a>' in page
    chart = nbformat.v4.new_output(
        "display_data", data={"text/html": '<div id="c" class="reviewkit-chart"></div>'}
    )
    notebook.cells[1].outputs = [chart]
    with pytest.raises(ReviewkitError, match="lack the Vega library"):
        publish.to_html(notebook, title="t")
