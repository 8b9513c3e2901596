"""Charts from the sample company: each builds, renders offline, and embeds the right data; the
offline renderer and pages inline the chart library once and load nothing from the network."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

from reviewkit import open_project
from reviewkit.evidence.estimator import NOT_ENOUGH, ImpactResult
from reviewkit.present import charts, render
from reviewkit.project import Project
from reviewkit.publish.report.pdf import CHROMIUM_OFFLINE

#: what "a few thousand rows" means for one chart's embedded data
MAX_ROWS = 3000
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def north(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("charts") / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with open_project(folder) as project:
        project.import_links(folder / "data" / "links.yaml")
        yield project


def _datasets(chart: alt.TopLevelMixin) -> dict[str, list[dict[str, Any]]]:
    datasets: dict[str, list[dict[str, Any]]] = chart.to_dict()["datasets"]
    return datasets


def _layer_data(chart: alt.TopLevelMixin) -> list[list[dict[str, Any]]]:
    """Each layer's rows, in layer order."""
    spec = chart.to_dict()
    return [spec["datasets"][layer["data"]["name"]] for layer in spec["layer"]]


def _rows_with(chart: alt.TopLevelMixin, field: str) -> list[dict[str, Any]]:
    return [row for rows in _datasets(chart).values() for row in rows if field in row]


def _impact(north: Project, output: str, outcome: str) -> ImpactResult:
    result = north.impact(output, outcome)
    assert isinstance(result, ImpactResult)
    return result


@pytest.fixture(scope="module")
def built(north: Project) -> dict[str, alt.TopLevelMixin]:
    """Every chart once (building them is what costs: the grid runs every link's impact)."""
    return {
        "kpi_trend": charts.kpi_trend(north, "activation_rate", filters={"team": "onboarding"}),
        "outputs_on_outcome": charts.outputs_on_outcome(north, "onboarding-activation"),
        "impact_chart": charts.impact_chart(
            _impact(north, "ONB-241", "onboarding-activation"),
            title='ONB-241 </script><b>"{datum.x}"',
        ),
        "impact_grid": charts.impact_grid(north, "billing-churn"),
        "wbr_chart": charts.wbr_chart(north.wbr("nps"), metric=north.config.metrics["nps"]),
        "scorecard_chart": charts.scorecard_chart(north.outcome_scorecard(), project=north),
        "alignment_chart": charts.alignment_chart(north, periods=6),
        "outcome_tree": charts.outcome_tree(north, outputs_per_outcome=3),
    }


@pytest.mark.parametrize(
    "name",
    [
        "kpi_trend",
        "outputs_on_outcome",
        "impact_chart",
        "impact_grid",
        "wbr_chart",
        "scorecard_chart",
        "alignment_chart",
        "outcome_tree",
    ],
)
def test_every_chart_renders_offline_with_little_data(built, name) -> None:
    chart = built[name]
    svg = render.to_svg(chart)
    assert svg.startswith("<svg") and "<text" in svg
    assert sum(len(rows) for rows in _datasets(chart).values()) <= MAX_ROWS
    assert "http" not in json.dumps(chart.to_dict()["datasets"])


def test_kpi_trend_has_prior_year_target_status_and_partial_period(north, built) -> None:
    chart = built["kpi_trend"]
    year_ago, target, *_ = _layer_data(chart)
    assert len(year_ago) == 24 and len(target) == 24
    assert {"year_ago", "target", "status", "text", "flags", "complete"} <= set(year_ago[0])
    partial = [row for row in year_ago if not row["complete"]]
    assert [row["period"] for row in partial] == ["2026-11"]  # the data runs to 2026-11-15
    assert partial[0]["status_reason"] == "period in progress"
    with_target = [row for row in year_ago if row["target"] is not None and row["complete"]]
    assert {row["period"] for row in with_target} == {"2026-08", "2026-09", "2026-10"}
    assert all(row["status"] in charts.STATUS_STYLE for row in with_target)
    assert [row["text"] for row in with_target][-1] == "44.4%"  # format_value of the metric
    encodings = json.dumps(chart.to_dict()["layer"])
    assert '".1%"' in encodings  # the axis in the metric's percent format


def test_kpi_trend_without_target_has_no_status_points(north) -> None:
    chart = charts.kpi_trend(north, "csat", periods=12, period="2026-10")
    rows = _layer_data(chart)[0]
    assert len(rows) == 12 and rows[-1]["period"] == "2026-10"
    assert {row["status"] for row in rows} == {"n/a"}
    assert all(row["target"] is None for row in rows)
    spec = chart.to_dict()
    status_layers = [layer for layer in spec["layer"] if "fill" in layer.get("encoding", {})]
    assert all(not spec["datasets"][layer["data"]["name"]] for layer in status_layers)


def test_outputs_on_outcome_marks_each_linked_delivery_with_its_lag(north, built) -> None:
    chart = built["outputs_on_outcome"]
    marks = _rows_with(chart, "hypothesis")
    kpi = _rows_with(chart, "target_text")
    assert len({row["period_start"] for row in kpi}) == 52
    first = min(row["period_start"] for row in kpi)
    last = dt.date.fromisoformat(max(row["period_start"] for row in kpi)) + dt.timedelta(6)
    last = last.isoformat()  # the end of the last week shown
    links = north.links(outcome_id="onboarding-activation")
    delivered = north.outputs().set_index("id")["delivered"]
    expected = {
        (output, delivered[output].isoformat())
        for output in links["output_id"]
        if first <= delivered[output].isoformat() <= last
    }
    assert expected and {(r["output"], r["delivered"]) for r in marks} == expected
    for row in marks:
        day = dt.date.fromisoformat(row["delivered"])
        assert row["lag_end"] == min(day + dt.timedelta(days=28), dt.date(2026, 11, 15)).isoformat()
        assert {"title", "team", "hypothesis", "confidence"} <= set(row)


#: every field of a chart's data that holds a day the chart draws something at
DAY_FIELDS = ("period_start", "delivered", "lag_end")


def _days_drawn(chart: alt.TopLevelMixin) -> list[dt.date]:
    return [
        dt.date.fromisoformat(str(row[field])[:10])
        for rows in _datasets(chart).values()
        for row in rows
        for field in DAY_FIELDS
        if row.get(field) is not None
    ]


@pytest.mark.parametrize("outcome", ["onboarding-activation", "billing-churn"])
def test_outputs_on_outcome_as_of_a_past_month_draws_nothing_after_it(north, outcome) -> None:
    """A review of June 2026 re-run later: no KPI point, delivery or lag window after June 30
    (the data runs to 2026-11-15), and the week running past June 30 computed from its days up
    to June 30, drawn in progress."""
    as_of = dt.date(2026, 6, 30)
    chart = charts.outputs_on_outcome(north, outcome, as_of=as_of)
    days = _days_drawn(chart)
    assert days and max(days) <= as_of
    kpi = _rows_with(chart, "target_text")
    marks = _rows_with(chart, "hypothesis")
    delivered = north.outputs().set_index("id")["delivered"]
    linked = set(north.links(outcome_id=outcome)["output_id"])
    assert not {r["output"] for r in marks} & {o for o in linked if delivered[o] > as_of}
    last = max(kpi, key=lambda r: r["period_start"])
    if outcome == "onboarding-activation":  # weekly: Mon 2026-06-29 .. Sun 2026-07-05
        assert last["period_start"] == "2026-06-29" and last["complete"] is False
        week = {"grain": "week", "start": "2026-06-29", "filters": {"team": "onboarding"}}
        clipped = north.kpi("activation_rate", end=as_of, **week)["value"].iloc[0]
        whole = north.kpi("activation_rate", end="2026-07-05", **week)["value"].iloc[0]
        assert last["value"] == pytest.approx(clipped) and clipped != pytest.approx(whole)
    else:  # billing churn is read from month-end snapshots: per month, June the last
        assert last["period_start"] == "2026-06-01" and last["complete"] is True
    latest = charts.outputs_on_outcome(north, outcome)
    assert max(_days_drawn(latest)) > as_of  # without as_of: the latest data


def test_kpi_trend_as_of_ends_with_the_last_whole_period(north) -> None:
    as_of = dt.date(2026, 6, 30)
    monthly = charts.kpi_trend(north, "nps", periods=12, as_of=as_of)
    rows = _layer_data(monthly)[0]
    assert rows[-1]["period"] == "2026-06" and rows[-1]["complete"]
    assert max(_days_drawn(monthly)) <= as_of
    weekly = charts.kpi_trend(north, "csat", grain="week", periods=8, as_of=as_of)
    assert _layer_data(weekly)[0][-1]["period"] == "2026-W26"  # ends Sun 2026-06-28


def test_review_sections_of_a_past_month_chart_nothing_after_it(north) -> None:
    from reviewkit.present import narrative  # noqa: PLC0415

    month = north.period("2026-04")
    drawn = [
        block
        for section in narrative.outcome_sections(north, month, "", impact={})
        for block in section.blocks
        if isinstance(block, alt.TopLevelMixin)
    ]
    kpis = [chart for chart in drawn if _days_drawn(chart)]
    assert len(kpis) == len(north.config.outcomes)
    assert all(max(_days_drawn(chart)) <= month.end for chart in kpis)
    # the retention KPIs' cohorts: the latest twelve, no age past the month
    for chart in (c for c in drawn if _rows_with(c, "age")):
        cells = _rows_with(chart, "age")
        cohorts = {r["cohort"][:7] for r in cells}
        assert len(cohorts) == narrative.SECTION_COHORTS and max(cohorts) == "2026-04"
        reached = {_month_after(r["cohort"][:7], r["age"]) for r in cells}
        assert max(reached) == "2026-04"
    # growth MRR's change by plan: the one the summary names, April against a year earlier
    (waterfall,) = (c for c in drawn if _rows_with(c, "kind"))
    bars = _rows_with(waterfall, "kind")
    assert (bars[0]["label"], bars[-1]["label"]) == ("2025-04", "2026-04")
    (said,) = (
        s for s in narrative.executive_summary(north, month, "growth") if s.startswith("Growth")
    )
    assert " on a year earlier (better). By plan: " in said and " on 2026-03 " not in said


def _month_after(label: str, months: int) -> str:
    year, month = divmod(int(label[:4]) * 12 + int(label[5:7]) - 1 + months, 12)
    return f"{year}-{month + 1:02d}"


def test_impact_chart_shows_the_verdict_and_keeps_user_text_as_text(north, built) -> None:
    result = _impact(north, "ONB-241", "onboarding-activation")
    spec = built["impact_chart"].to_dict()
    assert spec["title"]["text"] == 'ONB-241 </script><b>"{datum.x}"'
    assert spec["title"]["subtitle"][0].startswith("Verdict: moved as hypothesised")
    series = _rows_with(built["impact_chart"], "counterfactual")
    assert len(series) == len(result.series)
    assert "datum.x" not in json.dumps(spec["layer"])  # never an expression


def test_impact_grid_has_a_panel_per_link_with_its_verdict(north, built) -> None:
    rows = _rows_with(built["impact_grid"], "verdict")
    shown = {row["output"]: row["verdict"] for row in rows}
    expected = north.outcome_impact("billing-churn")
    assert shown == dict(zip(expected["output"], expected["verdict"], strict=True))
    assert all(row["panel"] == f"{row['output']}: {row['verdict']}" for row in rows)


def test_wbr_chart_has_six_weeks_and_twelve_months_this_year_and_last(built) -> None:
    spec = built["wbr_chart"].to_dict()
    lines = [
        next(layer for layer in panel["layer"] if layer["mark"]["type"] == "line")
        for panel in spec["hconcat"]
    ]
    weeks, months = (spec["datasets"][layer["data"]["name"]] for layer in lines)
    assert len(weeks) == 12 and len(months) == 24
    assert [r["series"] for r in weeks].count("this year") == 6
    assert [r["series"] for r in months].count("this year") == 12
    partial = [r["period"] for r in months if r["partial"] and r["series"] == "this year"]
    assert partial == ["2026-11"]  # the month to date
    # NPS, a survey KPI: the interval shaded under this year's line, the answers in the tooltip
    assert all(r["interval"].endswith(" answers)") for r in weeks if r["series"] == "this year")
    assert {layer["mark"]["type"] for layer in spec["hconcat"][0]["layer"]} >= {"area", "line"}


def test_scorecard_chart_has_a_row_and_a_sparkline_per_outcome(north, built) -> None:
    card = north.outcome_scorecard()
    rows = _rows_with(built["scorecard_chart"], "reason")
    assert [r["name"] for r in rows] == list(card["title"])
    assert [r["status"] for r in rows] == list(card["status"])
    assert [r["value"] for r in rows] == list(card["text"])
    spark = {(r["row"], r["step"]): r for r in _rows_with(built["scorecard_chart"], "step")}
    assert 0 < len(spark) <= 12 * len(card)
    assert {row for row, _ in spark} == set(range(len(card)))


def test_a_change_within_rounding_is_neither_better_nor_worse(north, built) -> None:
    """-0.04 pp of a rate whose changes are written to 0.1 pp is grey and says "(≈0)"; a change
    that shows at those decimals is better or worse by the metric's direction (issue 30)."""
    card = north.outcome_scorecard().set_index("title")
    rows = {r["name"]: r for r in _rows_with(built["scorecard_chart"], "reason")}
    for title, row in rows.items():
        for key in ("previous", "year_ago"):
            change, unit = card.at[title, f"{key}_change"], card.at[title, "change_unit"]
            if unit not in ("pp", "percent") or pd.isna(change):  # both written to 0.1
                continue
            text = card.at[title, f"{key}_change_text"]
            if round(abs(change), 1) == 0 and change != 0:
                assert (row[key], row[f"{key}_is"]) == (f"{text} (≈0)", "same"), (title, key)
            elif change != 0:
                better = (change > 0) == (card.at[title, "direction"] == "higher")
                assert (row[key], row[f"{key}_is"]) == (text, "better" if better else "worse")
    assert any(r["previous_is"] == "same" for r in rows.values())  # the sample's churn, -0.04 pp


def test_scorecard_chart_works_without_history(north) -> None:
    chart = charts.scorecard_chart(north.scorecard("2026-10", metrics=["csat", "nps"]))
    assert [r["name"] for r in _rows_with(chart, "reason")] == ["CSAT", "NPS"]
    assert not _rows_with(chart, "step")


def _column_titles(chart: alt.TopLevelMixin) -> list[str]:
    return [panel["title"]["text"] for panel in chart.to_dict()["hconcat"] if "title" in panel]


def test_scorecard_chart_names_each_comparison_once(north) -> None:
    month = charts.scorecard_chart(north.scorecard("2026-10", metrics=["csat", "nps"]))
    assert _column_titles(month) == [
        "metric",
        "2026-10",
        "vs previous",
        "vs year ago",
        "target to date",
        "status",
    ]
    # a year's previous period is the year earlier: one column, not the same change twice
    year = charts.scorecard_chart(north.scorecard("2025", metrics=["csat", "nps"]))
    titles = _column_titles(year)
    assert titles == ["metric", "2025", "vs year ago", "target to date", "status"]


def test_alignment_chart_stacks_effort_and_names_neglected_outcomes(north, built) -> None:
    effort = _rows_with(built["alignment_chart"], "kind")
    teams = {r["team"] for r in effort}
    assert len({r["period"] for r in effort}) == 6
    assert len(effort) == 2 * 6 * len(teams)
    latest = north.alignment(north.period("latest", "month"))
    outcomes = _rows_with(built["alignment_chart"], "state")
    neglected = {r["outcome"] for r in outcomes if r["state"] == "neglected"}
    assert neglected == set(latest.neglected)


def test_outcome_tree_holds_every_outcome_and_recent_outputs(north, built) -> None:
    spec = built["outcome_tree"].to_dict()
    nodes = _rows_with(built["outcome_tree"], "kind")
    edges = spec["datasets"][spec["layer"][0]["data"]["name"]]
    assert len(edges) == len(nodes) - 1  # a tree
    titles = {o.title for o in north.config.outcomes.values()}
    assert {n["label"] for n in nodes if n["kind"] == "outcome"} == titles
    assert sum(n["kind"] == "output" for n in nodes) <= 3 * len(titles)
    assert any(n["kind"] == "more" for n in nodes)


# --- rendering ---------------------------------------------------------------------------------

SCRIPT_SRC = re.compile(r"<script[^>]*\bsrc\s*=", re.IGNORECASE)
#: defined once at the end of vl-convert's bundle: counts how often the library is inlined
LIBRARY_MARK = "window.vegaEmbed="


def test_bundle_marker_is_unique() -> None:
    assert render.bundle().count(LIBRARY_MARK) == 1


def test_the_bundle_is_built_once_per_machine(tmp_path, monkeypatch) -> None:
    """vl-convert's second of CPU is paid once: later processes read the cached file."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    render.bundle.cache_clear()
    try:
        built = render.bundle()
        cached = render.bundle_cache()
        assert cached.parent == tmp_path / "reviewkit"
        assert cached.read_text(encoding="utf-8") == built
        cached.write_text("window.vegaEmbed=1; // from the cache", encoding="utf-8")
        render.bundle.cache_clear()
        assert render.bundle() == "window.vegaEmbed=1; // from the cache"
    finally:
        render.bundle.cache_clear()


def test_renderer_sends_html_only_and_the_library_once(built) -> None:
    try:
        render.new_document()
        render.enable()
        assert alt.renderers.active == render.RENDERER
        first = built["kpi_trend"]._repr_mimebundle_()
        second = built["wbr_chart"]._repr_mimebundle_()
    finally:
        alt.renderers.enable("default")
    bundles = [b[0] if isinstance(b, tuple) else b for b in (first, second)]
    assert all(set(b) == {"text/html"} for b in bundles)
    first_html, second_html = (b["text/html"] for b in bundles)
    assert first_html.count(LIBRARY_MARK) == 1 and LIBRARY_MARK not in second_html
    assert "window.vegaEmbed" in second_html  # waits for the library the first output defined
    assert not SCRIPT_SRC.search(first_html + second_html)
    assert len(second_html) < 100_000


def test_a_charts_id_comes_from_its_spec_so_a_review_run_again_is_the_same_page(built) -> None:
    """A re-run over unchanged data must be the same page byte for byte (its delivery is keyed
    on what it shows): the same chart gets the same id in every document, a second copy of it
    in one document its own."""
    ids = re.compile(r'<div id="(reviewkit-[0-9a-f-]+)"')

    def document() -> list[str]:
        render.new_document()
        shown = [
            built[name]._repr_mimebundle_() for name in ("kpi_trend", "wbr_chart", "kpi_trend")
        ]
        return [ids.findall((b[0] if isinstance(b, tuple) else b)["text/html"])[0] for b in shown]

    try:
        render.enable()
        first, again = document(), document()
    finally:
        alt.renderers.enable("default")
    assert first == again
    assert len(set(first)) == 3 and first[2] == first[0] + "-1"
    page = render.page([built["kpi_trend"], built["kpi_trend"]], "twice")
    assert ids.findall(page) == [first[0], first[0] + "-1"]


def test_enabled_renderer_draws_charts_over_altairs_5000_rows() -> None:
    # a company-wide scorecard has 12 sparkline points per outcome: 502 outcomes of the
    # simulated 500-team company (benchmark 7) made 5,743 rows and failed the review
    many = pd.DataFrame({"step": range(6000), "y": [i % 7 for i in range(6000)]})
    chart = alt.Chart(many).mark_line().encode(x="step:Q", y="y:Q")
    try:
        render.new_document()
        render.enable()
        bundle = chart._repr_mimebundle_()
    finally:
        alt.renderers.enable("default")
        alt.data_transformers.enable("default")
    html = (bundle[0] if isinstance(bundle, tuple) else bundle)["text/html"]
    assert html.count('"step"') >= 6000


def test_page_inlines_the_library_once_for_two_charts(built) -> None:
    html = render.page([built["kpi_trend"], built["impact_chart"]], "Review <October>")
    assert html.count(LIBRARY_MARK) == 1
    assert not SCRIPT_SRC.search(html)
    assert html.count('class="reviewkit-chart"') == 2
    assert "<title>Review &lt;October&gt;</title>" in html
    assert "</script><b>" not in html  # the user's title cannot close the script
    assert len(html) < 1_200_000


def test_pictures_are_png_and_svg(built) -> None:
    assert render.to_png(built["wbr_chart"]).startswith(b"\x89PNG")
    assert render.to_svg(built["wbr_chart"]).startswith("<svg")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's scripts")
def test_page_scripts_run_and_embed_each_chart(built, tmp_path) -> None:
    """Run the page's scripts in node: the library defines vegaEmbed (twice is harmless) and
    every chart script hands its spec to it."""
    html = render.page([built["kpi_trend"], built["wbr_chart"]], "Two")
    scripts = re.findall(r"<script>\n(.*?)</script>", html, re.DOTALL)
    (tmp_path / "scripts.json").write_text(json.dumps(scripts), encoding="utf-8")
    runner = tmp_path / "run.js"
    runner.write_text(
        """
const fs = require("fs"), vm = require("vm");
const scripts = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const ctx = {console, setTimeout, clearTimeout, setInterval, clearInterval, URL,
             TextEncoder, TextDecoder, performance, queueMicrotask, structuredClone};
ctx.window = ctx; ctx.self = ctx; vm.createContext(ctx);
vm.runInContext(scripts[0], ctx);
vm.runInContext(scripts[0], ctx);
const calls = [];
ctx.document = {getElementById: (id) => ({id}), body: {contains: () => false}};
ctx.vegaEmbed = (target, spec) => { calls.push([target, Object.keys(spec.datasets).length]);
                                    return Promise.resolve({finalize: () => {}}); };
for (const script of scripts.slice(1)) vm.runInContext(script, ctx);
console.log(JSON.stringify(calls));
""",
        encoding="utf-8",
    )
    done = subprocess.run(
        ["node", str(runner), str(tmp_path / "scripts.json")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    calls = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(calls) == 2 and all(n > 0 for _, n in calls)


@pytest.mark.browser  # in headless Chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make test installs it)")
def test_a_chart_that_leaves_the_page_lets_go_of_its_listeners(built, tmp_path) -> None:
    """A live page redraws a chart by clearing its output: the old chart's view is finalized,
    so the listener its export menu put on the document goes (each redraw leaked ~1.6 MB)."""
    page_file = tmp_path / "one.html"
    page_file.write_text(render.page([built["kpi_trend"]], "One"), encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_OFFLINE), headless=True
        )
        tab = browser.new_page()
        tab.goto(page_file.as_uri())
        tab.wait_for_selector(".reviewkit-chart svg")
        cdp = tab.context.new_cdp_session(tab)

        def document_listeners() -> int:
            document = cdp.send("Runtime.evaluate", {"expression": "document"})
            found = cdp.send(
                "DOMDebugger.getEventListeners", {"objectId": document["result"]["objectId"]}
            )
            return len(found["listeners"])

        drawn = document_listeners()
        tab.evaluate("document.querySelector('.reviewkit-chart').remove()")
        deadline = time.monotonic() + 15
        while document_listeners() >= drawn and time.monotonic() < deadline:
            time.sleep(0.25)
        left = document_listeners()
        browser.close()
    assert left < drawn


# --- every chart, clean in a browser's console --------------------------------------------------

#: A project of what real data does to charts: a KPI with a month without rows (February 2026)
#: and missing days, a KPI with one month of data, an outcome with linked outputs (one delivered
#: after the review month), one without links or a target, a team (ops) with outputs and no
#: outcome, and no check-ins.
EDGE_CONFIG = """\
name: Edge cases
calendar: {week_ends_on: sunday, fiscal_year_start_month: 1}
sources:
  kpis:
    path: data/kpis.csv
    date: {column: day, format: "%Y-%m-%d"}
    values: {visits: integer, signups: integer}
  trials:
    path: data/trials.csv
    date: {column: day, format: "%Y-%m-%d"}
    values: {started: integer, converted: integer}
  issues:
    path: data/issues.csv
    date: {column: done, format: "%Y-%m-%d", gaps: ignore}
    dimensions: [team]
    unique: [key]
metrics:
  signups: {source: kpis, agg: daily_mean, column: signups, decimals: 1, direction: higher}
  visits: {source: kpis, agg: sum, column: visits}
  started: {source: trials, agg: sum, column: started}
  converted: {source: trials, agg: sum, column: converted}
  conversion: {ratio: [converted, started], format: percent, direction: higher}
outcomes:
  - id: more-signups
    title: More visitors sign up
    owner: Ana
    team: growth
    kpi: signups
    target: {value: 45, by: 2026-12-31}
  - id: more-visits
    title: More visits, nothing linked yet
    team: growth
    kpi: visits
  - id: trials-convert
    title: Trials convert
    team: trials
    kpi: conversion
    target: {value: 0.3, by: 2026-12-31}
outputs:
  source: issues
  id: key
  title: title
  team: team
"""


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    folder = tmp_path_factory.mktemp("edge") / "project"
    (folder / "data").mkdir(parents=True)
    start = dt.date(2025, 9, 1)
    days = [start + dt.timedelta(n) for n in range(287)]  # to Sunday 2026-06-14
    missing = {dt.date(2025, 11, 5), dt.date(2025, 11, 17)}
    kept = [d for d in days if d.month != 2 and d not in missing]
    may = [dt.date(2026, 5, 1) + dt.timedelta(n) for n in range(31)]
    files = {
        "kpis": ["day,visits,signups", *(f"{d},{1000 + 7 * d.day},{30 + d.day % 9}" for d in kept)],
        "trials": [
            "day,started,converted",
            *(f"{d},{20 + d.day % 5},{5 + d.day % 3}" for d in may),
        ],
        "issues": [
            "key,title,team,done",
            "WEB-1,Shorter sign-up form,growth,2025-11-20",
            "WEB-2,Social sign-in,growth,2026-06-10",
            "OPS-1,Faster backups,ops,2026-04-02",
        ],
    }
    for name, lines in files.items():
        (folder / "data" / f"{name}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "reviewkit.yaml").write_text(EDGE_CONFIG, encoding="utf-8")
    with open_project(folder) as project:
        for output in ("WEB-1", "WEB-2"):
            project.link(output, "more-signups", hypothesis="fewer steps", lag_days=14)
        yield project


def _every_chart(project: Project, name: str, team: str) -> dict[str, alt.TopLevelMixin]:
    """The charts a review, the live pages and the analysts' notebooks make of a project: the
    scorecards (outcomes: the company's, a team's, a team's with no outcome; metrics), each
    outcome's KPI with its outputs (latest, and as of the review month), an impact chart per
    verdict, alignment and the outcome tree."""
    month = project.period("latest", "month")
    made: dict[str, alt.TopLevelMixin] = {
        f"{name} alignment_chart": charts.alignment_chart(project, month),
        f"{name} outcome_tree": charts.outcome_tree(project, outputs_per_outcome=3),
        f"{name} scorecard_chart metrics": charts.scorecard_chart(project.scorecard(month)),
    }
    for shown in (None, team, "ops"):  # ops delivers work but owns no outcome
        card = project.outcome_scorecard(month, team=shown)
        made[f"{name} scorecard_chart {shown or 'company'}"] = charts.scorecard_chart(
            card, project=project
        )
    for outcome_id, outcome in project.config.outcomes.items():
        made[f"{name} outputs_on_outcome {outcome_id}"] = charts.outputs_on_outcome(
            project, outcome_id
        )
        made[f"{name} outputs_on_outcome {outcome_id} as of {month}"] = charts.outputs_on_outcome(
            project, outcome_id, as_of=month.end
        )
        if outcome.team == team:
            results = project.outcome_results(outcome_id)
            for verdict, (output, result) in {
                r.verdict: (o, r) for o, r in results.items()
            }.items():
                made[f"{name} impact_chart {output} ({verdict})"] = charts.impact_chart(
                    result, title=output, metric=project.config.metrics[outcome.metric]
                )
    return made


def test_a_layer_with_nothing_to_draw_is_left_out_but_its_legend_and_axis_stay(north, edge) -> None:
    """Vega warns of an "Infinite extent" for a layer with no row to place; such a layer is left
    out, its legend kept by a layer without rows or position and its axis by the layers kept."""
    no_target = charts.kpi_trend(north, "csat", periods=12, period="2026-10").to_dict()
    empty = [v for v in no_target["layer"] if not no_target["datasets"][v["data"]["name"]]]
    assert empty and not any({"x", "y"} & set(view["encoding"]) for view in empty)
    assert any({"fill", "shape"} <= set(view["encoding"]) for view in empty)  # status legend

    results = north.outcome_results("billing-churn").values()
    without_band = next(r for r in results if r.verdict == NOT_ENOUGH)
    churn = north.config.metrics["churn_rate"]
    spec = charts.impact_chart(without_band, title="BIL", metric=churn).to_dict()
    placed = [view["encoding"]["y"] for view in spec["layer"] if "y" in view["encoding"]]
    assert [y["field"] for y in placed] == ["actual"]  # no band, no counterfactual
    assert placed[0]["title"] == "Logo churn" and placed[0]["axis"]["format"] == ".1%"

    nothing = charts.kpi_trend(edge, "signups", periods=1, period="2026-02").to_dict()
    axis, *legends = nothing["layer"]  # an invisible layer keeps the period's axis
    assert axis["mark"] == {"type": "point", "opacity": 0} and set(axis["encoding"]) == {"x"}
    assert nothing["datasets"][axis["data"]["name"]][0]["period"] == "2026-02"
    assert all(not nothing["datasets"][view["data"]["name"]] for view in legends)


#: Before the page loads: vega-embed, once the page's library defines it, draws the charts one
#: after the other, saying which one it starts ("drawing ID") and when all CHARTS are drawn
ONE_CHART_AT_A_TIME = """
(() => {
  let embed, queue = Promise.resolve(), drawn = 0;
  Object.defineProperty(window, "vegaEmbed", {
    configurable: true,
    set(value) { embed = value; },
    get() {
      return embed && ((target, spec, options) => {
        const done = queue.then(() => {
          console.debug("drawing " + target.slice(1));
          return embed(target, spec, options);
        });
        queue = done.catch(() => null).then(() => {
          if (++drawn === CHARTS) console.debug("drawn");
        });
        return done;
      });
    },
  });
})();
"""


def _browser_problems(named: dict[str, alt.TopLevelMixin], folder: Path) -> list[str]:
    """The charts in one offline page (as :func:`render.page` writes it) in headless Chromium:
    every console warning and error and page error, each with the chart being drawn, and every
    chart left undrawn. The charts are drawn one after the other (vega-embed is wrapped before
    the page loads), so a message belongs to the chart drawn when it came."""
    page = render.page(list(named.values()), "Every chart")
    ids = re.findall(r'<div id="(reviewkit-[0-9a-f-]+)" class="reviewkit-chart">', page)
    assert len(ids) == len(named)
    chart_of = dict(zip(ids, named, strict=True))
    (folder / "every.html").write_text(page, encoding="utf-8")
    one_at_a_time = ONE_CHART_AT_A_TIME.replace("CHARTS", str(len(ids)))
    problems: list[str] = []
    current = ["(before any chart)"]

    def heard(message: Any) -> None:
        if message.type == "debug" and message.text.startswith("drawing "):
            current[0] = chart_of.get(message.text.removeprefix("drawing "), message.text)
        elif message.type in ("warning", "error"):
            problems.append(f"{current[0]}: {message.type}: {message.text}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_OFFLINE), headless=True
        )
        tab = browser.new_page()
        tab.on("console", heard)
        tab.on("pageerror", lambda error: problems.append(f"{current[0]}: page error: {error}"))
        tab.add_init_script(one_at_a_time)
        with tab.expect_console_message(lambda m: m.text == "drawn", timeout=120_000):
            tab.goto((folder / "every.html").as_uri())
        undrawn = tab.eval_on_selector_all(
            ".reviewkit-chart",
            "divs => divs.filter(d => !d.querySelector('svg.marks')).map(d => d.id)",
        )
        browser.close()
    return problems + [f"{chart_of[i]}: not drawn" for i in undrawn]


@pytest.mark.browser  # in headless Chromium
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make test installs it)")
def test_every_chart_draws_with_a_clean_console(north, built, edge, tmp_path) -> None:
    """Vega logged 23 warnings on a monthly review and 6 on the live page (issue 29): layers
    over rows with nothing to place ("Infinite extent": an outcome without outputs, a KPI
    without a target or with months without data) and views sharing a colour scale whose
    domains disagree ("Conflicting scale property": the scorecard's status and its changes).
    Every chart of the sample company and of a project of edge cases must draw with none."""
    named = {f"north {k}": chart for k, chart in built.items()}
    named |= _every_chart(north, "north", "billing")
    named["north impact_grid customer-love"] = charts.impact_grid(north, "customer-love")
    named["north kpi_trend csat"] = charts.kpi_trend(north, "csat", periods=12, period="2026-10")
    named["north kpi_trend nps weekly"] = charts.kpi_trend(north, "nps", grain="week", periods=12)
    named["north kpi_trend nps as of June"] = charts.kpi_trend(
        north, "nps", periods=12, as_of=dt.date(2026, 6, 30)
    )
    named |= _every_chart(edge, "edge", "growth")
    for outcome in edge.config.outcomes:  # links too early or without enough data; none
        named[f"edge impact_grid {outcome}"] = charts.impact_grid(edge, outcome)
        named[f"edge outputs_on_outcome {outcome} monthly"] = charts.outputs_on_outcome(
            edge, outcome, grain="month"
        )
    for metric in ("signups", "visits", "conversion"):  # gaps; no target; one month of data
        named[f"edge kpi_trend {metric}"] = charts.kpi_trend(edge, metric)
        named[f"edge kpi_trend {metric} one period"] = charts.kpi_trend(edge, metric, periods=1)
        named[f"edge kpi_trend {metric} weekly"] = charts.kpi_trend(
            edge, metric, grain="week", periods=12
        )
        named[f"edge wbr_chart {metric}"] = charts.wbr_chart(
            edge.wbr(metric), metric=edge.config.metrics[metric]
        )
    # February 2026: nothing delivered, and no row of the KPI (nothing to draw but the axis)
    named["edge alignment_chart 2026-02"] = charts.alignment_chart(edge, "2026-02", periods=1)
    named["edge kpi_trend signups 2026-02"] = charts.kpi_trend(
        edge, "signups", periods=1, period="2026-02"
    )
    problems = _browser_problems(named, tmp_path)
    assert not problems, f"{len(problems)} console messages:\n" + "\n".join(problems)


def test_on_untuned_data_the_scorecard_leads_with_what_needs_a_decision(edge) -> None:
    """The edge project (an outcome without a target, gaps, one team's month without rows):
    the scorecard is in the attention order (off track, at risk, on track, then n/a and the
    rest), reviewkit.yaml's order within a status; the chart's rows follow it (issue 30)."""
    month = edge.period("latest", "month")
    card = edge.outcome_scorecard(month)
    declared = list(edge.config.outcomes)
    rank = {"off track": 0, "at risk": 1, "on track": 2}
    expected = sorted(
        zip(card["outcome"], card["status"], strict=True),
        key=lambda row: (rank.get(row[1], 3), declared.index(row[0])),
    )
    assert list(zip(card["outcome"], card["status"], strict=True)) == expected
    assert card.set_index("outcome").at["more-visits", "status"] == "n/a"  # no target: last
    assert card["outcome"].iloc[-1] == "more-visits"
    assert list(card["outcome"]) != declared  # the sort did something here
    rows = _rows_with(charts.scorecard_chart(card, project=edge), "reason")
    assert [r["status"] for r in rows] == list(card["status"])


def test_business_events_are_drawn_on_the_kpi_charts_and_said_in_the_review(
    sample_dir: Path, tmp_path: Path
) -> None:
    """The events that concern a KPI's segment are drawn where they happened (a rule, a shaded
    range, their titles as data) on the outcome chart and the KPI trend, and the section of
    the month they fall in names them, escaped; another team's event, another KPI's and one
    after the chart's day are not drawn (issue 33, part 3)."""
    from reviewkit.present import narrative  # noqa: PLC0415

    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    hostile = '<img src=x onerror=alert(1)> price "rise"'
    with open_project(folder) as project:
        store = project.store
        store.add_event(hostile, dt.date(2026, 5, 4), metrics=["churn_rate"])
        store.add_event(
            "Billing outage",
            dt.date(2026, 5, 10),
            end=dt.date(2026, 5, 12),
            scope={"team": "billing"},
        )
        store.add_event("Growth campaign", dt.date(2026, 5, 6), scope={"team": "growth"})
        store.add_event("NPS survey change", dt.date(2026, 5, 6), metrics=["nps"])
        store.add_event("Later", dt.date(2026, 7, 1), metrics=["churn_rate"])
        as_of = dt.date(2026, 6, 30)
        chart = charts.outputs_on_outcome(project, "billing-churn", as_of=as_of)
        trend = charts.kpi_trend(project, "churn_rate", filters={"team": "billing"}, as_of=as_of)
        sections = narrative.outcome_sections(project, "2026-05", "billing", impact={})
        wbr = charts.wbr_chart(
            project.wbr("churn_rate", dt.date(2026, 5, 31)),
            events=project.events_about("churn_rate"),
        ).to_dict()
    for drawn in (chart, trend):
        events = {row["event"]: row for row in _rows_with(drawn, "event")}
        assert set(events) == {hostile, "Billing outage"}, drawn
        assert events["Billing outage"]["when"] == "2026-05-10 to 2026-05-12"
        assert events["Billing outage"]["scope"] == "team = billing"
        assert events[hostile]["scope"] == "the whole company"
        spec = drawn.to_dict()
        assert "datum.x" not in json.dumps(spec["layer"])  # titles are data, never expressions
        assert "Purple: a business event" in json.dumps(spec["title"])
        marks = [layer["mark"]["type"] for layer in spec["layer"]]
        assert {"rule", "rect"} <= set(marks)
    outage = next(r for r in _rows_with(chart, "until") if r["event"] == "Billing outage")
    assert (outage["delivered"][:10], outage["until"][:10]) == ("2026-05-10", "2026-05-13")
    (section,) = sections
    told = [b.markup for b in section.blocks if isinstance(b, narrative.Html)]
    said = next(t for t in told if "Business events in 2026-05" in t)
    assert "&lt;img src=x onerror=alert(1)&gt; price &quot;rise&quot; (2026-05-04)" in said
    assert "Billing outage (2026-05-10 to 2026-05-12)" in said
    assert "Growth campaign" not in said and "Later" not in said and "NPS survey" not in said
    # the WBR chart marks the weeks and the month they touch (every segment's: it is the
    # company's view), at its own period labels
    weeks, months = (
        {
            (row["period"], row["event"])
            for layer in panel["layer"]
            for row in wbr["datasets"][layer["data"]["name"]]
            if "event" in row
        }
        for panel in wbr["hconcat"]
    )
    assert weeks == {
        ("2026-W19", hostile),
        ("2026-W19", "Growth campaign"),
        ("2026-W19", "Billing outage"),  # Sunday 10 May to Tuesday 12 May: two weeks
        ("2026-W20", "Billing outage"),
    }
    assert months == {("2026-05", e) for e in (hostile, "Billing outage", "Growth campaign")}
    assert "Purple: a period with a business event." in wbr["title"]["subtitle"]
