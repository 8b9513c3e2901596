"""Shared fixtures: the sample company generated once per session, and small projects on disk."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reviewkit.clock import TODAY_VARIABLE
from reviewkit.project import open_project
from reviewkit.sample import generate
from reviewkit.scaffold import templates_dir
from tests.postgres import PostgresServer, binaries

REPO = Path(__file__).resolve().parents[1]

#: "Today" for every test and every process a test starts (reviewkit.clock reads it), so the suite
#: passes whatever day it runs: ten days after the sample company's data ends (2026-11-15).
TODAY = dt.date(2026, 11, 25)
os.environ[TODAY_VARIABLE] = TODAY.isoformat()


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the sample project (config and generated exports), shared read-only."""
    root = tmp_path_factory.mktemp("northwind")
    shutil.copyfile(templates_dir() / "example" / "reviewkit.yaml", root / "reviewkit.yaml")
    generate(root)
    return root


# Two teams over Jan-Feb 2026 (Jan 3 and Feb 1 2026 are a Saturday and a Sunday).
SHOP_ORDERS = """\
day,team,channel,amount,items,stock
2026-01-03,a,web,100,2,10
2026-01-03,b,web,50,1,20
2026-01-05,a,shop,300,3,12
2026-01-31,a,web,0,0,7
2026-02-01,b,shop,200,4,5
2026-02-15,a,web,60,1,9
2026-02-15,b,web,40,1,4
"""

SHOP_CONFIG = """\
name: Shop
calendar: {week_ends_on: sunday, fiscal_year_start_month: 4}
sources:
  orders:
    path: data/orders.csv
    date: {column: day, format: "%Y-%m-%d", gaps: ignore}
    dimensions: [team, channel]
    values: {amount: number, items: integer, stock: integer}
metrics:
  revenue: {source: orders, agg: sum, column: amount, format: currency}
  items: {source: orders, agg: sum, column: items}
  orders: {source: orders, agg: count}
  web_orders: {source: orders, agg: count, filters: {channel: web}}
  avg_amount: {source: orders, agg: mean, column: amount}
  biggest: {source: orders, agg: max, column: amount}
  smallest: {source: orders, agg: min, column: amount}
  teams: {source: orders, agg: count_distinct, column: team}
  opening_stock: {source: orders, agg: first, column: stock}
  closing_stock: {source: orders, agg: last, column: stock}
  big_orders: {source: orders, expression: "count(*) FILTER (WHERE amount >= 100)"}
  price_per_item: {ratio: [revenue, items]}
  order_value: {ratio: [revenue, orders]}
  web_share: {ratio: [web_orders, orders], format: percent}
  other_orders: {difference: [orders, web_orders]}
  all_counts: {sum: [orders, web_orders, big_orders]}
  revenue_x2: {product: [revenue, orders], scale: 0.5}
"""


@pytest.fixture
def shop_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny shop whose every KPI can be computed by hand (see SHOP_ORDERS); the cwd."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text(SHOP_ORDERS, encoding="utf-8")
    (tmp_path / "reviewkit.yaml").write_text(SHOP_CONFIG, encoding="utf-8")
    return tmp_path


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write ``reviewkit.yaml`` text into a temp project (the cwd, so paths print relative)."""
    monkeypatch.chdir(tmp_path)

    def write(text: str) -> Path:
        (tmp_path / "reviewkit.yaml").write_text(text, encoding="utf-8")
        return tmp_path

    return write


def isolate_jupyter(folder: Path, patch: pytest.MonkeyPatch) -> None:
    """Jupyter's data, runtime and config dirs under ``folder``: tests never touch ~/.local."""
    for name in ("DATA", "RUNTIME", "CONFIG"):
        path = folder / f"jupyter-{name.lower()}"
        path.mkdir(exist_ok=True)
        patch.setenv(f"JUPYTER_{name}_DIR", str(path))
    patch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")


@pytest.fixture
def jupyter_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_jupyter(tmp_path, monkeypatch)


def warm_copy(sample_dir: Path, folder: Path) -> Path:
    """A copy of the sample project in ``folder`` with its export cache filled and no store, so
    copies of it start fast."""
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with open_project(folder) as project:
        project.kpis()
        project.outputs()
    for stale in folder.glob("*.db*"):
        stale.unlink()
    return folder


async def close_websocket(connection: Any) -> None:
    """Close a tornado websocket and wait until the server has closed it too (a socket dropped
    half-closed is a ResourceWarning in whatever test the garbage collector runs next)."""
    connection.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if await asyncio.wait_for(connection.read_message(), timeout=10) is None:
            return


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (see tests/postgres.py)."""
    if binaries() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's postgresql is missing: `make test` installs it", pytrace=False)
        pytest.skip("Debian's postgresql is not installed (make test installs it)")
    server = PostgresServer()
    yield server
    server.remove()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """The address of a new, empty PostgreSQL database for one test."""
    return postgres.new_database()
