"""Shared fixtures: the sample company generated once per session, and small projects on disk."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import json
import os
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from reviewkit.base.authors import USER_ENV
from reviewkit.base.clock import TODAY_VARIABLE
from reviewkit.base.resources import templates_dir
from reviewkit.project import open_project
from reviewkit.publish.report.pdf import CHROMIUM_OFFLINE
from reviewkit.scaffold.sample import generate
from tests.support.postgres import PostgresServer, binaries, free_port

REPO = Path(__file__).resolve().parents[1]

#: "Today" for every test and every process a test starts (reviewkit.base.clock reads it), so the suite
#: passes whatever day it runs: ten days after the sample company's data ends (2026-11-15).
TODAY = dt.date(2026, 11, 25)
os.environ[TODAY_VARIABLE] = TODAY.isoformat()
#: Who saves, for every test and every process a test starts, unless the test says otherwise: no
#: test depends on this machine's git config, nor meets the refusal to save as root (issue 29).
os.environ[USER_ENV] = "tester"


#: The marker a test gets from a fixture it uses, directly or through another: what it starts.
#: `make test-fast` runs the tests with none of these (and no `slow` mark of their own).
FIXTURE_MARKERS = {
    "postgres": "postgres",
    "spark_sample": "spark",
    "cluster": "dask",
    "browser": "browser",
    "jupyterlab": "kernel",  # a real JupyterLab and its kernels (tests/test_jupyterlab.py)
    "jupyter_dirs": "kernel",  # papermill and nbval runs, each in Jupyter folders of its own
    "server": "kernel",  # a `reviewkit serve` (tests/test_serve.py, tests/test_security.py)
    "load_server": "kernel",
    "people": "kernel",
    "published": "kernel",  # reviews run for the test (tests/test_security.py, test_deliver.py)
}


#: The markers of what a test starts: a module with more such tests is scheduled first.
HEAVY = frozenset({"slow", *FIXTURE_MARKERS.values()})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            if fixture in FIXTURE_MARKERS:
                item.add_marker(FIXTURE_MARKERS[fixture])
    # `make test` runs the modules on two processes (pytest-xdist, --dist loadfile, in the order
    # collected): the modules that start servers, kernels and browsers go first, so no long one
    # is left running alone at the end. Tests keep their order inside a module.
    weight: dict[str, int] = {}
    for item in items:
        heavy = any(item.get_closest_marker(name) for name in HEAVY)
        weight[item.module.__name__] = weight.get(item.module.__name__, 0) + heavy
    items.sort(key=lambda item: -weight[item.module.__name__])


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


#: A project that is not the sample company: none of its names (csat, team...) appear, its first
#: metric has no dimension and its second one a region (daily data, Jan-Mar 2026).
REGIONAL_CONFIG = """\
name: Regional
sources:
  signups:
    path: data/signups.csv
    date: {column: day, format: "%Y-%m-%d"}
    values: {signups: integer}
  visits:
    path: data/visits.csv
    date: {column: day, format: "%Y-%m-%d"}
    dimensions: [region]
    values: {views: integer}
metrics:
  signups: {source: signups, agg: sum, column: signups}
  views: {source: visits, agg: sum, column: views}
"""


@pytest.fixture
def regional_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project of :data:`REGIONAL_CONFIG` (the cwd)."""
    monkeypatch.chdir(tmp_path)
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(90)]
    signups = ["day,signups", *(f"{d},{d.day % 7 + 1}" for d in days)]
    visits = ["day,region,views"]
    visits += [
        f"{d},{region},{d.day * k}" for d in days for region, k in (("north", 2), ("south", 3))
    ]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "signups.csv").write_text("\n".join(signups) + "\n", encoding="utf-8")
    (tmp_path / "data" / "visits.csv").write_text("\n".join(visits) + "\n", encoding="utf-8")
    (tmp_path / "reviewkit.yaml").write_text(REGIONAL_CONFIG, encoding="utf-8")
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


#: Debian's Chromium: the browser tests drive it with Playwright (they never download a browser).
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium for a module's pages, offline (no background network, no updates)."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (only for browser tests)

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_OFFLINE), headless=True
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session (see tests/support/postgres.py)."""
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


@pytest.fixture
def pg_password_url(postgres: PostgresServer) -> tuple[str, str]:
    """A new, empty PostgreSQL database whose user must give a password: its address (without
    the password) and the password."""
    return postgres.new_database_with_password()


# -- a mail server and chat webhooks (delivery and alerts) ----------------------------------


@dataclass
class Mailbox:
    """What the SMTP server received; ``refuse`` names recipients to turn away once (451)."""

    messages: list[email.message.EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        refused = self.refuse & set(envelope.rcpt_tos)
        if refused:
            self.refuse -= refused
            return "451 4.3.0 try again later"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"mailer",
            b"s3cret",
        )
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok)


def tls_context(folder: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server's TLS context for 127.0.0.1, with a self-signed certificate written in ``folder``
    that clients (``$SSL_CERT_FILE``) are told to trust."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return context


@pytest.fixture
def smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on loopback with STARTTLS (a self-signed certificate the client is
    told to trust) that requires a login over TLS."""
    context = tls_context(tmp_path, monkeypatch)
    monkeypatch.setenv("REVIEWKIT_SMTP_USER", "mailer")
    monkeypatch.setenv("REVIEWKIT_SMTP_PASSWORD", "s3cret")
    box = Mailbox()
    port = free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=box.authenticate,
        auth_require_tls=True,
    )
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def smtp_relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP relay on loopback with STARTTLS that offers no login at all (it takes mail
    from the machines it trusts), and no SMTP login in the environment."""
    folder = tmp_path / "relay"
    folder.mkdir()
    context = tls_context(folder, monkeypatch)
    monkeypatch.delenv("REVIEWKIT_SMTP_USER", raising=False)
    monkeypatch.delenv("REVIEWKIT_SMTP_PASSWORD", raising=False)
    box = Mailbox()
    port = free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
    )
    controller.start()
    yield box, port
    controller.stop()


#: Slack refuses (400 invalid_blocks) a header over 150 characters, a section over 3,000 and a
#: message of more than 50 blocks; Microsoft Teams a message over 28 KB (413)
SLACK_LIMITS = {"header": 150, "section": 3000, "blocks": 50}
TEAMS_BYTES = 28 * 1024


def refused_by_chat(path: str, body: bytes) -> int | None:
    """The status Slack (``/slack``) or Teams (``/teams``) answers a message past its limits."""
    if path == "/teams":
        return 413 if len(body) > TEAMS_BYTES else None
    blocks = json.loads(body).get("blocks", [])
    too_long = [
        b
        for b in blocks
        if b["type"] in ("header", "section") and len(b["text"]["text"]) > SLACK_LIMITS[b["type"]]
    ]
    return 400 if too_long or len(blocks) > SLACK_LIMITS["blocks"] else None


@dataclass
class Hooks:
    """Chat webhooks on a local HTTP server: what was posted to each path; a path in ``fail``
    answers 500, and a message past Slack's or Teams' limits is refused as they refuse it."""

    posted: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail: set[str] = field(default_factory=set)
    base: str = ""


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    found = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            refused = 500 if self.path in found.fail else refused_by_chat(self.path, body)
            if refused is not None:
                self.send_response(refused)
                self.end_headers()
                return
            found.posted.setdefault(self.path, []).append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    found.base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("TEST_SLACK_WEBHOOK", f"{found.base}/slack")
    monkeypatch.setenv("TEST_TEAMS_WEBHOOK", f"{found.base}/teams")
    yield found
    server.shutdown()
    server.server_close()
