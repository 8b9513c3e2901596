"""The sample company: deterministic exports, their format quirks, and visible planted effects."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable
from pathlib import Path

import duckdb
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from reviewkit.scaffold import sample
from reviewkit.scaffold.sample import (
    DECOYS,
    EXPORTED_ON,
    FIRST_DAY,
    PLANTED_EFFECTS,
    TEAM_OUTCOMES,
    TEAMS,
    PlantedEffect,
    generate,
)

REPO = Path(__file__).resolve().parents[1]
EXPORTS = (
    "support_tickets.csv",
    "nps_responses.csv",
    "subscriptions.parquet",
    "product_activity.xlsx",
    "issues_export.csv",
    "mrr_targets.csv",
    "links.yaml",
    "accounts.csv",
)
TEXT_EXPORTS = ("support_tickets.csv", "nps_responses.csv", "issues_export.csv", "accounts.csv")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default sample (seed 7), generated once for this module and only read."""
    root = tmp_path_factory.mktemp("northwind")
    written = generate(root)
    assert [path.name for path in written] == list(EXPORTS)
    return root / "data"


def read_tickets(data: Path) -> pd.DataFrame:
    return pd.read_csv(data / "support_tickets.csv", thousands=",")


def read_nps(data: Path) -> pd.DataFrame:
    return pd.read_csv(data / "nps_responses.csv", sep=";", encoding="utf-8-sig")


def read_activity(data: Path) -> pd.DataFrame:
    return pd.read_excel(data / "product_activity.xlsx", sheet_name="activity", engine="calamine")


def read_issues(data: Path) -> pd.DataFrame:
    return pd.read_csv(data / "issues_export.csv", encoding="latin-1", dtype=str)


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_files(data: Path, tmp_path: Path) -> None:
    generate(tmp_path, seed=7)
    for name in (*TEXT_EXPORTS, "product_activity.xlsx"):
        assert (tmp_path / "data" / name).read_bytes() == (data / name).read_bytes(), name
    again = pq.read_table(tmp_path / "data" / "subscriptions.parquet")
    assert again.equals(pq.read_table(data / "subscriptions.parquet"))


def test_different_seed_gives_different_data(data: Path, tmp_path: Path) -> None:
    generate(tmp_path, seed=8)
    for name in TEXT_EXPORTS:
        assert (tmp_path / "data" / name).read_bytes() != (data / name).read_bytes(), name
    other = pq.read_table(tmp_path / "data" / "subscriptions.parquet")
    assert not other.equals(pq.read_table(data / "subscriptions.parquet"))


def test_no_temporary_files_are_left(data: Path) -> None:
    assert sorted(path.name for path in data.iterdir()) == sorted(EXPORTS)


def test_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        generate(tmp_path, scale=0)
    with pytest.raises(ValueError, match="seed"):
        generate(tmp_path, seed=-1)


# --- format quirks -------------------------------------------------------------------------


def test_tickets_csv_quirks(data: Path) -> None:
    text = (data / "support_tickets.csv").read_bytes().decode("utf-8")
    assert not text.startswith("\ufeff")
    assert text.splitlines()[0] == (
        "ticket_id,created_at,team,channel,priority,subject,resolution_hours,"
        "first_response_seconds,csat"
    )
    assert re.search(r',"\d{1,3},\d{3}",', text), "thousands-separated numbers, quoted"
    assert '""' in text, "subjects with double quotes inside, escaped"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert 40_000 <= len(rows) <= 60_000
    for row in rows[:: len(rows) // 200]:
        dt.datetime.strptime(row["created_at"], "%Y-%m-%d %H:%M:%S")
        seconds = row["first_response_seconds"]
        assert re.fullmatch(r"\d{1,3}(,\d{3})*", seconds)
        assert ("," in seconds) == (int(seconds.replace(",", "")) >= 1000)
        assert row["csat"] in {"", "1", "2", "3", "4", "5"}
    assert any("," in row["subject"] for row in rows)

    tickets = read_tickets(data)
    assert tickets["first_response_seconds"].dtype.kind == "i"
    assert tickets["first_response_seconds"].max() >= 1000
    assert tickets["resolution_hours"].dtype.kind == "f"
    assert set(tickets["channel"]) == {"email", "chat", "phone"}
    assert set(tickets["priority"]) == {"low", "normal", "high"}
    answered = tickets["csat"].notna().mean()
    assert 0.30 <= answered <= 0.40
    created = pd.to_datetime(tickets["created_at"], format="%Y-%m-%d %H:%M:%S")
    weekend = (created.dt.day_of_week >= 5).mean()
    assert weekend < 0.2, "fewer tickets at weekends (2/7 = 0.29 if evenly spread)"


def test_nps_csv_quirks(data: Path) -> None:
    raw = (data / "nps_responses.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 byte order mark"
    assert b"\r\n" in raw
    text = raw.decode("utf-8-sig")
    assert text.splitlines()[0] == "response_id;responded_on;team;segment;score;comment"
    assert re.search(r';"[^"\r\n]*;[^"\r\n]*"\r\n', text), "comments with ; are quoted"
    assert '""' in text, "comments with quotes inside, escaped"
    nps = read_nps(data)
    assert 15_000 <= len(nps) <= 25_000
    assert set(nps["score"]) <= set(range(11))
    assert set(nps["segment"]) == {"smb", "mid-market", "enterprise"}
    days = pd.to_datetime(nps["responded_on"], format="%a, %d-%b-%Y")
    first = nps["responded_on"].iloc[0]
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2}-[A-Z][a-z]{2}-\d{4}", first)
    assert dt.datetime.strptime(first, "%a, %d-%b-%Y").strftime("%a") == first[:3]
    assert days.is_monotonic_increasing


def test_subscriptions_parquet_shape(data: Path) -> None:
    table = pq.read_table(data / "subscriptions.parquet")
    assert table.schema.field("month").type == pa.date32()
    for name in ("account_id", "team", "plan", "region", "status"):
        assert table.schema.field(name).type == pa.string()
    for name in ("starting_mrr", "mrr", "net_new_mrr"):
        assert table.schema.field(name).type == pa.float64()
    frame = table.to_pandas()
    assert 1500 <= frame["account_id"].nunique() <= 3000
    assert set(frame["plan"]) == {"starter", "pro", "enterprise"}
    assert set(frame["status"]) == {"new", "active", "churned"}
    assert all(day.day == 1 for day in frame["month"])
    assert (frame.loc[frame["status"] == "new", "starting_mrr"] == 0).all()
    assert (frame.loc[frame["status"] == "churned", "mrr"] == 0).all()
    assert (frame.loc[frame["status"] != "new", "starting_mrr"] > 0).all()
    difference = frame["mrr"] - frame["starting_mrr"] - frame["net_new_mrr"]
    assert difference.abs().max() < 0.006
    assert not frame.duplicated(["month", "account_id"]).any()


def test_activity_workbook(data: Path) -> None:
    workbook = openpyxl.load_workbook(data / "product_activity.xlsx")
    assert workbook.sheetnames == ["About", "activity"]
    assert "activity" in str(workbook["About"]["A1"].value)
    sheet = workbook["activity"]
    header = [cell.value for cell in sheet[1]]
    assert header == ["date", "team", "signups", "activated", "active_users"]
    first = [cell.value for cell in sheet[2]]
    assert isinstance(first[0], dt.datetime), "a real Excel date, not text"
    assert first[0].date() == FIRST_DAY
    assert sheet["A2"].is_date
    assert all(isinstance(value, int) for value in first[2:])
    assert sheet.max_row - 1 == ((EXPORTED_ON - FIRST_DAY).days + 1) * len(TEAMS)
    fixed = dt.datetime(2026, 11, 15, 6, 0)
    assert workbook.properties.created == fixed
    assert workbook.properties.modified == fixed
    activity = read_activity(data)
    assert (activity["activated"] <= activity["signups"]).all()


def test_issues_csv_quirks(data: Path) -> None:
    raw = (data / "issues_export.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("latin-1")
    for accented in ("é", "ü", "ñ"):
        assert accented in text
    issues = read_issues(data)
    assert list(issues.columns) == [
        "key", "title", "type", "team", "resolved", "story_points", "labels", "epic",
    ]  # fmt: skip
    assert 1500 <= len(issues) <= 2500
    assert issues["key"].is_unique
    prefixes = {"growth": "GRO", "onboarding": "ONB", "billing": "BIL", "support": "SUP"}
    prefixes["mobile"] = "MOB"
    assert (issues["key"].str.split("-").str[0] == issues["team"].map(prefixes)).all()
    assert set(issues["type"]) == {"story", "bug", "task", "spike"}
    assert issues["resolved"].str.fullmatch(r"[1-9]\d?/[1-9]\d?/\d\d").all(), "no zero padding"
    resolved = pd.to_datetime(issues["resolved"], format="%m/%d/%y")
    assert resolved.min().date() >= FIRST_DAY
    assert resolved.max().date() <= EXPORTED_ON
    points = issues["story_points"]
    assert points.isna().any()
    assert set(points.dropna().astype(int)) <= {1, 2, 3, 5, 8, 13}
    assert issues["labels"].str.contains(";", na=False).any()
    assert issues["epic"].isna().any()
    assert issues["title"].str.contains(",").any()


# --- history and teams ---------------------------------------------------------------------


def test_history_spans_the_documented_range_and_all_teams(data: Path) -> None:
    tickets = read_tickets(data)
    nps = read_nps(data)
    subscriptions = pq.read_table(data / "subscriptions.parquet").to_pandas()
    activity = read_activity(data)
    issues = read_issues(data)
    dates = {
        "tickets": pd.to_datetime(tickets["created_at"], format="%Y-%m-%d %H:%M:%S"),
        "nps": pd.to_datetime(nps["responded_on"], format="%a, %d-%b-%Y"),
        "subscriptions": pd.to_datetime(subscriptions["month"]),
        "activity": pd.to_datetime(activity["date"]),
        "issues": pd.to_datetime(issues["resolved"], format="%m/%d/%y"),
    }
    for name, column in dates.items():
        first, last = column.min().date(), column.max().date()
        assert first < dt.date(2024, 1, 8), name
        # the monthly snapshot holds closed months only: its last row is October's
        latest = dt.date(2026, 10, 1) if name == "subscriptions" else dt.date(2026, 11, 1)
        assert latest <= last <= EXPORTED_ON, name
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        assert months >= 30, name
    assert dates["activity"].max().date() == EXPORTED_ON
    for frame in (tickets, nps, subscriptions, activity, issues):
        assert set(frame["team"]) == set(TEAMS)


# --- planted effects -------------------------------------------------------------------------


def monthly_resolution_hours(data: Path, team: str) -> pd.Series:
    tickets = read_tickets(data)
    tickets = tickets[tickets["team"] == team]
    month = pd.to_datetime(tickets["created_at"], format="%Y-%m-%d %H:%M:%S").dt.to_period("M")
    return tickets.groupby(month)["resolution_hours"].mean()


def monthly_activation_rate(data: Path, team: str) -> pd.Series:
    activity = read_activity(data)
    activity = activity[activity["team"] == team]
    month = pd.to_datetime(activity["date"]).dt.to_period("M")
    sums = activity.groupby(month)[["signups", "activated"]].sum()
    return sums["activated"] / sums["signups"]


def monthly_churn_rate(data: Path, team: str) -> pd.Series:
    rows = duckdb.execute(
        """
        SELECT month,
               count(*) FILTER (WHERE status = 'churned')
                 / count(*) FILTER (WHERE status IN ('active', 'churned')) AS churn_rate
        FROM read_parquet(?) WHERE team = ? GROUP BY month ORDER BY month
        """,
        [str(data / "subscriptions.parquet"), team],
    ).fetchall()
    return pd.Series(
        [rate for _, rate in rows], index=pd.PeriodIndex([m for m, _ in rows], freq="M")
    )


def monthly_nps(data: Path, team: str) -> pd.Series:
    nps = read_nps(data)
    nps = nps[nps["team"] == team]
    month = pd.to_datetime(nps["responded_on"], format="%a, %d-%b-%Y").dt.to_period("M")
    score = nps["score"]
    points = (score >= 9).astype(int) - (score <= 6).astype(int)
    return points.groupby(month).mean() * 100


MONTHLY: dict[str, Callable[[Path, str], pd.Series]] = {
    "resolution_hours": monthly_resolution_hours,
    "activation_rate": monthly_activation_rate,
    "churn_rate": monthly_churn_rate,
    "nps": monthly_nps,
}


def jump(series: pd.Series, delivered: dt.date, effective: dt.date) -> float:
    """Mean of the 3 full months from ``effective`` on minus the 3 full months before delivery."""
    delivered_month = pd.Period(delivered, "M")
    after = pd.Period(effective, "M") + (0 if effective.day == 1 else 1)
    before = series[[delivered_month - 3, delivered_month - 2, delivered_month - 1]]
    following = series[[after, after + 1, after + 2]]
    return float(following.mean() - before.mean())


@pytest.mark.parametrize("effect", PLANTED_EFFECTS, ids=lambda effect: effect.key)
def test_planted_effect_is_visible(data: Path, effect: PlantedEffect) -> None:
    series = MONTHLY[effect.metric](data, effect.team)
    change = jump(series, effect.delivered, effect.effective)
    assert change == pytest.approx(effect.size, rel=0.35), (effect.key, change)


@pytest.mark.parametrize("decoy", DECOYS, ids=lambda decoy: decoy.key)
def test_decoy_moves_nothing(data: Path, decoy: sample.Decoy) -> None:
    series = MONTHLY[decoy.metric](data, decoy.team)
    effective = decoy.delivered + dt.timedelta(days=decoy.lag_days)
    change = jump(series, decoy.delivered, effective)
    (planted,) = (effect for effect in PLANTED_EFFECTS if effect.metric == decoy.metric)
    assert abs(change) < 0.5 * abs(planted.size), (decoy.key, change)


def test_planted_and_decoy_outputs_are_in_the_export(data: Path) -> None:
    issues = read_issues(data).set_index("key")
    metrics = yaml.safe_load((REPO / "reviewkit.yaml").read_text(encoding="utf-8"))["metrics"]
    for output in (*PLANTED_EFFECTS, *DECOYS):
        row = issues.loc[output.key]
        assert row["title"] == output.title
        assert row["team"] == output.team
        resolved = dt.datetime.strptime(row["resolved"], "%m/%d/%y").date()
        assert resolved == output.delivered
        assert output.metric in metrics
        last_month_needed = output.delivered + dt.timedelta(days=output.lag_days + 4 * 31)
        assert last_month_needed < dt.date(2026, 11, 1), "measurable before the month in progress"
    titles = issues["title"].value_counts()
    for output in (*PLANTED_EFFECTS, *DECOYS):
        assert titles[output.title] == 1


# --- scale ---------------------------------------------------------------------------------


def test_scale_writes_many_tickets_as_csv_and_parquet(data: Path, tmp_path: Path) -> None:
    written = generate(tmp_path, scale=20_000)
    exports = tmp_path / "data"
    assert exports / "support_tickets.parquet" in written
    tickets = read_tickets(exports)
    table = pq.read_table(exports / "support_tickets.parquet")
    assert len(tickets) == table.num_rows == 20_000
    assert table.schema.field("created_at").type == pa.timestamp("us")
    assert table.schema.field("first_response_seconds").type == pa.int64()
    parquet = table.to_pandas()
    assert parquet["ticket_id"].tolist() == tickets["ticket_id"].tolist()
    assert parquet["first_response_seconds"].tolist() == tickets["first_response_seconds"].tolist()
    assert parquet["csat"].isna().tolist() == tickets["csat"].isna().tolist()
    assert parquet["resolution_hours"].round(2).equals(tickets["resolution_hours"].round(2))
    assert parquet["created_at"].dt.strftime("%Y-%m-%d %H:%M:%S").tolist() == (
        tickets["created_at"].tolist()
    )
    first, last = parquet["created_at"].min().date(), parquet["created_at"].max().date()
    assert first < dt.date(2024, 1, 8)
    assert last >= dt.date(2026, 11, 1)
    # Other exports do not depend on scale.
    for name in ("nps_responses.csv", "issues_export.csv"):
        assert (exports / name).read_bytes() == (data / name).read_bytes()

    # Regenerating without scale drops the now-stale Parquet copy.
    generate(tmp_path)
    assert not (exports / "support_tickets.parquet").exists()
    assert (exports / "support_tickets.csv").read_bytes() == (
        data / "support_tickets.csv"
    ).read_bytes()


def test_mrr_targets_plan_fiscal_2027_from_january_mrr(tmp_path: Path) -> None:
    generate(tmp_path)
    data = tmp_path / "data"
    plan = pd.read_csv(data / "mrr_targets.csv")
    subscriptions = pq.read_table(data / "subscriptions.parquet").to_pandas()
    january = subscriptions[subscriptions["month"] == dt.date(2026, 1, 1)]
    growth = plan[plan["team"] == "growth"]
    assert list(growth["month"])[:2] == ["2026-02-01", "2026-03-01"]
    assert len(plan) == 12 * len(TEAMS)
    start = january.loc[january["team"] == "growth", "mrr"].sum()
    assert growth["mrr_target"].iloc[0] == pytest.approx(start * 1.025, abs=0.01)


def test_links_name_planted_and_decoy_outputs_with_hypotheses(tmp_path: Path) -> None:
    generate(tmp_path)
    links = yaml.safe_load((tmp_path / "data" / "links.yaml").read_text(encoding="utf-8"))
    by_output = {link["output_id"]: link for link in links["links"]}
    for effect in PLANTED_EFFECTS:
        link = by_output[effect.key]
        assert link["outcome_id"] == TEAM_OUTCOMES[effect.team]
        assert link["direction"] == ("increase" if effect.size > 0 else "decrease")
        assert link["size"] == effect.size
    for decoy in DECOYS:
        assert by_output[decoy.key]["hypothesis"]
    assert 50 < len(by_output) < 300
