"""Fuzzing (hypothesis): random exports and random configs never crash reviewkit with anything
but a :class:`ReviewkitError`, and an export that loads keeps every one of its rows.

``make test`` runs a short session; ``make soak`` a long one. The number of examples per test
comes from ``$REVIEWKIT_FUZZ_EXAMPLES`` (default 60), and hypothesis prints the seed of any
failure so it can be replayed.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reviewkit.base.errors import ReviewkitError
from reviewkit.check import check_project
from reviewkit.project import open_project
from tests.support.bad_inputs import CONFIG, with_option

EXAMPLES = int(os.environ.get("REVIEWKIT_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- random exports -------------------------------------------------------------------------------

HEADERS = ("day", "team", "tickets", "csat", "Day", "day ", "", "notes", "team")
CELLS = st.one_of(
    st.dates().map(str),  # well-formed, any year (future ones are refused, not crashed on)
    st.sampled_from(["2026-01-05", "2026-02-30", "05/01/2026", "", " ", "NULL", "n/a"]),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1,234", "4,5", "1.234,5", "1e400", "-0", "0x1F", "\uff11\uff12"]),
    st.sampled_from(["support", "billing", "Zoë", "a,b", 'say "hi"', "=1+1", "\t", "\r"]),
    st.text(max_size=12),
)


#: Cells that fit each column of the good header (the dates stay before today).
FITTING = {
    "day": st.dates(dt.date(2020, 1, 1), dt.date(2026, 6, 30)).map(str),
    "team": st.text(max_size=10),
    "tickets": st.integers(-(10**12), 10**12).map(str),
    "csat": st.floats(allow_nan=False, allow_infinity=False).map(repr),
}


@st.composite
def csv_exports(draw: st.DrawFn) -> bytes:
    """A CSV that is often nearly right: the usual header (sometimes shuffled or damaged), rows
    of fitting cells with a hostile cell here and there, written by Python's csv module in one
    of several encodings and delimiters, sometimes damaged afterwards."""
    header = list(draw(st.permutations(list(FITTING))))
    if draw(st.integers(0, 9)) == 0:
        header = draw(st.lists(st.sampled_from(HEADERS), min_size=0, max_size=6))
    rows = []
    for _ in range(draw(st.integers(0, 25))):
        row = [draw(FITTING[name]) if name in FITTING else draw(CELLS) for name in header]
        if draw(st.integers(0, 4)) == 0:  # a hostile cell, or a missing or extra one
            spot = draw(st.integers(0, len(row)))
            change = draw(st.sampled_from(["replace", "drop", "add"]))
            if change == "add" or not row:
                row.insert(spot, draw(CELLS))
            elif change == "drop":
                del row[spot % len(row)]
            else:
                row[spot % len(row)] = draw(CELLS)
        rows.append(row)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=draw(st.sampled_from([",", ",", ",", ";", "\t"])))
    writer.writerow(header)
    writer.writerows(rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1", "utf-16", "utf-8-sig"]))
    data = out.getvalue().encode(encoding, errors="replace")
    if draw(st.integers(0, 4)) == 0:  # damage: cut it short, or splice in random bytes
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=8)) + data[cut:]
    return data


def records(data: bytes) -> int | None:
    """How many data records Python's csv module finds, or None when it cannot tell."""
    try:
        text = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except (UnicodeDecodeError, csv.Error):
        return None
    return sum(1 for row in rows[1:] if row)


def project(files: dict[str, bytes], config: str = CONFIG) -> Path:
    root = Path(tempfile.mkdtemp(prefix="rk-fuzz-"))
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "reviewkit.yaml").write_text(config, encoding="utf-8")
    return root


@FUZZ
@given(data=csv_exports(), quarantine=st.booleans())
def test_a_random_export_loads_whole_or_raises_a_reviewkit_error(
    data: bytes, quarantine: bool
) -> None:
    config = with_option("  on_error: quarantine") if quarantine else CONFIG
    root = project({"data/tickets.csv": data}, config)
    try:
        with open_project(root) as opened:
            loaded = opened.source("tickets")
            kpis = opened.kpi("tickets", by=["team"])
    except ReviewkitError as exc:
        event(f"refused: {type(exc).__name__}")
        return
    event("loaded")
    expected = records(data)
    if expected is not None and b"\r" not in data:
        # nothing is dropped silently: every record is loaded or quarantined (and counted)
        assert loaded.rows + loaded.quarantined == expected, (loaded.rows, loaded.quarantined)
    assert kpis is not None


# -- random configs -------------------------------------------------------------------------------

VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.floats(allow_nan=False)
    | st.sampled_from(["tickets", "csat", "team", "day", "2026-01", "sum", "latest", "%Y"])
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into ``node`` (mappings and lists)."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, (*prefix, index))
    return found


@st.composite
def mutated_configs(draw: st.DrawFn) -> str:
    """The good config with a few keys replaced by random values, deleted, or added."""
    config = yaml.safe_load(CONFIG)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(paths(config)))
        *parent_path, last = where
        parent = config
        for key in parent_path:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[last] = draw(VALUES)
        elif action == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
        if not isinstance(parent, dict | list):
            break
    return yaml.safe_dump(config, allow_unicode=True)


@FUZZ
@given(config=mutated_configs())
def test_a_random_config_is_checked_without_crashing(config: str) -> None:
    root = project({"data/tickets.csv": b"day,team,tickets,csat\n2026-01-05,support,1,4.5\n"})
    (root / "reviewkit.yaml").write_text(config, encoding="utf-8")
    problems = check_project(root)
    assert all(problem.message for problem in problems)
    try:
        with open_project(root) as opened:
            for name in opened.config.metrics:
                opened.kpi(name)
    except ReviewkitError:
        pass


@FUZZ
@given(text=st.text(max_size=300))
def test_random_text_as_a_config_is_checked_without_crashing(text: str) -> None:
    root = project({})
    (root / "reviewkit.yaml").write_text(text, encoding="utf-8")
    assert isinstance(check_project(root), list)
