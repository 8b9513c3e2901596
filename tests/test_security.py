"""Security: what a hostile value can do where user input meets SQL, the filesystem, HTML, a
spreadsheet or the live server. Each test pins a defence that SECURITY.md names; the surfaces
other test files already pin (XSS and forged widget values in Voila, execute requests, the token,
formula cells in the store's exports...) are listed there and not repeated here."""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import html
import http.client
import io
import json
import os
import re
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pytest
from click.testing import CliRunner
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from reviewkit import ReviewkitError, open_project
from reviewkit.cli import main
from reviewkit.config import ConfigError, load_config
from reviewkit.present.render import EMBED_OPTIONS
from reviewkit.publish.report import live_page, reproduce, run_reports
from reviewkit.serve import server as serve_module
from reviewkit.serve.dashboard import PAGES, page
from reviewkit.serve.server import ServeOptions
from tests.conftest import close_websocket, free_port, isolate_jupyter, warm_copy
from tests.test_serve import Server

PERIOD = "2026-10"
CHROMIUM = Path("/usr/bin/chromium")

#: values that would change a query if they were ever pasted into its SQL
SQL_HOSTILE = [
    "x' OR '1'='1",
    "x'; DROP TABLE orders; --",
    '"; DROP TABLE orders; --',
    "a') OR 1=1 --",
    "$1",
    "?",
    "%",
    "a\x00b",
]


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def warm(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return warm_copy(sample_dir, tmp_path_factory.mktemp("security") / "project")


@pytest.fixture
def north(warm: Path, tmp_path: Path) -> Path:
    """A writable copy of the warmed sample company, alone in its folder."""
    folder = tmp_path / "north" / "project"
    shutil.copytree(warm, folder)
    return folder


# -- SQL: values are bound, names are checked against the config ------------------------------


def test_values_reach_sql_only_as_bound_parameters(shop_dir: Path) -> None:
    """Filter values (from widgets, URLs, --team/--filter) are bound; metric, dimension and period
    names must be ones the config declares. A hostile value matches nothing or is refused with
    a ReviewkitError, and the data is intact afterwards."""
    with open_project(shop_dir) as shop:
        before = shop.kpis(by="team")
        only_a = list(shop.kpi("orders", filters={"team": "a"})["value"])
        assert only_a  # the filter works...
        for value in SQL_HOSTILE:
            assert shop.kpi("orders", filters={"team": value}).empty  # ...and matches no row
            mixed = shop.kpi("orders", filters={"team": ["a", value]})
            assert list(mixed["value"]) == only_a
            assert shop.compare("orders", "2026-02", filters={"team": value})["value"].isna().all()
            card = shop.scorecard("2026-02", team=value, metrics=["orders"])
            assert card["value"].isna().all()
            for args, options in [
                ((value,), {}),
                (("orders",), {"by": value}),
                (("orders",), {"filters": {value: "a"}}),
                (("orders",), {"start": value}),
            ]:
                with pytest.raises(ReviewkitError):
                    shop.kpi(*args, **options)
            with pytest.raises(ReviewkitError):
                shop.period(value)
        assert shop.kpis(by="team").equals(before)
    with open_project(shop_dir) as again:  # a fresh connection reads the same data
        assert again.kpis(by="team").equals(before)


def test_the_kpis_command_binds_its_values_and_refuses_unknown_names(shop_dir: Path) -> None:
    args = ("kpis", "--period", "2026-02", "--metric", "orders")
    clean = run(*args, "--by", "team", "--format", "csv")
    assert clean[0] == 0 and clean[1].count("\n") == 3
    for value in SQL_HOSTILE[:5]:
        code, out, err = run(*args, "--team", value, "--format", "json")
        assert code == 0, err
        assert [row["value"] for row in json.loads(out)["rows"]] == [None]
        code, out, err = run(*args, "--filter", f"channel={value}", "--format", "json")
        assert code == 0, err
        assert [row["value"] for row in json.loads(out)["rows"]] == [None]
        for option in ("--metric", "--by", "--period", "--filter"):
            wrong = f"{value}=a" if option == "--filter" else value
            code, out, err = run("kpis", option, wrong)
            assert code == 1, (option, value, out)
            assert err.startswith("Error: ") and "Traceback" not in err
    assert run(*args, "--by", "team", "--format", "csv") == clean


@pytest.mark.parametrize(
    ("name", "query", "message"),
    [
        ("review", "project_dir=/etc", "this page has no URL parameter 'project_dir'"),
        ("review", "team=x'%20OR%20'1'='1", "team \"x' OR '1'='1\" is unknown"),
        ("explore", "metric=csat'%3B%20DROP%20TABLE%20tickets%3B--", "unknown metric"),
        ("explore", "by=team%22%3B%20DROP%20TABLE%20tickets%3B--", "cannot be broken down by"),
        ("explore", "start=2026-01-01'%20OR%201=1", "is not a date"),
        ("explore", "grain=..%2F..%2Fetc", "unknown grain '../../etc'"),
        ("explore", "filters=%7B%7D", "'filters' cannot be set from the URL"),
    ],
)
def test_url_parameters_are_checked_before_use(
    warm: Path, monkeypatch: pytest.MonkeyPatch, name: str, query: str, message: str
) -> None:
    """A page URL cannot point the page at another folder (the project is the server's, not a
    URL parameter), and every value it sets is refused unless the project knows it."""
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    monkeypatch.setenv("QUERY_STRING", query)
    explore = {"metric": "csat", "grain": "month", "start": "", "end": "", "by": "", "filters": {}}
    shown = page(
        name, str(warm), period="latest", team="", **(explore if name == "explore" else {})
    )
    assert message in shown.problem, shown.problem
    assert shown.panels == [] and "Traceback" not in shown.problem


# -- the filesystem: names from users never become paths ---------------------------------------


def test_team_and_period_cannot_name_a_path(north: Path) -> None:
    """``reviewkit report --team``/``--period`` become file and folder names under reports/: only
    letters, digits, '.', '-', '_' (not first) and a real month get there; nothing is written."""
    around = sorted(p.name for p in north.parent.iterdir())
    teams = ["../../etc/cron.d/x", "/tmp/x", "a/b", "a\\b", ".hidden", "..", "x\ny"]
    for team in teams:
        with pytest.raises(ReviewkitError, match="cannot name a report file"):
            run_reports(north, PERIOD, teams=[team])
    for period in ["../2026-10", "2026-10/../../x", "/etc"]:
        with pytest.raises(ReviewkitError, match="cannot read period"):
            run_reports(north, period, teams=["billing"])
    code, _, err = run("report", "-p", str(north), "--period", PERIOD, "--team", "../../x")
    assert code == 1 and "cannot name a report file" in err
    code, _, err = run("report", "-p", str(north), "--period", "../../x", "--team", "billing")
    assert code == 1 and "cannot read period '../../x'" in err
    assert not (north / "reports").exists()
    assert sorted(p.name for p in north.parent.iterdir()) == around


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        (
            {"period": PERIOD, "team": "../../evil", "exports": {}},
            "which reviewkit never publishes",
        ),
        ({"period": "../../x", "team": "", "exports": {}}, "which reviewkit never publishes"),
        (
            {"period": PERIOD, "team": "", "exports": {"../out.csv": "0" * 64}},
            "outside the project",
        ),
        (
            {"period": PERIOD, "team": "", "exports": {"/etc/passwd": "0" * 64}},
            "outside the project",
        ),
    ],
)
def test_a_crafted_snapshot_cannot_reach_outside_the_project(
    north: Path, snapshot: dict[str, Any], message: str
) -> None:
    """``reviewkit report --reproduce FILE`` takes the period, team and export paths from the
    snapshot: a hand-made one cannot make it read or write outside the project."""
    path = north.parent / "crafted.snapshot.json"
    path.write_text(json.dumps({**snapshot, "config": {"reviewkit.yaml": "0" * 64}}))
    with pytest.raises(ReviewkitError, match=message):
        reproduce(north, path)
    assert not (north / "reports").exists()
    assert sorted(p.name for p in north.parent.iterdir()) == ["crafted.snapshot.json", "project"]


def test_live_links_keep_period_and_team_as_data_and_never_carry_a_token(
    write_config: Any,
) -> None:
    team = 'x&token=stolen#"><script>alert(1)</script>'
    url = live_page("http://reviews.example:8866/", PERIOD, team)
    parts = urllib.parse.urlsplit(url)
    assert (parts.netloc, parts.path, parts.fragment) == (
        "reviews.example:8866",
        "/voila/render/review.ipynb",
        "",
    )
    assert urllib.parse.parse_qs(parts.query) == {"period": [PERIOD], "team": [team]}
    base = "name: X\nsources: {}\nmetrics: {}\n"
    for wrong in ("http://h:8866/?token=abc", "http://h:8866/#token=abc", "javascript:alert(1)"):
        with pytest.raises(ConfigError, match="is not a web address"):
            load_config(write_config(base + f"live_url: {json.dumps(wrong)}"))


# -- spreadsheets: no cell a spreadsheet would run ---------------------------------------------

FORMULAS = {
    '=HYPERLINK("http://x","y")': '\'=HYPERLINK("http://x","y")',
    "@SUM(A1)": "'@SUM(A1)",
    "+1+1": "'+1+1",
    "-1+1": "'-1+1",
    "'quoted": "''quoted",
    "plain": "plain",
}


def test_kpis_csv_neutralises_formulas_from_the_exports(shop_dir: Path) -> None:
    """``reviewkit kpis --by DIM --format csv`` writes group values that come from the exports:
    one starting like a formula gets a leading quote, as ``reviewkit links export`` does."""
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["day", "team", "channel", "amount", "items", "stock"])
    for i, team in enumerate(FORMULAS):
        writer.writerow([f"2026-02-{i + 1:02d}", team, "web", -5 * i, 1, 1])
    (shop_dir / "data" / "orders.csv").write_text(rows.getvalue(), encoding="utf-8")
    code, out, err = run(
        "kpis", "--period", "2026-02", "--metric", "revenue", "--by", "team", "--format", "csv"
    )
    assert code == 0, err
    table = list(csv.DictReader(io.StringIO(out)))
    assert sorted(row["team"] for row in table) == sorted(FORMULAS.values())
    assert sorted(float(row["value"]) for row in table) == [-25.0, -20.0, -15.0, -10.0, -5.0, 0.0]
    code, out, _ = run(
        "kpis", "--period", "2026-02", "--metric", "revenue", "--by", "team", "--format", "json"
    )
    assert sorted(row["team"] for row in json.loads(out)["rows"]) == sorted(FORMULAS)


# -- HTML: every user text in a published review is text ---------------------------------------


def poison(field: str) -> str:
    """Text that a browser would run, were it ever pasted into a page as markup."""
    return f"<img src=x onerror=alert('{field}')><script>alert('{field}')</script> {field}"


#: every text in the review that comes from a person: config, exports, the store
SHOWN = (
    "name",
    "outcome-title",
    "owner",
    "metric-label",
    "output-title",
    "team",
    "hypothesis",
    "note",
    "author",
    "decision",
    "decision-owner",
)


class Dom(HTMLParser):
    """What a browser makes of a page: its elements, its text and its scripts' code."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in: str | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = tag
            if tag == "script":
                self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in is None:
            self.text.append(data)


def poisoned_project(sample: Path, root: Path) -> Path:
    """The sample company with every text a person writes replaced by :func:`poison`: in the
    config, the issue tracker's export and the store."""
    shutil.copytree(sample, root, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    config = root / "reviewkit.yaml"
    text = config.read_text(encoding="utf-8")
    for old, field in [
        ("name: Northwind Cloud", "name"),
        ("title: Fewer billing-team customers churn", "outcome-title"),
        ("owner: Luis Ortega", "owner"),
        ("label: Logo churn", "metric-label"),
        (
            "description: Keep more of the customers we win; the company goal behind churn work.",
            "description",
        ),
    ]:
        key = old.split(":")[0]
        assert text.count(old) == 1, old
        text = text.replace(old, f"{key}: {json.dumps(poison(field))}")
    config.write_text(text, encoding="utf-8")
    export = root / "data" / "issues_export.csv"
    with export.open(newline="", encoding="latin-1") as handle:  # as the tracker exports it
        rows = list(csv.DictReader(handle))
    october = [r for r in rows if r["resolved"].startswith("10/") and r["resolved"].endswith("/26")]
    linked = next(r for r in october if r["team"] == "billing")
    linked["title"] = poison("output-title")
    next(r for r in october if r["team"] == "growth")["team"] = poison("team")
    with export.open("w", newline="", encoding="latin-1") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open_project(root) as project:
        project.link(linked["key"], "billing-churn", hypothesis=poison("hypothesis"))
        project.checkin(
            "billing-churn",
            "2026-09",
            status="at risk",
            note=poison("last-note"),
            decisions=[{"text": poison("decision"), "owner": poison("decision-owner")}],
            author=poison("author"),
        )
        project.checkin(
            "billing-churn", PERIOD, status="at risk", note=poison("note"), author=poison("author")
        )
    return root


@pytest.fixture(scope="module")
def poisoned(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return poisoned_project(sample_dir, tmp_path_factory.mktemp("poisoned") / "project")


@pytest.fixture(scope="module")
def published(poisoned: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The company-wide October review of the poisoned project, published for real (papermill,
    nbconvert, the reports index): its reports folder."""
    scratch = tmp_path_factory.mktemp("jupyter")
    root = poisoned
    with pytest.MonkeyPatch.context() as patch:
        isolate_jupyter(scratch, patch)
        started = time.perf_counter()
        result = run_reports(root, PERIOD, teams=[""], jobs=1)
        print(f"poisoned report: {time.perf_counter() - started:.1f} s")
    assert result.ok, result.failed
    return root / "reports"


def test_every_user_text_in_a_published_review_is_text(published: Path) -> None:
    page_html = (published / PERIOD / "company.html").read_text(encoding="utf-8")
    dom = Dom(page_html)
    text = "".join(dom.text)
    shown = {field for field in SHOWN if poison(field) in text}
    assert shown == set(SHOWN)  # each field is on the page, as the text it is...
    for tag, attrs in dom.tags:  # ...and never as markup
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not (tag == "img" and attrs.get("src") == "x"), attrs
    injected = {f"alert('{field}')" for field in (*SHOWN, "description", "last-note")}
    assert not injected & {script.strip() for script in dom.scripts}
    assert "Traceback" not in page_html and not re.search(r"[?&]token=", page_html)


def test_charts_carry_user_text_as_json_data_only(published: Path) -> None:
    """Chart specs are JSON with <, > and & escaped inside their script (a title cannot close
    it); Vega draws user text as SVG text, and the embed options keep vega-embed's default
    tooltip handler, which escapes HTML."""
    page_html = (published / PERIOD / "company.html").read_text(encoding="utf-8")
    specs = re.findall(r"var spec = (.*?);\n", page_html)
    options = set(re.findall(r"var options = (.*?);\n", page_html))
    # scorecard, alignment, one per outcome, the retention outcomes' cohorts, growth MRR by plan
    assert len(specs) == 12
    assert all("<" not in spec and ">" not in spec for spec in specs)
    data = "\n".join(json.dumps(json.loads(spec), ensure_ascii=False) for spec in specs)
    for field in ("outcome-title", "metric-label", "output-title", "hypothesis", "team"):
        assert poison(field) in data, field
    assert [json.loads(o) for o in options] == [EMBED_OPTIONS]
    assert "tooltip" not in EMBED_OPTIONS


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (make test installs it)")
def test_a_browser_shows_chart_titles_and_tooltips_as_text(published: Path) -> None:
    """The published review in headless Chromium, offline: every chart drawn, no script of a
    user's text run, the outcome's title drawn as SVG text and shown in its tooltip as text."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (only with chromium)

    from reviewkit.publish.report.pdf import CHROMIUM_OFFLINE  # noqa: PLC0415

    dialogs: list[str] = []
    title = poison("outcome-title")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_OFFLINE), headless=True
        )
        try:
            tab = browser.new_page()
            tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            tab.goto((published / PERIOD / "company.html").as_uri())
            tab.wait_for_function(
                "document.querySelectorAll('.reviewkit-chart svg.marks').length === 12",
                timeout=120_000,
            )
            texts = tab.evaluate(
                "[...document.querySelectorAll('svg text')].map(t => t.textContent)"
            )
            assert title in texts
            tab.locator("svg text", has_text=title).first.hover(force=True)
            tooltip = tab.locator("#vg-tooltip-element")
            tooltip.wait_for(state="visible", timeout=30_000)
            assert title in tooltip.inner_text()
            assert tooltip.locator("img, script").count() == 0
            assert tab.evaluate("document.querySelectorAll('img[src=x]').length") == 0
        finally:
            browser.close()
    assert dialogs == []


def widget_markup(widget: Any) -> Iterator[str]:
    """The HTML a browser is given for a widget and everything in it: HTML widgets' values and
    the text/html of Output widgets. Labels, options and text boxes are shown as text by
    ipywidgets (unless ``description_allow_html``, which no reviewkit widget sets)."""
    assert not getattr(widget, "description_allow_html", False), widget
    if isinstance(widget, widgets.HTML | widgets.HTMLMath):
        yield widget.value
    if isinstance(widget, widgets.Output):
        for output in widget.outputs:
            yield output.get("data", {}).get("text/html", "")
    for child in getattr(widget, "children", ()):
        yield from widget_markup(child)


def test_every_user_text_on_the_live_pages_is_text(
    poisoned: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The four pages as Voila shows them (their widgets' HTML), for billing in October: the
    review with the billing-churn outcome open, the link editor, the check-ins, the explorer;
    then the explorer of outputs delivered by every team, the poisoned one among them."""
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    explore = {"grain": "month", "start": "", "end": "", "by": "team", "filters": {}}
    markup = []
    for name, query, options in [
        ("review", "team=billing", {}),
        ("links", "team=billing", {}),
        ("checkins", "team=billing", {}),
        ("explore", "team=billing", {**explore, "metric": "churn_rate"}),
        ("explore", "", {**explore, "metric": "outputs_delivered"}),
    ]:
        monkeypatch.setenv("QUERY_STRING", f"period={PERIOD}&{query}")
        shown = page(name, str(poisoned), period="latest", team="", **options)
        assert shown.problem == ""
        markup += widget_markup(shown.widget)
    dom = Dom("\n".join(markup))
    text = "".join(dom.text)
    found = {field for field in (*SHOWN, "description", "last-note") if poison(field) in text}
    # every text but the project's name (in the page template: see the server's tests)
    assert found == set(SHOWN) - {"name"}
    for tag, attrs in dom.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not (tag == "img" and attrs.get("src") == "x"), attrs
    injected = {f"alert('{field}')" for field in (*SHOWN, "description", "last-note")}
    assert not injected & {script.strip() for script in dom.scripts}


def test_the_reports_index_shows_no_secret_and_no_traceback(published: Path) -> None:
    index = (published / "index.html").read_text(encoding="utf-8")
    assert "token" not in index.lower() and "Traceback" not in index
    assert '<a href="http://127.0.0.1:8866/voila/render/review.ipynb?period=2026-10">' in index


# -- the live server: its token and who may talk to it -----------------------------------------


def test_serve_keeps_the_token_out_of_its_log_and_tracebacks_off(
    shop_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    launched: list[list[str]] = []

    class Recorder:
        @staticmethod
        def launch_instance(argv: list[str], config: Any) -> None:
            launched.append(argv)

    monkeypatch.setattr(serve_module, "_server_class", lambda options: Recorder)
    secret = "s3cret-T0ken"
    environment = dict(os.environ)  # serve() sets variables for Voila's kernels: put them back
    try:
        serve_module.serve(ServeOptions(shop_dir, port=free_port(), token=secret))
    finally:
        os.environ.clear()
        os.environ.update(environment)
    out = capsys.readouterr().out
    assert secret not in out and "?token=..." in out
    (argv,) = launched
    assert f"--Voila.token={secret}" in argv  # the server has it, the log does not
    assert "--VoilaConfiguration.show_tracebacks=False" in argv


def test_the_token_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token on the command line is visible to every user of the machine (``ps``):
    ``REVIEWKIT_TOKEN`` keeps it out of there."""
    given: list[ServeOptions] = []
    monkeypatch.setattr(serve_module, "serve", given.append)
    assert run("serve", "--host", "0.0.0.0", env={"REVIEWKIT_TOKEN": "from-env"})[0] == 0
    assert run("serve", "--no-token", env={"REVIEWKIT_TOKEN": "from-env"})[0] == 0
    assert [options.token for options in given] == ["from-env", None]
    code, _, err = run("serve", "--token", "x", "--no-token")
    assert code == 2 and "exclude each other" in err


def get_as(
    server: Server, path: str, host: str, cookies: dict[str, str] | None = None
) -> tuple[int, str]:
    """Status and body of a GET of ``path`` sent to ``server`` as addressed to ``host``
    (redirects followed), keeping the cookies it sets in ``cookies`` if given."""
    for _ in range(5):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=180)
        try:
            connection.request("GET", path, headers={"Host": host})
            response = connection.getresponse()
            body = response.read().decode("utf-8", errors="replace")
        finally:
            connection.close()
        for cookie in response.headers.get_all("Set-Cookie") or ():
            name, _, value = cookie.split(";", 1)[0].partition("=")
            if cookies is not None:
                cookies[name] = value
        if response.status not in (301, 302, 303, 307, 308):
            return response.status, body
        path = urllib.parse.urljoin(path, response.headers["Location"])
    raise AssertionError(f"redirected too often, last to {path}")


@pytest.fixture(scope="module")
def server(poisoned: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`reviewkit serve` of a copy of the poisoned project."""
    scratch = tmp_path_factory.mktemp("voila")
    shutil.copytree(poisoned, scratch / "project", ignore=shutil.ignore_patterns("reports"))
    running = Server(scratch / "project", scratch, "--pool-size", "0", "--cull-after", "10")
    try:
        running.wait_for(r"is running at")
        yield running
    finally:
        running.stop()


#: The cookies the server set for the browser of :func:`served`.
SERVED_COOKIES: dict[str, str] = {}


@pytest.fixture(scope="module")
def served(server: Server) -> str:
    """The check-ins page as the server sends it to a browser on this machine (its kernel runs
    the page's notebook first: no preheated kernels here); the cookies it set for that browser
    are in SERVED_COOKIES."""
    local = f"127.0.0.1:{server.port}"
    status, body = get_as(server, "/voila/render/checkins.ipynb", local, SERVED_COOKIES)
    assert status == 200, body[:2000]
    return body


def websocket_status(server: Server, kernel: str, headers: dict[str, str]) -> int:
    """101 when the kernel's websocket opens with these request headers, else the HTTP status."""

    async def attempt() -> int:
        url = f"ws://127.0.0.1:{server.port}/api/kernels/{kernel}/channels"
        try:
            connection = await websocket_connect(HTTPRequest(url, headers=headers))
        except HTTPClientError as error:
            return error.code
        await close_websocket(connection)
        return 101

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, attempt()).result()


def test_without_a_token_only_loopback_names_are_served(server: Server, served: str) -> None:
    """DNS rebinding: a site a viewer visits points its own name at 127.0.0.1 and, as a
    same-origin page, reads the review and drives the widgets. Without a token the server only
    answers requests addressed to a loopback address or localhost."""
    local = f"127.0.0.1:{server.port}"
    rebound = f"attacker.example:{server.port}"
    assert get_as(server, "/voila/render/review.ipynb", rebound)[0] == 403
    assert get_as(server, "/voila/tree", rebound)[0] == 403
    unknown = "00000000-0000-4000-8000-000000000000"  # a kernel id's shape: the route matches
    assert websocket_status(server, unknown, {"Host": rebound}) == 403
    assert get_as(server, "/voila/tree", f"localhost:{server.port}")[0] == 200
    assert get_as(server, "/voila/tree", f"[::1]:{server.port}")[0] == 200
    # Only the four pages are served: not the project's config, exports or store.
    status, listing = get_as(server, "/voila/api/contents", local)
    assert status == 200
    assert sorted(item["name"] for item in json.loads(listing)["content"]) == sorted(
        notebook for notebook, _ in PAGES.values()
    )
    for path in ("reviewkit.yaml", "data/issues_export.csv", "reviewkit.db"):
        for route in ("render", "files", "api/contents"):
            escaped = urllib.parse.quote(f"../../{path}", safe="")
            status, body = get_as(server, f"/voila/{route}/{escaped}", local)
            start = (server.project / path).read_bytes()[:32].decode("latin-1")
            assert status in (403, 404) and start not in body, (route, path, status)
    kernel = re.search(r'"kernelId": "([0-9a-f-]+)"', served)
    assert kernel, served[:2000]
    # Another site's page cannot open the kernel's websocket (the browser sends its Origin,
    # and the cookie of this server, which it keeps for this server's pages)...
    cookie = "; ".join(f"{name}={value}" for name, value in SERVED_COOKIES.items())
    hostile = {"Origin": "http://attacker.example", "Cookie": cookie}
    assert websocket_status(server, kernel[1], hostile) == 403
    # ...while the page itself can; another browser on this machine cannot: without a token
    # anyone here may view the pages, but a kernel is the page's that started it.
    assert websocket_status(server, kernel[1], {"Origin": f"http://{local}"}) == 403
    own = {"Origin": f"http://{local}", "Cookie": cookie}
    assert websocket_status(server, kernel[1], own) == 101


def test_the_page_template_shows_the_project_name_as_text(served: str) -> None:
    """The bar above every page names the project (from the config) through Voila's
    autoescaping Jinja; a failed cell would show Voila's generic error, never a traceback."""
    (name,) = re.findall(r'<span class="reviewkit-project">(.*?)</span>', served, re.DOTALL)
    assert "<" not in name and html.unescape(name) == poison("name")
    assert "Traceback" not in served and "There was an error" not in served


def test_security_md_names_only_tests_that_exist() -> None:
    """SECURITY.md pins each defence to tests: every one it names exists."""
    tests = Path(__file__).resolve().parent
    text = (tests.parent / "SECURITY.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(test_\w+)::(test_\w+)`", text))
    assert len(named) > 30
    for module, name in sorted(named):
        source = (tests / f"{module}.py").read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.M), f"{module}::{name}"
