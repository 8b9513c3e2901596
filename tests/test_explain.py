"""Why a KPI moved (issue 32, part 3): a change split exactly across a dimension's members or a
derived metric's inputs, checked against splits computed here by hand (pandas over the same
rows, and numbers worked out on paper), with members appearing and disappearing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from reviewkit import open_project
from reviewkit.base.errors import QueryError
from reviewkit.cli import main
from reviewkit.present import charts

# January: teams a and b; February: b and c (a is gone, c is new); a blank team in both.
ORDERS = """\
day,team,customer,amount,refund
2026-01-05,a,c1,100,0
2026-01-06,a,c2,300,10
2026-01-07,b,c3,50,0
2026-01-08,b,c1,150,5
2026-01-09,b,c4,100,0
2026-01-10,,c5,40,0
2026-02-03,b,c3,200,0
2026-02-04,b,c6,100,20
2026-02-05,c,c7,60,0
2026-02-06,c,c3,90,0
2026-02-07,c,c8,30,0
2026-02-08,,c9,70,0
"""

CONFIG = """\
name: Shop
sources:
  orders:
    path: data/orders.csv
    date: {column: day, gaps: ignore}
    dimensions: [team, customer]
    values: {amount: number, refund: number}
metrics:
  revenue: {source: orders, agg: sum, column: amount, format: currency, decimals: 2}
  refunds: {source: orders, agg: sum, column: refund, format: currency, decimals: 2}
  net: {difference: [revenue, refunds], format: currency, decimals: 2}
  orders: {source: orders, agg: count}
  aov: {ratio: [revenue, orders], format: currency, decimals: 2}
  mean_amount: {source: orders, agg: mean, column: amount, decimals: 4}
  customers: {source: orders, agg: count_distinct, column: customer}
  biggest: {source: orders, agg: max, column: amount}
  refund_rate: {ratio: [refunds, revenue], format: percent, scale: 1}
"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("explain")
    (root / "data").mkdir()
    (root / "data" / "orders.csv").write_text(ORDERS, encoding="utf-8")
    (root / "reviewkit.yaml").write_text(CONFIG, encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVIEWKIT_TODAY", "2026-03-15")


def rows() -> pd.DataFrame:
    frame = pd.read_csv(pd.io.common.StringIO(ORDERS), keep_default_na=False)
    frame["team"] = frame["team"].replace("", "(blank)")
    frame["month"] = frame["day"].str[:7]
    return frame


def parts(found) -> dict[str, dict[str, float]]:
    return {row["part"]: row for row in found.parts.to_dict("records")}


def test_a_sum_moves_by_its_members_moves_including_new_and_gone_ones(shop: Path) -> None:
    data = rows()
    by_team = data.pivot_table(index="team", columns="month", values="amount", aggfunc="sum")
    by_team = by_team.fillna(0.0)
    with open_project(shop) as p:
        found = p.explain("revenue", "2026-02", by="team")
    got = parts(found)
    assert set(got) == {"a", "b", "c", "(blank)"}
    for team, row in by_team.iterrows():
        assert got[team]["change"] == pytest.approx(row["2026-02"] - row["2026-01"])
    assert found.change == pytest.approx(-190.0)  # 740 -> 550
    assert found.parts["change"].sum() == pytest.approx(found.change, abs=1e-12)
    assert list(found.parts["part"])[:2] == ["a", "c"]  # largest first: -400, +180
    assert found.sentence().startswith("revenue -$190.00 from 2026-01 to 2026-02 ($740.00 to")


def test_a_ratio_splits_into_rate_and_mix_that_add_up_exactly(shop: Path) -> None:
    """Average order value by team: rate = average share x change of the team's AOV; mix =
    (its average AOV - the overall average AOV) x change of its share of orders; a team in one
    month only is all mix (its AOV held)."""
    data = rows()
    grouped = data.groupby(["month", "team"]).agg(revenue=("amount", "sum"), n=("amount", "size"))
    jan, feb = grouped.loc["2026-01"], grouped.loc["2026-02"]
    overall = {
        m: g["revenue"].sum() / g["n"].sum() for m, g in (("2026-01", jan), ("2026-02", feb))
    }
    middle = (overall["2026-01"] + overall["2026-02"]) / 2
    with open_project(shop) as p:
        found = p.explain("aov", "2026-02", by="team")
    got = parts(found)
    for team in {*jan.index, *feb.index}:
        w0 = jan["n"].get(team, 0) / jan["n"].sum()
        w1 = feb["n"].get(team, 0) / feb["n"].sum()
        r0 = jan["revenue"].get(team, 0) / jan["n"][team] if team in jan.index else None
        r1 = feb["revenue"].get(team, 0) / feb["n"][team] if team in feb.index else None
        one, zero = (r1 if r1 is not None else r0), (r0 if r0 is not None else r1)
        assert got[team]["rate"] == pytest.approx((w0 + w1) / 2 * (one - zero), abs=1e-12)
        assert got[team]["mix"] == pytest.approx(((one + zero) / 2 - middle) * (w1 - w0))
    assert got["a"]["rate"] == 0.0 and got["c"]["rate"] == 0.0  # gone, new: all mix
    assert found.kind == "ratio"
    assert found.change == pytest.approx(overall["2026-02"] - overall["2026-01"])
    assert found.parts["change"].sum() == pytest.approx(found.change, abs=1e-12)
    # the mean of a column is the same ratio (sum over count)
    with open_project(shop) as p:
        mean = p.explain("mean_amount", "2026-02", by="team")
    assert mean.parts.set_index("part")["change"].to_dict() == pytest.approx(
        found.parts.set_index("part")["change"].to_dict()
    )


def test_a_hand_worked_rate_and_mix(tmp_path: Path) -> None:
    """On paper: January, x has 8 orders of 10 (share 0.8) at 10.00, y 2 at 20.00 (AOV 12.00);
    February, x 5 of 10 at 10.00, y 5 at 20.00 (AOV 15.00): +3.00, all of it mix, since
    neither team's AOV moved: x (10 - 13.5) x (0.5 - 0.8) = +1.05, y (20 - 13.5) x (0.5 - 0.2)
    = +1.95."""
    lines = ["day,team,customer,amount,refund"]
    for month, counts in (("01", {"x": 8, "y": 2}), ("02", {"x": 5, "y": 5})):
        for team, count in counts.items():
            price = 10 if team == "x" else 20
            lines += [f"2026-{month}-{i + 1:02d},{team},c,{price},0" for i in range(count)]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "reviewkit.yaml").write_text(CONFIG, encoding="utf-8")
    with open_project(tmp_path) as p:
        found = p.explain("aov", "2026-02", by="team")
    got = parts(found)
    assert (found.base_value, found.value) == (pytest.approx(12.0), pytest.approx(15.0))
    assert got["x"]["rate"] == 0.0 and got["y"]["rate"] == 0.0
    assert got["x"]["mix"] == pytest.approx(1.05) and got["y"]["mix"] == pytest.approx(1.95)


def test_a_derived_metric_splits_across_its_inputs(shop: Path) -> None:
    with open_project(shop) as p:
        net = p.explain("net", "2026-02")
        rate = p.explain("refund_rate", "2026-02")
    got = parts(net)
    assert got["revenue"]["change"] == pytest.approx(550 - 740)
    assert got["refunds"]["change"] == pytest.approx(-(20 - 15))  # a difference: minus
    assert net.change == pytest.approx((550 - 20) - (740 - 15))
    # a ratio: the numerator's and the denominator's effects, averaged over both orders
    a0, a1, b0, b1 = 15.0, 20.0, 740.0, 550.0
    numerator = ((a1 / b0 - a0 / b0) + (a1 / b1 - a0 / b1)) / 2
    denominator = ((a0 / b1 - a0 / b0) + (a1 / b1 - a1 / b0)) / 2
    got = parts(rate)
    assert got["refunds"]["change"] == pytest.approx(numerator)
    assert got["revenue"]["change"] == pytest.approx(denominator)
    assert numerator + denominator == pytest.approx(a1 / b1 - a0 / b0)
    assert rate.parts["change"].sum() == pytest.approx(rate.change, abs=1e-15)


def test_a_split_that_would_not_add_up_is_refused(shop: Path) -> None:
    with open_project(shop) as p:
        # customer c3 bought from b and c in February: counted in both teams
        with pytest.raises(QueryError, match="cannot be split exactly"):
            p.explain("customers", "2026-02", by="team")
        with pytest.raises(QueryError, match=r"cannot split the change of 'biggest' \(agg: max\)"):
            p.explain("biggest", "2026-02", by="team")
        with pytest.raises(QueryError, match="say which dimension"):
            p.explain("revenue", "2026-02")
        with pytest.raises(QueryError, match="no value in 2025-12"):
            p.explain("revenue", "2026-01", by="team")
        assert p.explain("customers", "2026-02", by="customer").change == pytest.approx(0.0)


def test_retention_splits_by_the_team_customers_had_at_the_start(tmp_path: Path) -> None:
    """On paper: January opens with x 10 accounts (9 kept) and y 10 (8 kept): 85%; February
    with x 9 + 5 new in January = 14 (13 kept) and y 8 (8 kept): 21 of 22."""
    lines = ["id,team,start,end"]
    n = 0

    def add(team: str, start: str, end: str = "") -> None:
        nonlocal n
        lines.append(f"A{n},{team},{start},{end}")
        n += 1

    for _ in range(9):
        add("x", "2025-06-01")
    add("x", "2025-06-01", "2026-01-20")
    for _ in range(8):
        add("y", "2025-06-01")
    add("y", "2025-06-01", "2026-01-05")
    add("y", "2025-06-01", "2026-01-25")
    for _ in range(4):
        add("x", "2026-01-10")
    add("x", "2026-01-10", "2026-02-14")  # new in January, gone in February
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "reviewkit.yaml").write_text(
        "sources:\n  a: {path: data/a.csv, lifecycle: {id: id, start: start, end: end}, "
        "dimensions: [team]}\n"
        "metrics:\n  retention: {source: a, agg: retention, format: percent}\n"
        "  churn: {source: a, agg: churn, format: percent, direction: lower}\n",
        encoding="utf-8",
    )
    with open_project(tmp_path) as p:
        found = p.explain("retention", "2026-02", by="team")
        churn = p.explain("churn", "2026-02", by="team")
    assert (found.base_value, found.value) == (pytest.approx(17 / 20), pytest.approx(21 / 22))
    got = parts(found)
    w0, w1 = {"x": 0.5, "y": 0.5}, {"x": 14 / 22, "y": 8 / 22}
    r0, r1 = {"x": 0.9, "y": 0.8}, {"x": 13 / 14, "y": 1.0}
    middle = (17 / 20 + 21 / 22) / 2
    for team in ("x", "y"):
        rate = (w0[team] + w1[team]) / 2 * (r1[team] - r0[team])
        mix = ((r0[team] + r1[team]) / 2 - middle) * (w1[team] - w0[team])
        assert got[team]["rate"] == pytest.approx(rate)
        assert got[team]["mix"] == pytest.approx(mix)
    assert found.parts["change"].sum() == pytest.approx(found.change, abs=1e-12)
    assert churn.parts["change"].sum() == pytest.approx(-found.change, abs=1e-12)


def test_reviewkit_explain_prints_the_parts_and_the_chart_steps_add_up(shop: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["explain", "aov", "--period", "2026-02", "--by", "team", "--project", str(shop)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Shop · aov ")  # the metric's label: here its name
    assert lines[1].split() == ["team", "2026-01", "2026-02", "rate", "mix", "change"]
    assert lines[-2].split()[0] == "total"
    assert "they add up to the change" in lines[-1]
    as_json = runner.invoke(
        main,
        [
            "explain",
            "revenue",
            "--period",
            "2026-02",
            "--by",
            "team",
            "--format",
            "json",
            "--project",
            str(shop),
        ],
    )
    document = json.loads(as_json.output)
    assert document["change"] == pytest.approx(-190.0)
    assert sum(part["change"] for part in document["parts"]) == pytest.approx(-190.0)
    bad = runner.invoke(
        main, ["explain", "biggest", "--by", "team", "--period", "2026-02", "--project", str(shop)]
    )
    assert bad.exit_code == 1 and "cannot split the change of 'biggest'" in bad.output
    with open_project(shop) as p:
        spec = charts.waterfall_chart(p.explain("revenue", "2026-02", by="team")).to_dict()
    (data,) = spec["datasets"].values()
    steps = [row for row in data if row["kind"] != "value"]
    assert data[0]["end"] == pytest.approx(740.0) and data[-1]["end"] == pytest.approx(550.0)
    assert steps[-1]["end"] == pytest.approx(550.0)  # the steps reach the later value
    assert {row["kind"] for row in steps} == {"better", "worse"}


def test_an_outcomes_explain_by_names_the_members_in_the_summary(
    shop: Path, tmp_path: Path
) -> None:
    from reviewkit.base.errors import ConfigError  # noqa: PLC0415

    outcomes = (
        "outcomes:\n"
        "  - {id: sales, title: Sell more, kpi: revenue, explain_by: team}\n"
        "  - {id: top, title: Bigger orders, kpi: biggest, explain_by: team}\n"
    )
    folder, summary = summarised(shop, tmp_path, outcomes)
    sales = next(s for s in summary if s.startswith("Sell more:"))
    # the three largest parts: a gone (-400), c new (+180), the blank team (+30); b's +0 left out
    assert sales.endswith(" By team: a -$400.00 of it, c +$180.00, (blank) +$30.00.")
    top = next(s for s in summary if s.startswith("Bigger orders:"))
    assert " Its change is not split by team (cannot split the change of 'biggest'" in top
    (folder / "reviewkit.yaml").write_text(
        CONFIG + outcomes.replace("explain_by: team}", "explain_by: region}", 1), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="'region' is not a dimension of source orders"):
        open_project(folder)


def test_without_explain_by_the_summary_splits_by_the_first_free_dimension(
    shop: Path, tmp_path: Path
) -> None:
    """An outcome without ``explain_by`` is split by the first dimension of its KPI's source
    that it does not fix (team here), and a KPI that cannot be split says nothing of it (its
    outcome did not ask)."""
    outcomes = (
        "outcomes:\n"
        "  - {id: sales, title: Sell more, kpi: revenue}\n"
        "  - {id: top, title: Bigger orders, kpi: biggest}\n"
    )
    _, summary = summarised(shop, tmp_path, outcomes)
    sales = next(s for s in summary if s.startswith("Sell more:"))
    assert sales.endswith(" By team: a -$400.00 of it, c +$180.00, (blank) +$30.00.")
    top = next(s for s in summary if s.startswith("Bigger orders:"))
    assert top.endswith(")."), top  # no split, and no word of why


def summarised(shop: Path, tmp_path: Path, outcomes: str) -> tuple[Path, list[str]]:
    """A copy of the shop with ``outcomes`` added, and its executive summary of 2026-02."""
    from reviewkit.present import narrative  # noqa: PLC0415

    folder = tmp_path / "shop"
    shutil.copytree(shop, folder)
    (folder / "reviewkit.yaml").write_text(CONFIG + outcomes, encoding="utf-8")
    with open_project(folder) as p:
        return folder, narrative.executive_summary(p, "2026-02")
