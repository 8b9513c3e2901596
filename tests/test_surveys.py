"""Survey KPIs with their uncertainty (issue 32, part 2): NPS and satisfaction computed from the
answers at any grain, with the answers behind them and a 95% interval, checked against counts
and intervals worked out here (and the textbook's Wilson interval)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from reviewkit import open_project
from reviewkit.base.errors import ConfigError, QueryError
from reviewkit.base.periods import Window
from reviewkit.cli import main
from reviewkit.metrics.surveys import Z, estimates, verbatims
from reviewkit.present import narrative
from tests.conftest import TODAY

CONFIG = """\
name: Survey
sources:
  answers:
    path: data/answers.csv
    date: {column: day, gaps: ignore}
    dimensions: [team]
    values: {score: integer, csat: integer}
metrics:
  nps: {source: answers, agg: nps, column: score, direction: higher}
  csat: {source: answers, agg: satisfaction, column: csat, threshold: 4}
  billing_nps:
    source: answers
    agg: nps
    column: score
    filters: {team: billing}
    min_responses: 50
targets:
  - metric: nps
    filters: {team: growth}
    value: 35
    by: 2026-12-31
outcomes:
  - id: growth-nps
    title: Growth customers recommend us
    team: growth
    kpi: {metric: nps, filters: {team: growth}}
    target: {value: 35, by: 2026-12-31}
"""


def answers(month: str, team: str, scores: dict[int, int], csat: dict[int, int]) -> list[str]:
    """Rows of one month and team: ``scores`` {score: count}, ``csat`` {answer: count}, one a
    day in turn; a CSAT left blank where there are more scores than CSAT answers."""
    flat = [s for s, n in scores.items() for _ in range(n)]
    sat = [str(a) for a, n in csat.items() for _ in range(n)]
    sat += [""] * (len(flat) - len(sat))
    return [
        f"2026-{month}-{i % 28 + 1:02d},{team},{s},{c}"
        for i, (s, c) in enumerate(zip(flat, sat, strict=True))
    ]


@pytest.fixture(scope="module")
def survey(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("survey")
    lines = ["day,team,score,csat"]
    # January, growth: 50 promoters, 30 passives, 20 detractors (NPS 30); CSAT 80 of 100 at 4-5
    lines += answers("01", "growth", {10: 30, 9: 20, 8: 30, 3: 20}, {5: 50, 4: 30, 2: 20})
    # January, billing: 10 answers, 4 promoters, 4 detractors (NPS 0); no CSAT answered
    lines += answers("01", "billing", {9: 4, 7: 2, 0: 4}, {})
    # February, growth: 52 promoters, 28 passives, 20 detractors (NPS 32)
    lines += answers("02", "growth", {9: 52, 7: 28, 6: 20}, {5: 81, 1: 19})
    # February, billing: 200 answers, 160 promoters, 20 detractors (NPS 70)
    lines += answers("02", "billing", {10: 160, 8: 20, 5: 20}, {4: 150, 3: 50})
    (root / "data").mkdir()
    (root / "data" / "answers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "reviewkit.yaml").write_text(CONFIG, encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWKIT_TODAY", "2026-03-15")


def nps_interval(promoters: int, detractors: int, n: int) -> tuple[float, float, float]:
    p, d = promoters / n, detractors / n
    half = 1.96 * 100 * math.sqrt((p + d - (p - d) ** 2) / n)
    return 100 * (p - d), 100 * (p - d) - half, 100 * (p - d) + half


def test_nps_and_satisfaction_values_match_the_counts_at_every_grain(survey: Path) -> None:
    data = pd.read_csv(survey / "data" / "answers.csv")
    data["month"] = data["day"].str[:7]
    with open_project(survey) as p:
        monthly = p.kpis(["nps", "csat"], grain="month", by="team")
        quarter = p.kpis(["nps", "csat", "billing_nps"], grain="quarter")
    for row in monthly.itertuples():
        chunk = data[(data["month"] == f"{row.period_start:%Y-%m}") & (data["team"] == row.team)]
        if row.metric == "nps":
            scores = chunk["score"]
            want = 100 * ((scores >= 9).mean() - (scores <= 6).mean())
        else:
            answered = chunk["csat"].dropna()  # a blank answer is not an answer
            want = (answered >= 4).mean() if len(answered) else math.nan
        assert (math.isnan(want) and math.isnan(row.value)) or row.value == pytest.approx(want)
    values = dict(zip(quarter["metric"], quarter["value"], strict=True))
    scores = data["score"]
    assert values["nps"] == pytest.approx(100 * ((scores >= 9).mean() - (scores <= 6).mean()))
    billing = data.loc[data["team"] == "billing", "score"]
    assert values["billing_nps"] == pytest.approx(
        100 * ((billing >= 9).mean() - (billing <= 6).mean())
    )


def test_the_interval_and_the_answers_behind_each_value(survey: Path) -> None:
    january = Window(
        "2026-01", pd.Timestamp("2026-01-01").date(), pd.Timestamp("2026-01-31").date()
    )
    with open_project(survey) as p:
        nps = estimates(p.workspace, p.config.metrics["nps"], [january], by=["team"])
        csat = estimates(p.workspace, p.config.metrics["csat"], [january], by=["team"])
    growth = nps["2026-01", "growth"]
    value, low, high = nps_interval(50, 20, 100)
    assert growth.responses == 100 and growth.value == pytest.approx(value)
    assert (growth.low, growth.high) == (
        pytest.approx(low, abs=0.01),
        pytest.approx(high, abs=0.01),
    )
    assert growth.margin == pytest.approx(1.96 * math.sqrt(61), abs=0.01)  # +-15.3 points
    # Wilson's 95% interval for 80 of 100: 71.1% to 86.7% (Newcombe 1998, table I)
    share = csat["2026-01", "growth"]
    assert share.responses == 100 and share.value == pytest.approx(0.8)
    assert (share.low, share.high) == (
        pytest.approx(0.7112, abs=1e-4),
        pytest.approx(0.8666, abs=1e-4),
    )
    # no answer: no value and no interval, never 0
    none = csat["2026-01", "billing"]
    assert (none.responses, none.value, none.low, none.high) == (0, None, None, None)
    assert pytest.approx(1.96, abs=1e-3) == Z


def test_a_change_within_noise_is_said_and_a_target_inside_the_interval_is_within_noise(
    survey: Path,
) -> None:
    with open_project(survey) as p:
        growth = p.scorecard("2026-02", metrics=["nps", "csat"], filters={"team": "growth"})
        billing = p.scorecard("2026-02", metrics=["nps"], filters={"team": "billing"})
    nps = growth.set_index("metric").loc["nps"]
    # growth: 30 -> 32 on 100 answers each: within noise; the target 35 (to date) inside 32's interval
    assert nps["previous_noise"] and nps["responses"] == 100
    assert any(f.startswith("MoM +2.0 points is within noise") for f in nps["flags"])
    # behind the target to date by more than at_risk allows, but it lies inside 32's interval:
    # the status says so instead of "off track"
    assert nps["status"] == "within noise"
    low, high = (f"{v:.2f}" for v in (nps["low"], nps["high"]))
    assert nps["status_reason"].endswith(
        f", but the target to date lies inside the 95% interval {low} to {high} (100 answers)"
    )
    # billing: 0 (10 answers) -> 70 (200 answers): beyond noise, no flag
    moved = billing.iloc[0]
    assert not moved["previous_noise"]
    assert not any("within noise" in f for f in moved["flags"])
    # the executive summary says the margin and the answers wherever it gives the value
    with open_project(survey) as p:
        summary = narrative.executive_summary(p, p.period("2026-02"), "growth")
    margin = f"{(nps['high'] - nps['low']) / 2:.1f}"
    assert any(f"(nps 32 ±{margin} (100 answers) against" in s for s in summary), summary
    assert any(f"nps is 32 ±{margin} (100 answers) in 2026-02" in s for s in summary)


def test_reviewkit_kpis_shows_the_margin_and_the_answers(survey: Path) -> None:
    result = CliRunner().invoke(
        main, ["kpis", "--period", "2026-02", "--team", "growth", "--project", str(survey)]
    )
    assert result.exit_code == 0, result.output
    table = {line.split()[0]: line for line in result.output.splitlines()[3:6]}
    low, high = nps_interval(52, 20, 100)[1:]
    assert f"32 ±{(high - low) / 2:.1f} (100)" in table["nps"]
    assert "81.0% ±" in table["csat"] and "(100)" in table["csat"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("threshold: 4}", "missing required key 'threshold'"),
        ("agg: nps, column: score, direction", "only used with `agg: satisfaction`"),
    ],
)
def test_survey_config_mistakes_are_named(tmp_path: Path, change: str, message: str) -> None:
    text = CONFIG
    if change.startswith("threshold"):
        text = text.replace(", threshold: 4}", "}")
    else:
        text = text.replace(change, "agg: nps, column: score, threshold: 9, direction", 1)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "answers.csv").write_text("day,team,score,csat\n2026-01-01,a,9,5\n")
    (tmp_path / "reviewkit.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught, open_project(tmp_path):
        pass
    assert message in str(caught.value)


def test_too_few_answers_are_flagged_by_check_and_in_the_scorecard(survey: Path) -> None:
    """billing answered 10 times in January (min_responses: 50) and 200 in February."""
    result = CliRunner().invoke(main, ["check", "--project", str(survey)])
    assert result.exit_code == 0, result.output
    assert (
        "metric 'billing_nps' has fewer than 50 answers in 1 month(s): 2026-01 (10); their "
        "values are noise (reviews flag them)"
    ) in result.output
    with open_project(survey) as p:
        january = p.scorecard("2026-01", metrics=["billing_nps"]).iloc[0]
        february = p.scorecard("2026-02", metrics=["billing_nps"]).iloc[0]
    assert (
        "2026-01 has 10 answers, fewer than the 50 its value needs (min_responses): read it as "
        "noise"
    ) in january["flags"]
    assert not any("fewer than" in f for f in february["flags"])


def test_a_check_in_within_noise_is_decided_by_the_review(survey: Path, tmp_path: Path) -> None:
    """Behind its target by less than its noise, an outcome proposes no status: a check-in
    "as proposed" is refused with the reason, one with a status is recorded (issue 32)."""
    folder = tmp_path / "survey"
    shutil.copytree(survey, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with open_project(folder) as p:
        assert p.proposed_status("growth-nps", "2026-02") == "within noise"
        with pytest.raises(QueryError, match="is within noise of its target in 2026-02"):
            p.checkin("growth-nps", "2026-02")
        saved = p.checkin("growth-nps", "2026-02", status="at risk", note="32 of 35, 100 answers")
        summary = narrative.executive_summary(p, "2026-02")
    assert saved.status == "at risk" and saved.proposed_status is None
    # the review's scorecard table: the value with its margin and answers
    with open_project(folder) as p:
        markup = narrative.scorecard_table(p, "2026-02").markup
    low, high = nps_interval(52, 20, 100)[1:]
    assert f"<td>32 ±{(high - low) / 2:.1f} (100)</td>" in markup
    assert any(s.startswith("✚ Growth customers recommend us is within noise:") for s in summary)
    assert any("+2.0 points on 2026-01 (within noise)" in s for s in summary)


def test_the_kpi_chart_of_a_survey_metric_shades_its_interval(survey: Path) -> None:
    from reviewkit.present import charts  # noqa: PLC0415

    with open_project(survey) as p:
        spec = charts.kpi_trend(p, "nps", period="2026-02", periods=2).to_dict()
        plain = charts.kpi_trend(p, "csat", period="2026-02", periods=2).to_dict()
    areas = [layer for layer in spec["layer"] if layer["mark"].get("type") == "area"]
    (band,) = areas
    rows = spec["datasets"][band["data"]["name"]]
    # January: 54 promoters and 24 detractors of 110 answers (both teams)
    value, low, high = nps_interval(54, 24, 110)
    january = next(r for r in rows if r["period"] == "2026-01")
    assert january["value"] == pytest.approx(value)
    assert (january["low"], january["high"]) == (
        pytest.approx(low, abs=0.01),
        pytest.approx(high, abs=0.01),
    )
    assert january["interval"].endswith("(110 answers)")
    assert "Band: 95% interval from the answers." in spec["title"]["subtitle"]
    assert any(layer["mark"].get("type") == "area" for layer in plain["layer"])  # csat: a share


def test_the_wbr_view_of_a_survey_kpi_has_the_answers_and_says_a_yoy_within_noise(
    tmp_path: Path,
) -> None:
    """The WBR tables carry the answers and the interval of each week and month (counted here
    from the answers), a year-on-year change inside the noise is said, and the WBR chart
    shades the interval; a month short of answers is flagged."""
    from reviewkit.present import charts  # noqa: PLC0415

    lines = ["day,team,score,csat"]
    # February 2025: 50 promoters, 20 detractors of 70 (NPS 42.9); Feb 2026: 52 and 20 of 100 (32)
    lines += [r.replace("2026-", "2025-", 1) for r in answers("02", "growth", {10: 50, 2: 20}, {})]
    lines += answers("02", "growth", {9: 52, 7: 28, 6: 20}, {})
    lines += answers("03", "growth", {9: 3, 1: 2}, {})  # five answers in March 2026
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "answers.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = CONFIG.replace(
        "min_responses: 50",
        "min_responses: 50\n  growth_nps:\n"
        "    source: answers\n    agg: nps\n    column: score\n"
        "    min_responses: 30",
    )
    (tmp_path / "reviewkit.yaml").write_text(config, encoding="utf-8")
    data = pd.read_csv(tmp_path / "data" / "answers.csv", parse_dates=["day"])
    with open_project(tmp_path) as p:
        view = p.wbr("growth_nps", dt.date(2026, 3, 8))
        chart = charts.wbr_chart(view, metric=p.config.metrics["growth_nps"]).to_dict()
    february = view.months.set_index("period").loc["2026-02"]
    value, low, high = nps_interval(52, 20, 100)
    assert february["responses"] == 100 and february["value"] == pytest.approx(value)
    assert (february["low"], february["high"]) == (
        pytest.approx(low, abs=0.01),
        pytest.approx(high, abs=0.01),
    )
    assert february["year_ago_noise"]  # -10.9 points, the difference's margin about 24
    assert "YoY -10.9 points is within noise" in " ".join(february["flags"])
    march = view.months.set_index("period").loc["2026-03"]
    assert march["responses"] == 5
    assert any("fewer than the 30 its value needs" in f for f in march["flags"])
    for week in view.weeks.to_dict("records"):
        days = data[(data["day"].dt.date >= week["start"]) & (data["day"].dt.date <= week["end"])]
        assert (week["responses"] or 0) == len(days), week["period"]
    empty = view.months.set_index("period").loc["2025-06"]
    assert empty["responses"] == 0 and pd.isna(empty["low"])
    months_panel = chart["hconcat"][1]
    (band,) = (layer for layer in months_panel["layer"] if layer["mark"].get("type") == "area")
    shaded = {r["period"]: r for r in chart["datasets"][band["data"]["name"]]}
    assert shaded["2026-02"]["interval"].endswith("(100 answers)")
    assert "Band: 95% interval from the answers." in chart["title"]["subtitle"]


def test_impact_of_a_survey_kpi_reads_months_when_weeks_are_short_of_answers(
    sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sample's mobile NPS without its ``impact_grain: month``: its weeks have about 35
    answers, fewer than the 40 a value needs here, so its links are read per month; a month
    left with five answers (all detractors) is left out of the series rather than read as a
    fall, and the other months are the NPS of the answers (counted here)."""
    monkeypatch.setenv("REVIEWKIT_TODAY", TODAY.isoformat())  # the sample's day
    folder = tmp_path / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    config = folder / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8")
    text = text.replace("    impact_grain: month ", "    # impact_grain: month ")
    config.write_text(text.replace("min_responses: 30", "min_responses: 40"), encoding="utf-8")
    export = folder / "data" / "nps_responses.csv"
    rows = export.read_text(encoding="utf-8-sig").splitlines()
    thin = [r for r in rows if ";mobile;" in r and "-May-2026;" in r]
    kept = [r for r in thin if int(r.split(";")[4]) <= 6][:5]
    export.write_text(
        "\n".join(r for r in rows if r not in thin or r in kept) + "\n", encoding="utf-8"
    )
    data = pd.read_csv(export, sep=";")
    data["month"] = pd.to_datetime(data["responded_on"], format="%a, %d-%b-%Y").dt.strftime("%Y-%m")
    mobile = data[data["team"] == "mobile"]
    with open_project(folder) as p:
        p.import_links(folder / "data" / "links.yaml")
        found = p.impact("MOB-559", "mobile-nps")  # offline mode: the planted +10
        p.link("MOB-559", "customer-love", hypothesis="every user's NPS", direction="increase")
        company = p.impact("MOB-559", "customer-love")  # ~175 answers a week: weeks
    series = found.series.set_index("period_start")
    assert all(day.day == 1 for day in series.index)  # months
    assert len(thin) > 100 and math.isnan(series.loc[dt.date(2026, 5, 1), "actual"])
    for month in ("2025-03", "2026-02", "2026-06"):
        scores = mobile.loc[mobile["month"] == month, "score"]
        want = 100 * ((scores >= 9).mean() - (scores <= 6).mean())
        actual = series.loc[dt.date.fromisoformat(f"{month}-01"), "actual"]
        assert actual == pytest.approx(want), month
    assert found.verdict == "moved as hypothesised"  # the thin month not read as a fall
    days = list(company.series["period_start"])
    assert {b - a for a, b in itertools.pairwise(days)} == {dt.timedelta(weeks=1)}


def test_a_change_of_nps_is_split_across_teams_by_their_answers(survey: Path) -> None:
    """NPS is net promoters per answer: its change splits into each team's rate and mix parts,
    which add up to the change worked out here (January 54 promoters and 24 detractors of
    110 answers, February 212 and 40 of 300), each team's NPS counted here."""
    with open_project(survey) as p:
        found = p.explain("nps", p.period("2026-02"), by="team")
    january, february = 100 * 30 / 110, 100 * 172 / 300
    assert (found.base_value, found.value) == (pytest.approx(january), pytest.approx(february))
    assert found.parts["change"].sum() == pytest.approx(february - january, abs=1e-9)
    teams = found.parts.set_index("part")
    assert (teams.loc["growth", "base"], teams.loc["growth", "value"]) == (30.0, 32.0)
    assert (teams.loc["billing", "base"], teams.loc["billing", "value"]) == (0.0, 70.0)
    # billing's answers grew from 10 of 110 to 200 of 300 at a rate above the mean: mostly mix
    assert teams.loc["billing", "change"] > teams.loc["growth", "change"] > 0


def test_reviews_quote_a_few_detractors_comments_escaped_and_shortened(tmp_path: Path) -> None:
    long = "x" * 400
    rows = [
        "day,team,score,comment",
        "2026-02-01,growth,2,<script>alert(1)</script> & more",
        '2026-02-03,growth,2,slow; "very" slow',
        "2026-02-02,growth,5,meh",
        f"2026-02-04,growth,6,{long}",
        "2026-02-05,growth,1,   ",  # a blank comment is not one
        "2026-02-06,growth,10,love it",  # a promoter: not quoted
        "2026-02-07,billing,0,other team",  # outside the outcome's segment
        "2026-01-31,growth,0,last month",  # outside the month
    ]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (tmp_path / "reviewkit.yaml").write_text(
        "sources:\n  a: {path: data/a.csv, date: {column: day, gaps: ignore}, "
        "dimensions: [team], values: {score: integer}}\n"
        "metrics:\n  nps: {source: a, agg: nps, column: score, comments: comment}\n"
        "outcomes:\n  - id: love\n    title: Love\n    team: growth\n"
        "    kpi: {metric: nps, filters: {team: growth}}\n",
        encoding="utf-8",
    )
    with open_project(tmp_path) as p:
        sections = narrative.outcome_sections(p, "2026-02", "growth")
    markup = next(b.markup for b in sections[0].blocks if "detractors" in getattr(b, "markup", ""))
    # the lowest answers first, then the latest: 2 (Feb 3), 2 (Feb 1), 5; of 4 comments
    assert "(3 of 4 comments; the lowest answers first)" in markup
    items = re.findall(r"<li>(.*?)</li>", markup)
    assert items == [
        "“slow; &quot;very&quot; slow” (2, 2026-02-03)",
        "“&lt;script&gt;alert(1)&lt;/script&gt; &amp; more” (2, 2026-02-01)",
        "“meh” (5, 2026-02-02)",
    ]
    with open_project(tmp_path) as p:
        quoted, count = verbatims(
            p.workspace,
            p.config.metrics["nps"],
            Window("2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
            filters={"team": ["growth"]},
            most=10,
        )
    assert count == 4 and quoted[-1].text == "x" * 277 + "..." and len(quoted[-1].text) == 280
