"""A simulated company of N teams derived from the sample company, for benchmark 7.

``build(sample, target, teams=N)`` splits each of the sample's 5 teams into N/5 sub-teams
(``growth-001``, ``growth-002``, ...) and writes a project of its own to ``target``: every export
with a ``team`` column rewritten so each sub-team has rows of its own, and a ``reviewkit.yaml``
with every team-owned outcome (and team target) cloned per sub-team. Each sub-team's review
therefore asks its own KPI queries, which reviewkit's kept results cannot answer from another
team's: unlike copying the 5 teams 100 times, the reviews cost what distinct teams' reviews cost.

How each export is split (deterministic: the same sample and N give the same bytes):

* one row per event (tickets, NPS answers, issues: the outputs): each row goes to one sub-team of
  its team, by a hash of its row number;
* one row per account per month (subscriptions): each account goes to one sub-team, by a hash of
  its id, so its months (and its churn) stay together; the account export (accounts: one row per
  account and spell) gives each account the same sub-team;

  (a team's rows, or accounts, are ordered by the hash and dealt out by the sub-teams' shares, so
  every sub-team gets its share: at 500 teams a sub-team has about 5 accounts and 3 issues, and
  pure hashing left 6 of them with no account at all);
* one row per day per team (product activity, an aggregate): every sub-team gets every day, the
  team's counts shared among them at random (multinomial), so the team's totals are kept;
* the MRR plan (one row per team per month): one row per sub-team per month, the team's target
  times the sub-team's share of the team's January 2026 MRR, as the generator derives it.

Sub-teams differ in size (shares from 0.5 to 1.5 of an even split), so their KPIs differ. The
files keep their formats byte for byte where untouched: the CSVs are read and written with
Python's ``csv`` module, which is what ``reviewkit sample`` writes them with (minimal quoting),
keeping each file's delimiter, encoding, BOM and line ends; the Parquet and Excel exports go
through pyarrow and openpyxl. The company-wide outcomes stay as they are; an outcome value of a
level metric (``mrr``: a sum, count or last value, not a rate) is scaled by the sub-team's share.

``python benchmarks/company.py --teams N --out DIR`` writes one from a fresh ``reviewkit sample``.
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime as dt
import io
import shutil
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from openpyxl import Workbook
from python_calamine import CalamineWorkbook

from reviewkit.scaffold.sample import TEAMS

SEED = 18
#: the sample's sources, by how they are split (see the module's docstring)
ROW_SPLIT = ("tickets", "nps", "issues")
ACCOUNT_SPLIT = {"subscriptions": "account_id"}
#: a lifecycle export of the same accounts (CSV): its id column, each account to the sub-team
#: the snapshot gave it (an account new since the snapshot to one of its own)
LIFECYCLE_SPLIT = {"accounts": "account_id"}
VALUE_SPLIT = {"activity": ("signups", "activated", "active_users")}
PLAN_SPLIT = {"mrr_targets": "mrr_target"}
#: the month whose MRR shares the plan and the level outcomes are scaled by (the plan's base)
PLAN_BASE = dt.date(2026, 1, 1)
#: metrics whose values add up over teams (an outcome's baseline and target are scaled)
LEVEL_AGGS = ("sum", "count", "last", "daily_mean")


@dataclass(frozen=True)
class Company:
    """What ``build`` wrote: the project folder and each sample team's sub-teams."""

    project: Path
    subteams: dict[str, list[str]]

    @property
    def teams(self) -> list[str]:
        return [s for team in TEAMS for s in self.subteams[team]]


def check_teams(teams: int) -> int:
    """Sub-teams per sample team; a clear error for a count that does not split evenly."""
    if teams < len(TEAMS) or teams % len(TEAMS):
        raise ValueError(
            f"--teams must be a multiple of {len(TEAMS)} (the sample's teams, each split "
            f"evenly), at least {len(TEAMS)}: got {teams}; use e.g. 10, 100 or 500"
        )
    return teams // len(TEAMS)


def _names(team: str, per_team: int) -> list[str]:
    width = max(3, len(str(per_team)))
    return [f"{team}-{j:0{width}d}" for j in range(1, per_team + 1)]


def _mix(keys: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 of ``keys`` (uint64) as floats in [0, 1): a hash that no library changes."""
    with np.errstate(over="ignore"):
        z = keys.astype(np.uint64) + np.uint64(salt) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


class _Split:
    """Each sample team's sub-teams and their shares."""

    def __init__(self, per_team: int) -> None:
        self.names = {team: _names(team, per_team) for team in TEAMS}
        self.shares: dict[str, np.ndarray] = {}
        for index, team in enumerate(TEAMS):
            weights = 0.5 + np.random.default_rng([SEED, index]).random(per_team)
            self.shares[team] = weights / weights.sum()

    def assign(self, teams: list[str], keys: np.ndarray, salt: int) -> list[str]:
        """The sub-team of each item (a row, an account) of a team: the team's items ordered by
        the hash of their keys and dealt out by share, so each sub-team gets its share of them
        (at least one when the team has enough) and which ones is decided by the hash."""
        mixed = _mix(keys, salt)
        out = list(teams)
        column = np.asarray(teams, dtype=object)
        for team, names in self.names.items():
            items = np.flatnonzero(column == team)
            if not len(items):
                continue
            ordered = items[np.argsort(mixed[items], kind="stable")]
            position = (np.arange(len(ordered)) + 0.5) / len(ordered)
            bounds = np.cumsum(self.shares[team])
            picked = np.minimum(np.searchsorted(bounds, position, side="right"), len(names) - 1)
            for item, pick in zip(ordered.tolist(), picked.tolist(), strict=True):
                out[item] = names[pick]
        return out


def _csv_layout(path: Path, options: dict[str, Any]) -> tuple[str, str, str, bool]:
    """(encoding, delimiter, line end, BOM) of a CSV export, from its config and its bytes."""
    encoding = str(options.get("encoding", "utf-8"))
    delimiter = str(options.get("delimiter", ","))
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    bom = head.startswith(b"\xef\xbb\xbf")
    first = head.split(b"\n", 1)[0]
    return encoding, delimiter, "\r\n" if first.endswith(b"\r") else "\n", bom


def _read_csv(path: Path, options: dict[str, Any]) -> tuple[list[list[str]], tuple[Any, ...]]:
    encoding, delimiter, _, bom = layout = _csv_layout(path, options)
    text = path.read_bytes()[3 if bom else 0 :].decode(encoding)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)), layout


def _write_csv(path: Path, rows: list[list[str]], layout: tuple[Any, ...]) -> None:
    encoding, delimiter, end, bom = layout
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=end).writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode(encoding))


def _split_rows(
    source: Path, target: Path, options: dict[str, Any], split: _Split, salt: int
) -> list[list[str]]:
    """Each row to a sub-team of its team by its row number; the sub-team of each row."""
    rows, layout = _read_csv(source, options)
    column = rows[0].index("team")
    teams = [row[column] for row in rows[1:]]
    new = split.assign(teams, np.arange(len(teams), dtype=np.uint64), salt)
    for row, team in zip(rows[1:], new, strict=True):
        row[column] = team
    _write_csv(target, rows, layout)
    return rows


def _split_accounts(source: Path, target: Path, key: str, split: _Split, salt: int) -> pa.Table:
    """Each account (all its months) to a sub-team of its team, by the hash of its id."""
    table = pq.read_table(source)
    ids, first, inverse = np.unique(
        table[key].to_numpy(zero_copy_only=False), return_index=True, return_inverse=True
    )
    teams = table["team"].to_pylist()
    owner = [teams[i] for i in first]
    if any(teams[row] != owner[account] for row, account in enumerate(inverse.tolist())):
        raise ValueError(f"{source.name}: an account moves between teams; it cannot be split")
    hashes = np.array([zlib.crc32(str(i).encode()) for i in ids], dtype=np.uint64)
    picked = split.assign(owner, hashes, salt)
    column = pa.array([picked[account] for account in inverse.tolist()], pa.string())
    index = table.schema.get_field_index("team")
    table = table.set_column(index, table.schema.field(index), column)
    pq.write_table(table, target)
    return table


def _split_lifecycle(
    source: Path,
    target: Path,
    options: dict[str, Any],
    key: str,
    known: dict[str, str],
    split: _Split,
    salt: int,
) -> None:
    """Each account's rows (its spells) to the sub-team ``known`` gives it; the accounts it
    does not know dealt out among their team's sub-teams by the hash of their id."""
    rows, layout = _read_csv(source, options)
    at_id, at_team = rows[0].index(key), rows[0].index("team")
    new = sorted({row[at_id]: row[at_team] for row in rows[1:] if row[at_id] not in known}.items())
    hashes = np.array([zlib.crc32(i.encode()) for i, _ in new], dtype=np.uint64)
    picked = dict(
        zip([i for i, _ in new], split.assign([t for _, t in new], hashes, salt), strict=True)
    )
    for row in rows[1:]:
        row[at_team] = known.get(row[at_id]) or picked[row[at_id]]
    _write_csv(target, rows, layout)


def _split_values(
    source: Path, target: Path, sheet: str, columns: tuple[str, ...], split: _Split
) -> None:
    """Every sub-team gets every row of its team, with the team's counts shared at random."""
    book = CalamineWorkbook.from_path(str(source))
    rows = book.get_sheet_by_name(sheet).to_python()
    header = [str(c) for c in rows[0]]
    team_at = header.index("team")
    at = [header.index(c) for c in columns]
    rng = np.random.default_rng(SEED)
    out: list[list[Any]] = []
    for row in rows[1:]:
        names = split.names.get(row[team_at])
        if names is None:
            out.append(list(row))
            continue
        shares = split.shares[row[team_at]]
        parts = [rng.multinomial(int(row[at[0]]), shares)]
        if columns[1] == "activated":  # activated signups: drawn from each sub-team's signups
            parts.append(rng.multivariate_hypergeometric(parts[0], int(row[at[1]])))
        for i in range(len(parts), len(at)):
            parts.append(rng.multinomial(int(row[at[i]]), shares))
        for j, name in enumerate(names):
            new = list(row)
            new[team_at] = name
            for i, a in enumerate(at):
                new[a] = int(parts[i][j])
            out.append(new)
    workbook = Workbook(write_only=True)
    for name in book.sheet_names:  # the other sheets as they were (the sample's About sheet)
        copy_to = workbook.create_sheet(name)
        if name == sheet:
            copy_to.append(header)
            for new in out:
                copy_to.append([c.date() if isinstance(c, dt.datetime) else c for c in new])
        else:
            for kept in book.get_sheet_by_name(name).to_python():
                copy_to.append(kept)
    workbook.save(target)


def _plan(source: Path, target: Path, column: str, shares: dict[str, float]) -> None:
    """One row per sub-team per month: the team's target times the sub-team's share."""
    rows, layout = _read_csv(source, {})
    at, team_at = rows[0].index(column), rows[0].index("team")
    out = [rows[0]]
    for team in TEAMS:
        for sub in (s for s in shares if s.rsplit("-", 1)[0] == team):
            for row in rows[1:]:
                if row[team_at] == team:
                    new = list(row)
                    new[team_at], new[at] = sub, f"{float(row[at]) * shares[sub]:.2f}"
                    out.append(new)
    out += [row for row in rows[1:] if row[team_at] not in TEAMS]
    _write_csv(target, out, layout)


def _mrr_shares(subscriptions: pa.Table, split: _Split) -> dict[str, float]:
    """Each sub-team's share of its team's MRR in the plan's base month (its even share when it
    had none, so no target is zero)."""
    base = subscriptions.filter(pc.equal(subscriptions["month"], pa.scalar(PLAN_BASE, pa.date32())))
    totals: dict[str, float] = {}
    for team, mrr in zip(base["team"].to_pylist(), base["mrr"].to_pylist(), strict=True):
        totals[team] = totals.get(team, 0.0) + float(mrr or 0.0)
    shares = {}
    for team, names in split.names.items():
        whole = sum(totals.get(n, 0.0) for n in names)
        for j, name in enumerate(names):
            part = totals.get(name, 0.0)
            shares[name] = part / whole if part > 0 and whole > 0 else float(split.shares[team][j])
    return shares


def _scaled(value: Any, share: float) -> Any:
    """An outcome's or target's value (or series of values) times ``share``."""
    if isinstance(value, dict):
        return {k: _scaled(v, share) for k, v in value.items()}
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return round(float(value) * share, 2)


def _scale_goal(goal: dict[str, Any], share: float) -> None:
    for key in ("value", "series"):
        if key in goal:
            goal[key] = _scaled(goal[key], share)
    if isinstance(goal.get("baseline"), dict):
        _scale_goal(goal["baseline"], share)


def _is_level(config: dict[str, Any], metric: str) -> bool:
    spec = config.get("metrics", {}).get(metric, {})
    return spec.get("agg") in LEVEL_AGGS


def _config(config: dict[str, Any], split: _Split, shares: dict[str, float]) -> dict[str, Any]:
    """Team outcomes and team targets cloned per sub-team; ``{outcome: {team: clone id}}``."""
    config = copy.deepcopy(config)
    owned = {o["id"]: o["team"] for o in config["outcomes"] if o.get("team") in split.names}
    outcomes = []
    for outcome in config["outcomes"]:
        team = outcome.get("team")
        if team not in split.names:
            outcomes.append(outcome)
            continue
        kpi = outcome["kpi"]
        metric = kpi if isinstance(kpi, str) else kpi["metric"]
        for sub in split.names[team]:
            clone = copy.deepcopy(outcome)
            clone["id"] = f"{outcome['id']}-{sub.rsplit('-', 1)[1]}"
            clone["team"] = sub
            clone["title"] = f"{outcome['title']} ({sub})"
            filters = {} if isinstance(kpi, str) else dict(kpi.get("filters") or {})
            filters["team"] = sub
            clone["kpi"] = {**({} if isinstance(kpi, str) else kpi), "metric": metric}
            clone["kpi"]["filters"] = filters
            if outcome.get("parent") in owned:  # a team outcome under another: its own clone
                clone["parent"] = f"{outcome['parent']}-{sub.rsplit('-', 1)[1]}"
            if _is_level(config, metric):
                for key in ("baseline", "target"):
                    if isinstance(clone.get(key), dict):
                        _scale_goal(clone[key], shares[sub])
            outcomes.append(clone)
    config["outcomes"] = outcomes
    targets = []
    for target in config.get("targets", []):
        team = (target.get("filters") or {}).get("team")
        if team not in split.names:
            targets.append(target)
            continue
        for sub in split.names[team]:
            clone = copy.deepcopy(target)
            clone["filters"]["team"] = sub
            if _is_level(config, target["metric"]):
                _scale_goal(clone, shares[sub])
            targets.append(clone)
    config["targets"] = targets
    return config


def _links(source: Path, target: Path, output_team: dict[str, str], config: dict[str, Any]) -> None:
    """The links of each output to its sub-team's clone of the outcome it was linked to."""
    text = source.read_text(encoding="utf-8")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    data = yaml.safe_load(text) or {}
    clones = {o["id"] for o in config["outcomes"]}
    for link in data.get("links", []):
        sub = output_team.get(link["output_id"], "")
        suffix = sub.rsplit("-", 1)[1] if "-" in sub else ""
        clone = f"{link['outcome_id']}-{suffix}"
        if link["outcome_id"] not in clones and clone in clones:
            link["outcome_id"] = clone
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1 << 20)
    target.write_text(header + body, encoding="utf-8")


def build(sample: Path, target: Path, teams: int) -> Company:
    """Write the simulated ``teams``-team company to ``target`` from the sample project in
    ``sample`` (its ``reviewkit.yaml`` and the exports ``reviewkit sample`` wrote to ``data/``)."""
    split = _Split(check_teams(teams))
    config = yaml.safe_load((sample / "reviewkit.yaml").read_text(encoding="utf-8"))
    sources: dict[str, Any] = config["sources"]
    known = (
        set(ROW_SPLIT)
        | set(ACCOUNT_SPLIT)
        | set(LIFECYCLE_SPLIT)
        | set(VALUE_SPLIT)
        | set(PLAN_SPLIT)
    )
    unknown = [n for n, s in sources.items() if "team" in s.get("dimensions", [])]
    unknown = [n for n in unknown if n not in known]
    if unknown:
        raise ValueError(f"no split is defined for the team column of source(s) {unknown}")
    if target.exists():
        shutil.rmtree(target)
    (target / "data").mkdir(parents=True)

    def path(name: str, root: Path) -> Path:
        return root / sources[name]["path"]

    output_team: dict[str, str] = {}
    for salt, name in enumerate(ROW_SPLIT, start=1):
        rows = _split_rows(
            path(name, sample), path(name, target), sources[name].get("options") or {}, split, salt
        )
        if name == config.get("outputs", {}).get("source"):
            at_id, at_team = rows[0].index(config["outputs"]["id"]), rows[0].index("team")
            output_team = {row[at_id]: row[at_team] for row in rows[1:]}
    subscriptions = pa.table({})
    for name, key in ACCOUNT_SPLIT.items():
        subscriptions = _split_accounts(path(name, sample), path(name, target), key, split, 9)
    owners = dict(
        zip(subscriptions["account_id"].to_pylist(), subscriptions["team"].to_pylist(), strict=True)
    )
    for name, key in LIFECYCLE_SPLIT.items():
        options = sources[name].get("options") or {}
        _split_lifecycle(path(name, sample), path(name, target), options, key, owners, split, 9)
    for name, columns in VALUE_SPLIT.items():
        sheet = (sources[name].get("options") or {}).get("sheet", "Sheet1")
        _split_values(path(name, sample), path(name, target), sheet, columns, split)
    shares = _mrr_shares(subscriptions, split)
    for name, column in PLAN_SPLIT.items():
        _plan(path(name, sample), path(name, target), column, shares)
    config = _config(config, split, shares)
    (target / "reviewkit.yaml").write_text(
        f"# A simulated {teams}-team company: the sample's teams split by benchmarks/company.py\n"
        + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100),
        encoding="utf-8",
    )
    links = sample / "data" / "links.yaml"
    if links.exists():
        _links(links, target / "data" / "links.yaml", output_team, config)
    return Company(target, {team: split.names[team] for team in TEAMS})


def main(argv: list[str] | None = None, run: Callable[..., Any] = subprocess.run) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, required=True, help="a multiple of 5, e.g. 500")
    parser.add_argument("--out", type=Path, required=True, help="the project folder to write")
    options = parser.parse_args(argv)
    try:
        check_teams(options.teams)
    except ValueError as exc:
        parser.error(str(exc))
    sample = options.out.with_name(options.out.name + ".sample")
    shutil.rmtree(sample, ignore_errors=True)
    sample.mkdir(parents=True)
    shutil.copy2(Path(__file__).resolve().parents[1] / "reviewkit.yaml", sample)
    bin_ = Path(sys.executable).parent
    run([str(bin_ / "reviewkit"), "sample", "--dir", str(sample)], check=True)
    company = build(sample, options.out, options.teams)
    print(f"{len(company.teams)} teams written to {company.project}")


if __name__ == "__main__":
    main()
