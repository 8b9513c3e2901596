"""`reviewkit serve` for real: a Voila server on loopback, driven by headless Chromium (Debian's
`chromium` through Playwright, no browser download). Screenshots of every page are saved to
``build/screenshots/`` as test artifacts."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import csv
import http.client
import http.cookiejar
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
from click.testing import CliRunner
from jupyterhub.app import JupyterHub
from playwright.async_api import async_playwright
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect
from traitlets.config.loader import PyFileConfigLoader

from reviewkit import open_project
from reviewkit.cli import main
from reviewkit.publish.report.pdf import CHROMIUM_OFFLINE
from reviewkit.serve.dashboard import PAGES
from reviewkit.serve.server import HUB_ENV
from tests.conftest import CHROMIUM, close_websocket, free_port
from tests.support.postgres import PostgresServer

# servers of `reviewkit serve`, with their kernels
pytestmark = pytest.mark.kernel

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "build" / "screenshots"
CHROMIUM_FLAGS = list(CHROMIUM_OFFLINE)
CHART = ".vega-embed svg, .vega-embed canvas"
#: The search for an output is done when every candidate listed is that output (each keystroke
#: refreshes the list, and a refresh drops the selection: select only after the last one).
SEARCHED = (
    "([sel, id]) => { const o = [...document.querySelector(sel).options];"
    " return o.length > 0 && o.every(x => x.text.includes(id)); }"
)
XSS = '<img src=x onerror="window.__xss=1">'
#: A cold page (kernel start, imports, project) takes 5-10 s on 2 busy cores; allow much more.
SLOW = 120_000

if not CHROMIUM.exists():
    if os.environ.get("CI") == "true":
        pytest.fail("Debian's chromium is missing: `make test` installs it", pytrace=False)
    pytest.skip(
        "Debian's chromium is not installed (make test installs it)", allow_module_level=True
    )


class Server:
    """A `reviewkit serve` process; its log is kept to wait on and to show when a test fails."""

    def __init__(
        self, project: Path, tmp: Path, *arguments: str, env: dict[str, str] | None = None
    ) -> None:
        self.project = project
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"serve-{self.port}.log"
        env = {**os.environ, **(env or {})}
        for name in ("DATA", "RUNTIME", "CONFIG"):
            folder = tmp / f"jupyter-{name.lower()}"
            folder.mkdir(exist_ok=True)
            env[f"JUPYTER_{name}_DIR"] = str(folder)
        env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        command = [sys.executable, "-m", "reviewkit", "serve", "--project", str(project)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port), *arguments],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, pattern: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text()):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.25)
        raise AssertionError(f"no {pattern!r} in the server log:\n{self.text()[-4000:]}")

    def url(self, notebook: str, query: str = "") -> str:
        return f"{self.base}/voila/render/{notebook}" + (f"?{query}" if query else "")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_async(coroutine: Any) -> Any:
    """Run ``coroutine`` to its end in a thread of its own (the sync Playwright of the other
    tests keeps an event loop running in this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def get(url: str) -> tuple[int, str]:
    """Status and body of a GET as a browser ends up with it, following redirects with the
    cookies they set (a page GET starts a kernel and waits for the notebook)."""
    browser = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    try:
        with browser.open(url, timeout=180) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        with error:  # it holds the connection: close it
            return error.code, error.read().decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def project(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("serve") / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    with open_project(folder) as opened:
        opened.import_links(folder / "data" / "links.yaml", author="importer")
    # The output the link test links gets a title that is HTML: it must show as text.
    (first,) = unlinked_outputs(folder, "billing", 1)
    export = folder / "data" / "issues_export.csv"
    with export.open(newline="", encoding="latin-1") as handle:  # as the tracker exports it
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["key"] == first:
            row["title"] = f"Retry failed cards {XSS}"
    with export.open("w", newline="", encoding="latin-1") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open_project(folder) as opened:
        opened.kpis()  # fill the export cache once, before kernels race for it
        opened.outputs()
    return folder


@pytest.fixture(scope="module")
def server(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the page tests: a preheated kernel per page, room for every test's pages
    (a closed page keeps its kernel until it is culled)."""
    running = Server(project, tmp_path_factory.mktemp("voila"), "--max-kernels", "40")
    try:
        running.wait_for(r"Voil. is running at")
        yield running
    finally:
        running.stop()


@pytest.fixture
def page(browser, server: Server):
    """A fresh browser context and page; every request it makes is recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(SLOW)
    opened = context.new_page()
    opened.requests = []
    opened.on("request", lambda request: opened.requests.append(request.url))
    yield opened
    context.close()


def shoot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def widgets_ready(page) -> None:
    """Wait until the kernel's widgets are drawn (the page shows nothing before)."""
    page.wait_for_selector(".jupyter-widgets select", timeout=SLOW)


def select_label(page, index: int) -> str:
    return (
        page.locator(".jupyter-widgets select")
        .nth(index)
        .evaluate("el => el.options[el.selectedIndex].textContent")
    )


# -- every page, drawn ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notebook", "query", "chart"),
    [
        ("review.ipynb", "team=support", True),
        ("explore_kpis.ipynb", "team=support&metric=csat&by=", True),
        ("link_outputs.ipynb", "team=support", False),
        ("checkins.ipynb", "team=support", False),
    ],
)
def test_each_page_draws_offline(
    page, server: Server, notebook: str, query: str, chart: bool
) -> None:
    page.goto(server.url(notebook, query))
    widgets_ready(page)
    if chart:
        page.wait_for_selector(CHART, timeout=SLOW)
    bar = page.locator(".reviewkit-bar")
    assert "Northwind Cloud" in bar.inner_text()
    assert "support" in bar.inner_text()
    assert (
        page.locator(".reviewkit-bar a[aria-current=page]")
        .get_attribute("href")
        .startswith(notebook)
    )
    links = [
        (a.get_attribute("href").split("?")[0], a.inner_text()) for a in bar.locator("a").all()
    ]
    assert links == list(PAGES.values())  # the bar is dashboard.PAGES, in order
    content = page.content()
    assert "Traceback" not in content and "There was an error" not in content
    outside = [u for u in page.requests if not u.startswith((server.base, "data:", "blob:"))]
    assert outside == []  # nothing from a CDN: the pages work offline
    shoot(page, notebook.removesuffix(".ipynb"))


def test_the_log_has_no_noise_per_view(server: Server) -> None:
    """The operator's log shows what happens and real problems: no "Notebook review.ipynb is not
    trusted" per view (the pages are signed when written) and no ipykernel "running over TCP
    without encryption" per kernel (their sockets are encrypted)."""
    for notebook in ("review.ipynb", "checkins.ipynb"):
        assert get(server.url(notebook, "team=billing"))[0] == 200
    # the kernel taken from the pool is replaced: a kernel started after the views
    server.wait_for(r"pre-heated kernel: \S+ for checkins\.ipynb[\s\S]*pool of checkins\.ipynb")
    log = server.text()
    assert "not trusted" not in log
    assert "without encryption" not in log
    assert "notebook-signing key" not in log  # nothing written to the user's Jupyter folders
    # the signing key lives beside the pages, which Voila serves: it must not hand it out
    for name in ("notebook_secret", "nbsignatures.db"):
        assert get(f"{server.base}/voila/files/{name}")[0] in (403, 404)


#: records in the page, at every frame it draws (where a flash would be seen), when it changes:
#: whether the first paint's chart is in the page and on screen, and how many of the live page's
#: charts are on screen
PAINT_RECORDER = """
window.__painted = [];
requestAnimationFrame(function frame() {
  var shown = { visibilityProperty: true, opacityProperty: true };
  var paint = document.querySelector(".reviewkit-first-paint svg");
  var onScreen = !!paint && paint.checkVisibility(shown)
    && paint.getBoundingClientRect().top < window.innerHeight;
  var live = Array.from(document.querySelectorAll(".reviewkit-page .vega-embed svg"))
    .filter(function (chart) {
      return chart.checkVisibility(shown) && chart.getBoundingClientRect().height > 0;
    }).length;
  var now = [!!paint, onScreen, live];
  var last = window.__painted[window.__painted.length - 1];
  if (!last || String(last) !== String(now)) { window.__painted.push(now); }
  requestAnimationFrame(frame);
});
"""


def test_the_review_paints_first_and_the_live_page_takes_over_without_a_flash(
    page, server: Server
) -> None:
    """The review page's first paint (summary, scorecard, first outcome, the charts as inline
    SVG) is in the HTML as Voila streams it, on screen before the page's JavaScript has drawn
    anything; the live page replaces it once it has drawn as many charts, so from the first
    paint on there is always a chart on screen, and the first paint is gone at the end."""
    url = server.url("review.ipynb", "period=2026-10&team=growth")
    status, body = get(url)  # what the server streams, no script run
    assert status == 200 and 'class="reviewkit-first-paint' in body
    painted = body.split('class="reviewkit-first-paint', 1)[1]
    assert painted.count("<svg") >= 2 and "Outcome scorecard" in painted
    page.add_init_script(PAINT_RECORDER)
    page.goto(url)
    widgets_ready(page)
    page.wait_for_selector(f".reviewkit-page {CHART}", state="visible", timeout=SLOW)
    assert page.locator(".reviewkit-first-paint").count() == 0
    states = page.evaluate("window.__painted")
    # on screen once laid out (a frame may catch its SVG parsed while the streamed page above
    # it is not yet: CI saw [True, False, 0] once), then a chart on every frame, and never both
    # pages at once
    first = next(i for i, (_, shown, _) in enumerate(states) if shown)
    assert all(not live for _, _, live in states[:first]), states
    assert all(bool(shown) != bool(live) for _, shown, live in states[first:]), states
    assert states[-1] == [False, False, states[-1][2]] and states[-1][2] >= 2, states
    assert "$" in page.inner_text(".reviewkit-page")  # amounts, not typeset as formulas
    assert page.locator(".reviewkit-page mjx-container, .reviewkit-page .MathJax").count() == 0


#: The scorecard chart's status legend, label -> symbol fill, and the fills of its other symbols.
SCORECARD_COLOURS = """() => {
  const chart = [...document.querySelectorAll('.reviewkit-page .reviewkit-chart')]
    .find(c => c.textContent.includes('target to date'));
  if (!chart || !chart.querySelector('svg')) { return null; }
  const legend = chart.querySelector('.role-legend');
  const labels = [...legend.querySelectorAll('.role-legend-label text')].map(t => t.textContent);
  const symbols = [...legend.querySelectorAll('.role-legend-symbol path')]
    .map(p => p.getAttribute('fill'));
  const drawn = [...chart.querySelectorAll('.mark-symbol path')]
    .filter(p => !p.closest('.role-legend')).map(p => p.getAttribute('fill'));
  return {legend: Object.fromEntries(labels.map((l, i) => [l, symbols[i]])), drawn};
}"""
#: Okabe-Ito, as reviewkit.present.charts.style has them (issue 30)
STATUS_COLOURS = {
    "off track": "#D55E00",
    "at risk": "#E69F00",
    "within noise": "#56B4E9",
    "on track": "#009E73",
    "n/a": "#999999",
}


def _rgb(colour: str) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def test_a_leader_reads_the_review_at_a_glance(page, server: Server, project: Path) -> None:
    """Issue 30, in the browser: each status in its colour (the scorecard's legend, points and
    table), what is off track first in the summary and the scorecard, the tables' text from the
    left, no outcome button cut, an intro for leaders, and a bar that follows the month and team
    picked."""
    page.goto(server.url("review.ipynb", "period=2026-10"))
    widgets_ready(page)
    page.wait_for_selector(f".reviewkit-page {CHART}", state="visible", timeout=SLOW)
    colours = page.wait_for_function(SCORECARD_COLOURS, timeout=SLOW, polling=250).json_value()
    assert {k: v.upper() for k, v in colours["legend"].items()} == STATUS_COLOURS
    with open_project(project) as opened:
        card = opened.outcome_scorecard("2026-10")
    statuses = list(card["status"])
    assert statuses[0] == "off track"  # the sample has one: the test means something
    shown = {fill.upper() for fill in colours["drawn"] if fill.upper() in STATUS_COLOURS.values()}
    assert shown == {STATUS_COLOURS[s] for s in statuses}
    table = page.locator(".reviewkit-page table.reviewkit-table").first
    cells = table.locator("td.reviewkit-status")
    symbols = {"off track": "▼", "at risk": "◆", "within noise": "✚", "on track": "●", "n/a": "■"}
    assert cells.all_inner_texts() == [f"{symbols[s]} {s}" for s in statuses]
    assert [c.evaluate("e => getComputedStyle(e).color") for c in cells.all()] == [
        _rgb(STATUS_COLOURS[s]) for s in statuses
    ]
    aligned = table.locator("td, th").evaluate_all(
        "cells => cells.map(c => getComputedStyle(c).textAlign)"
    )
    assert set(aligned) == {"left"}, aligned
    summary = page.locator(".reviewkit-page ul.reviewkit-summary li").all_inner_texts()
    marks = [line[0] for line in summary if line[:1] in "▼◆✚●■"]
    assert marks and marks == sorted(marks, key="▼◆✚●■".index) and summary[0].startswith("▼")
    buttons = page.locator(".widget-toggle-buttons button")
    clipped = buttons.evaluate_all(
        "bs => bs.filter(b => b.scrollWidth > b.clientWidth).map(b => b.textContent)"
    )
    assert buttons.count() == len(statuses) and clipped == []
    shoot(page, "review-leader")  # make pictures: docs/images/review-page.png
    intro = page.locator(".jp-RenderedMarkdown").first.inner_text()
    assert "Pick the month and the team" in intro and "reviewkit serve" not in intro
    scope = page.locator("#reviewkit-scope")
    page.wait_for_function(
        "() => document.getElementById('reviewkit-scope').textContent === '2026-10 · whole company'"
    )
    page.locator(".reviewkit-team select").select_option(label="support")
    assert scope.inner_text() == "2026-10 · support"
    assert "team=support" in page.url and "period=2026-10" in page.url
    review = page.locator(".reviewkit-bar a", has_text="Check-ins").get_attribute("href")
    assert "team=support" in review


def test_the_review_drills_down_into_an_outcome(page, server: Server) -> None:
    page.goto(server.url("review.ipynb", "period=2026-09&team=support"))
    widgets_ready(page)
    assert (select_label(page, 0), select_label(page, 1)) == ("2026-09", "support")
    buttons = page.locator(".widget-toggle-buttons button")
    page.wait_for_selector(".widget-toggle-buttons button", timeout=SLOW)
    assert buttons.count() >= 1
    buttons.last.click()
    title = buttons.last.inner_text()
    page.wait_for_selector(f"h3:has-text({json.dumps(title)})", timeout=SLOW)
    page.wait_for_selector(f"{CHART}", timeout=SLOW)
    assert page.locator("table:has-text('verdict')").count() >= 1
    shoot(page, "review-outcome")


def test_a_bad_url_gets_a_message_not_a_crash(page, server: Server) -> None:
    page.goto(server.url("review.ipynb", "team=../../etc&period=2026-10"))
    page.wait_for_selector(".reviewkit-problem", timeout=SLOW)
    text = page.locator(".reviewkit-problem").inner_text()
    assert "team '../../etc' is unknown; teams are: billing, growth" in text
    page.goto(server.url("review.ipynb", "period=2026-13"))
    page.wait_for_selector(".reviewkit-problem", timeout=SLOW)
    assert "2026-13" in page.locator(".reviewkit-problem").inner_text()
    assert "Traceback" not in page.content()


# -- writes through the widgets ------------------------------------------------------------------


def link_one(page, server: Server, output: str, hypothesis: str, title: str = "") -> None:
    """On the link editor: find billing's ``output`` (listed with ``title``), link it."""
    page.goto(server.url("link_outputs.ipynb", "team=billing"))
    widgets_ready(page)
    page.locator(".widget-text input").first.fill(output)
    page.locator(".widget-text input").first.press("Enter")
    candidates = page.locator(".widget-select-multiple select")
    page.wait_for_function(
        SEARCHED,
        arg=[".widget-select-multiple select", output],
        timeout=SLOW,
    )
    option = candidates.locator("option", has_text=output)
    if title:  # an option's text is text: HTML in a title shows as typed
        assert title in option.inner_text().replace("\xa0", " ")
    candidates.select_option(value=option.get_attribute("value"))
    page.locator(".widget-textarea textarea").first.fill(hypothesis)
    page.locator("button[title='Link selected']").click()
    page.wait_for_selector(f"text=linked {output}", timeout=SLOW)


def unlinked_outputs(project: Path, team: str, count: int) -> list[str]:
    """Outputs of ``team`` delivered in the latest month (the link editor's default) that no
    link names yet."""
    with open_project(project) as opened:
        outputs = opened.outputs()
        linked = set(opened.links()["output_id"])
        month = opened.period("latest", "month")
    delivered = outputs["delivered"].map(lambda d: month.start <= d <= month.end)
    mine = outputs[(outputs["team"] == team) & delivered & ~outputs["id"].isin(linked)]
    return sorted(mine["id"])[:count]


def test_a_link_made_in_the_browser_is_there_after_a_reload(
    page, server: Server, project: Path
) -> None:
    (output,) = unlinked_outputs(project, "billing", 1)
    link_one(page, server, output, f"Fewer failed payments {XSS}", f"Retry failed cards {XSS}")
    page.reload()
    widgets_ready(page)
    page.wait_for_selector(f"td:has-text('{output}')", timeout=SLOW)
    row = page.locator(f"tr:has-text('{output}')").first.inner_text()
    assert XSS in row  # shown as text...
    assert page.evaluate("window.__xss") is None  # ...never run
    shoot(page, "link_outputs-saved")
    with open_project(project) as opened:
        links = opened.links()
    saved = links[links["output_id"] == output]
    assert list(saved["hypothesis"]) == [f"Fewer failed payments {XSS}"]


def test_a_check_in_note_is_text_in_the_page(page, server: Server, project: Path) -> None:
    page.goto(server.url("checkins.ipynb", "period=2026-10&team=support"))
    widgets_ready(page)
    note = page.locator(".widget-textarea textarea").first
    note.fill(f"Backlog cleared {XSS}")
    page.locator("button[title='Save check-in']").click()
    page.wait_for_selector("text=saved:", timeout=SLOW)
    page.goto(server.url("review.ipynb", "period=2026-10&team=support"))
    widgets_ready(page)
    page.wait_for_selector(f"text=Backlog cleared {XSS}", timeout=SLOW)
    assert page.evaluate("window.__xss") is None
    with open_project(project) as opened:
        notes = [c.note for c in opened.checkins(period="2026-10")]
    assert f"Backlog cleared {XSS}" in notes


async def link_in_new_tab(launched: Any, server: Server, output: str, hypothesis: str) -> Any:
    """In a browser context of its own (a viewer), link billing's ``output`` on ``server``'s
    link editor; returns the context, left open."""
    context = await launched.new_context()
    context.set_default_timeout(SLOW * 2)  # 8 pages share 2 cores
    tab = await context.new_page()
    await tab.goto(server.url("link_outputs.ipynb", "team=billing"))
    try:
        await tab.wait_for_selector(".jupyter-widgets select", timeout=SLOW)
    except Exception:
        await tab.screenshot(path=str(SCREENSHOTS / f"viewer-{output}.png"))
        raise AssertionError(f"viewer {output}: the page has no widgets") from None
    search = tab.locator(".widget-text input").first
    await search.fill(output)
    await search.press("Enter")
    await tab.wait_for_function(
        SEARCHED, arg=[".widget-select-multiple select", output], timeout=SLOW
    )
    candidates = tab.locator(".widget-select-multiple select")
    value = await candidates.locator("option", has_text=output).get_attribute("value")
    await candidates.select_option(value=value)
    await tab.locator(".widget-textarea textarea").first.fill(hypothesis)
    await tab.locator("button[title='Link selected']").click()
    try:
        await tab.wait_for_selector(f"text=linked {output}", timeout=SLOW)
    except Exception:
        await tab.screenshot(path=str(SCREENSHOTS / f"viewer-{output}.png"))
        raise AssertionError(await tab.inner_text("body")) from None
    return context


def viewers_link(servers: list[Server], outputs: list[str]) -> None:
    """One viewer per output, all at once, spread over ``servers``; each links its output with
    the hypothesis "viewer OUTPUT". A failure shows the servers' logs."""

    async def viewers() -> None:
        async with async_playwright() as playwright:
            launched = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
            )

            async def one(index: int, output: str) -> None:
                server = servers[index % len(servers)]
                context = await link_in_new_tab(launched, server, output, f"viewer {output}")
                await context.close()

            await asyncio.gather(*(one(i, output) for i, output in enumerate(outputs)))
            await launched.close()

    try:
        run_async(viewers())
    except Exception as exc:  # what the servers saw says why a page did not come
        logs = "".join(f"\n-- the log of {s.base}:\n{s.text()[-6000:]}" for s in servers)
        raise AssertionError(f"{exc}{logs}") from None


def test_eight_viewers_saving_links_at_once_all_keep_theirs(
    browser, server: Server, project: Path
) -> None:
    outputs = unlinked_outputs(project, "billing", 8)
    assert len(outputs) == 8
    viewers_link([server], outputs)
    with open_project(project) as opened:
        links = opened.links()
        assert opened.store.verify()
    kept = links[links["output_id"].isin(outputs)]
    assert sorted(kept["output_id"]) == sorted(outputs)
    assert set(kept["hypothesis"]) == {f"viewer {o}" for o in outputs}


def test_two_servers_over_one_postgresql_store(
    browser, project: Path, postgres: PostgresServer, tmp_path: Path, monkeypatch
) -> None:
    """Two `reviewkit serve` processes (two hosts, as far as the store can tell) over one
    PostgreSQL store: 4 viewers split across them save at once and all saves are kept (8 at once
    on one server: test_eight_viewers_saving_links_at_once_all_keep_theirs); a page
    on one shows what was saved on the other; PostgreSQL killed mid-session: the page says the
    store cannot be reached, nothing acknowledged is lost, and saving resumes once it is back."""
    url = postgres.new_database()
    monkeypatch.setenv("REVIEWKIT_STORE", url)  # this process's open_project, and the servers'
    with open_project(project) as opened:
        opened.import_links(project / "data" / "links.yaml", author="importer")
    outputs = unlinked_outputs(project, "billing", 6)
    assert len(outputs) == 6
    servers = [Server(project, tmp_path, "--max-kernels", "30") for _ in range(2)]
    try:
        for running in servers:
            running.wait_for(r"Voil. is running at")
        viewers_link(servers, outputs[:4])
        with open_project(project) as opened:
            links = opened.links()
            assert opened.store.verify()
        kept = links[links["output_id"].isin(outputs[:4])]
        assert sorted(kept["hypothesis"]) == sorted(f"viewer {o}" for o in outputs[:4])

        # each server's page shows what was saved through the other
        page = browser.new_page()
        page.set_default_timeout(SLOW)
        for shown, saved_elsewhere in ((servers[0], outputs[1]), (servers[1], outputs[0])):
            page.goto(shown.url("link_outputs.ipynb", "team=billing"))
            widgets_ready(page)
            page.wait_for_selector(f"td:has-text('{saved_elsewhere}')", timeout=SLOW)

        # the store goes away while a viewer works, then comes back
        link_one(page, servers[0], outputs[4], "before the outage")
        page.locator(".widget-text input").first.fill(outputs[5])
        page.locator(".widget-text input").first.press("Enter")
        page.wait_for_function(
            SEARCHED, arg=[".widget-select-multiple select", outputs[5]], timeout=SLOW
        )
        option = page.locator(".widget-select-multiple select option", has_text=outputs[5])
        page.locator(".widget-select-multiple select").select_option(
            value=option.get_attribute("value")
        )
        postgres.kill()
        try:
            page.locator("button[title='Link selected']").click()
            page.wait_for_selector("text=PostgreSQL server cannot be reached", timeout=SLOW)
            assert "so nothing was saved" in page.inner_text("body")
            shoot(page, "link_outputs-store-unreachable")
        finally:
            postgres.start()
        page.locator("button[title='Link selected']").click()
        page.wait_for_selector(f"text=linked {outputs[5]}", timeout=SLOW)
        page.close()
        with open_project(project) as opened:
            links = opened.links()
            assert opened.store.verify()
        assert set(outputs) <= set(links["output_id"])  # every acknowledged save is there
    finally:
        for running in servers:
            running.stop()


#: A sitecustomize for a server process that lags behind its kernels as a busy one does: its
#: executor (nbclient) handles each output a kernel sends IOPUB_LAG seconds after it was sent,
#: while the kernel's "cell done" reply is not delayed. Kernels import it too; it does nothing there.
LAGGING_SERVER = """\
import os
import sys

if os.environ.get("IOPUB_LAG") and "ipykernel_launcher" not in " ".join(sys.orig_argv):
    import asyncio
    import datetime

    from jupyter_core.utils import ensure_async
    from nbclient import client
    from nbclient.exceptions import CellExecutionComplete

    LAG = float(os.environ["IOPUB_LAG"])

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        while True:
            msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=None))
            sent = msg["header"].get("date")
            if isinstance(sent, datetime.datetime):
                age = (datetime.datetime.now(datetime.timezone.utc) - sent).total_seconds()
                await asyncio.sleep(max(0.0, LAG - age))
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    return

    client.NotebookClient._async_poll_output_msg = _async_poll_output_msg
"""


def test_a_page_is_not_empty_when_the_server_lags_behind_its_kernel(
    project: Path, tmp_path: Path
) -> None:
    """Voila drops a cell's outputs that it has not handled a few seconds after the kernel's
    reply (nbclient's iopub_timeout): a busy server lagging behind its kernels served empty
    pages. With the server 6 s behind, a page still has its widget: the preheated kernel's page
    (waiting for the request) and the next one (its kernel still starting at the request)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(LAGGING_SERVER, encoding="utf-8")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    lagging = Server(
        project, tmp_path, "--max-kernels", "8", env={"PYTHONPATH": path, "IOPUB_LAG": "6"}
    )
    try:
        lagging.wait_for(r"Kernel pool of link_outputs\.ipynb is filled")
        time.sleep(5)  # the preheated kernel reaches its wait for the request
        for team in ("billing", "growth"):
            status, body = get(lagging.url("link_outputs.ipynb", f"team={team}"))
            assert status == 200
            assert "application/vnd.jupyter.widget-view+json" in body, lagging.text()[-3000:]
        assert lagging.text().count("Using pre-heated kernel") == 2
    finally:
        lagging.stop()


# -- what a hostile browser can do ---------------------------------------------------------------


def test_a_value_outside_a_widgets_options_is_refused(page, server: Server, project: Path) -> None:
    """A browser can put any option into a <select>: the kernel refuses the value (the outcome
    stays one of the offered ones) and nothing is saved against an outcome that does not exist."""
    (output,) = unlinked_outputs(project, "billing", 1)
    page.goto(server.url("link_outputs.ipynb", "team=billing"))
    widgets_ready(page)
    outcome = page.locator(".widget-dropdown select").nth(2)  # period, team, then outcome
    offered = outcome.evaluate("el => [...el.options].map(o => o.text)")
    assert any("billing-churn" in text for text in offered)
    outcome.evaluate(
        "el => { el.add(new Option('evil (../../etc)', 'evil')); el.value = 'evil';"
        " el.dispatchEvent(new Event('change', {bubbles: true})); }"
    )
    search = page.locator(".widget-text input").first
    search.fill(output)
    page.wait_for_function(SEARCHED, arg=[".widget-select-multiple select", output])
    candidates = page.locator(".widget-select-multiple select")
    candidates.select_option(value=candidates.locator("option").first.get_attribute("value"))
    page.locator(".widget-textarea textarea").first.fill("hostile outcome")
    page.locator("button[title='Link selected']").click()
    page.wait_for_selector(f"text=linked {output}", timeout=SLOW)
    with open_project(project) as opened:
        links = opened.links()
        known = {o.id for o in opened.config.outcomes.values()}
    saved = links[links["output_id"] == output]
    assert len(saved) == 1 and saved.iloc[0]["outcome_id"] in known


def test_the_kernel_ignores_execute_requests(server: Server, tmp_path: Path) -> None:
    """Voila lets a browser send widget messages only: code sent over the kernel's websocket is
    dropped, while a kernel_info_request (allowed) is answered on the same socket. (The page's
    own browser sends it: a kernel is the page's that started it.)"""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(server.url("checkins.ipynb"), timeout=180) as response:
        body = response.read().decode("utf-8")
    kernel = re.search(r'"kernelId": "([0-9a-f-]+)"', body)
    assert kernel, body[:2000]
    marker = tmp_path / "pwned"
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)

    async def attack() -> list[str]:
        socket_url = server.base.replace("http", "ws") + f"/api/kernels/{kernel[1]}/channels"
        connection = await websocket_connect(HTTPRequest(socket_url, headers={"Cookie": cookie}))

        def message(kind: str, content: dict) -> str:
            header = {
                "msg_id": kind + "-1",
                "msg_type": kind,
                "username": "attacker",
                "session": "attacker",
                "version": "5.3",
                "date": "2026-11-24T00:00:00Z",
            }
            return json.dumps(
                {
                    "header": header,
                    "parent_header": {},
                    "metadata": {},
                    "content": content,
                    "channel": "shell",
                    "buffers": [],
                }
            )

        code = f"open({str(marker)!r}, 'w').write('x')"
        await connection.write_message(message("execute_request", {"code": code, "silent": False}))
        await connection.write_message(message("kernel_info_request", {}))
        seen: list[str] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "kernel_info_reply" not in seen:
            raw = await asyncio.wait_for(connection.read_message(), timeout=20)
            if isinstance(raw, str):
                seen.append(json.loads(raw)["header"]["msg_type"])
        await asyncio.sleep(2)  # time enough for an execution that should not happen
        await close_websocket(connection)
        return seen

    seen = run_async(attack())
    assert "kernel_info_reply" in seen
    assert "execute_reply" not in seen and "execute_input" not in seen
    assert not marker.exists()


def test_off_loopback_without_a_token_is_refused(project: Path) -> None:
    result = CliRunner().invoke(main, ["serve", "--project", str(project), "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "refusing to serve on 0.0.0.0 without a token" in result.output
    result = CliRunner().invoke(main, ["serve", "--token", "x", "--no-token"])
    assert result.exit_code == 2


def test_hub_sign_in_is_for_a_server_the_hub_starts(project: Path, monkeypatch) -> None:
    for name in HUB_ENV:
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["serve", "--project", str(project), "--sign-in", "hub"])
    assert result.exit_code == 1
    assert "--sign-in hub runs as a JupyterHub service, started by the Hub" in result.output
    assert "JUPYTERHUB_SERVICE_URL, JUPYTERHUB_SERVICE_PREFIX" in result.output
    result = CliRunner().invoke(main, ["serve", "--sign-in", "hub", "--port", "9999"])
    assert result.exit_code == 2 and "drop --port" in result.output


def kernels_of(server: Server) -> set[int]:
    """The pids of the kernels ``server`` started (its child processes)."""
    found = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            parent = re.search(r"^PPid:\s+(\d+)", status.read_text(), re.M)
        except OSError:
            continue  # ended meanwhile
        if parent and int(parent[1]) == server.process.pid:
            found.add(int(status.parent.name))
    return found


def test_ctrl_c_stops_the_server_quietly(project: Path, tmp_path: Path) -> None:
    """Ctrl-C while kernels were starting (just after the start, or after a page was opened)
    printed tracebacks: each kernel was sent SIGINT before it was asked to shut down (one still
    starting died of it, often inside zmq), a kernel still starting failed the shutdown with a
    404, Python's KeyboardInterrupt broke off what the server was doing, and a kernel rendering a
    page failed to answer on sockets already closed. The server now stops at once, quietly,
    and leaves no kernel behind."""
    server = Server(project, tmp_path)
    try:
        server.wait_for(r"Voil. is running at[\s\S]*Kernel started")  # the pools are filling

        def open_page() -> None:  # a page, which takes a kernel and renders in it
            with contextlib.suppress(OSError, http.client.HTTPException):  # cut off by the stop
                get(server.url("review.ipynb", "team=billing"))

        opening = threading.Thread(target=open_page)
        opening.start()
        server.wait_for(r"(Kernel started[\s\S]*){3}")
        kernels = kernels_of(server)
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=60) == 0
        opening.join()
    finally:
        server.stop()
    log = server.text()
    stopped = log[log.index("Stopping") :]
    assert "Traceback" not in log and "Error" not in stopped, stopped[-3000:]
    assert kernels and not {pid for pid in kernels if Path(f"/proc/{pid}").exists()}


def test_a_port_in_use_is_refused(server: Server, project: Path) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--project", str(project), "--port", str(server.port)]
    )
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{server.port}" in result.output


def test_token_cap_and_culling(project: Path, tmp_path: Path) -> None:
    """With a token, pages need it; with one kernel allowed, a second viewer is told the server
    is busy (503) until the first page's kernel is culled for being idle."""
    capped = Server(
        project,
        tmp_path,
        "--token",
        "s3cret",
        "--pool-size",
        "0",
        "--max-kernels",
        "1",
        "--cull-after",
        "10",
    )
    try:
        capped.wait_for(r"Voil. is running at")
        status, body = get(capped.url("checkins.ipynb"))
        assert status == 403 or "login" in body.lower(), (status, body[:500])
        assert "Check in on each outcome" not in body
        status, body = get(capped.url("checkins.ipynb", "token=s3cret"))
        assert status == 200 and "Check in on each outcome" in body
        status, body = get(capped.url("review.ipynb", "token=s3cret"))
        assert status == 503 and "The review server is busy" in body
        capped.wait_for(r"Culling '\w+' kernel", timeout=90)
        deadline = time.monotonic() + 60  # the culled kernel takes a few seconds to stop
        while (status := get(capped.url("review.ipynb", "token=s3cret"))[0]) == 503:
            assert time.monotonic() < deadline, capped.text()[-3000:]
            time.sleep(0.25)
        assert status == 200
    finally:
        capped.stop()


# -- signing people in ---------------------------------------------------------------------------


def test_people_sign_in_with_their_own_tokens_and_their_saves_are_theirs(
    browser, project: Path, tmp_path: Path, monkeypatch
) -> None:
    """`--sign-in people`: nothing is served without a person's token; two people's saves are
    recorded under their names; a viewer's change is refused on the page; and a header the
    browser sends to claim to be someone else changes nothing."""
    monkeypatch.setenv("REVIEWKIT_STORE", str(tmp_path / "team.db"))  # a store of its own
    with open_project(project) as opened:
        opened.import_links(project / "data" / "links.yaml", author="importer")
        priya = opened.store.add_person("Priya Raman", email="priya@example.com")
        luis = opened.store.add_person("Luis Ortega")
        vera = opened.store.add_person("Vera Viewer", role="viewer")
    output, other = unlinked_outputs(project, "billing", 2)
    server = Server(project, tmp_path, "--sign-in", "people", "--max-kernels", "20")
    try:
        server.wait_for(r"Voil. is running at")
        status, body = get(server.url("link_outputs.ipynb"))
        assert "Link outputs to outcomes" not in body, status
        kernel = f"{server.base}/api/kernels/0b1e0a43-0c8a-4e69-9a4d-62e2d5d1d8f1/channels"
        assert get(kernel)[0] == 403  # the kernels refuse too
        assert get(server.url("link_outputs.ipynb", "token=not-a-token"))[0] in (302, 403, 200)

        def signed_in(token: str, **headers: str):
            context = browser.new_context(extra_http_headers=headers)
            context.set_default_timeout(SLOW)
            tab = context.new_page()
            tab.goto(server.url("link_outputs.ipynb", f"team=billing&token={token}"))
            widgets_ready(tab)
            assert tab.url == server.url("link_outputs.ipynb", "team=billing")  # no token
            return context, tab

        context, tab = signed_in(priya)
        link_one(tab, server, output, "Priya's hypothesis")
        context.close()

        context, tab = signed_in(luis)
        tab.goto(server.url("checkins.ipynb", "team=billing&period=2026-10"))  # the cookie
        widgets_ready(tab)
        tab.locator(".widget-textarea textarea").first.fill("Retries working")
        tab.locator(".widget-textarea textarea").nth(1).fill("Extend to annual plans | luis")
        tab.locator("button[title='Save check-in']").click()
        tab.wait_for_selector("text=saved:", timeout=SLOW)
        context.close()

        spoof = json.dumps({"name": "Luis Ortega", "role": "contributor"})
        context, tab = signed_in(vera, **{"X-Reviewkit-Viewer": spoof})
        tab.locator(".widget-text input").first.fill(other)
        tab.locator(".widget-text input").first.press("Enter")
        tab.wait_for_function(SEARCHED, arg=[".widget-select-multiple select", other])
        option = tab.locator(".widget-select-multiple select option", has_text=other)
        tab.locator(".widget-select-multiple select").select_option(
            value=option.get_attribute("value")
        )
        tab.locator("button[title='Link selected']").click()
        tab.wait_for_selector("text=Vera Viewer may read these pages but not link", timeout=SLOW)
        assert tab.inner_text(".reviewkit-viewer") == "Signed in as Vera Viewer (viewer)"
        shoot(tab, "link_outputs-viewer-refused")
        context.close()
    finally:
        server.stop()
    with open_project(project) as opened:
        links = opened.links()
        (checkin,) = opened.checkins(period="2026-10", outcome_id="billing-churn")
    assert list(links[links["output_id"] == output]["author"]) == ["Priya Raman"]
    assert links[links["output_id"] == other].empty
    assert (checkin.author, checkin.note) == ("Luis Ortega", "Retries working")
    assert [d.text for d in checkin.decisions] == ["Extend to annual plans"]  # Luis owns it


def test_proxy_sign_in_believes_only_the_trusted_proxy(project: Path, tmp_path: Path) -> None:
    """`--sign-in proxy`: the X-Forwarded-User of a request from a trusted proxy signs that
    person in; from anywhere else the same headers are refused."""
    # both servers start at once (a start is mostly imports: two overlap on 2 cores)
    proxied, trusted = (
        Server(
            project, tmp_path, "--sign-in", "proxy", "--trusted-proxy", proxy, "--pool-size", "0"
        )
        for proxy in ("10.9.9.9", "127.0.0.1")
    )
    try:
        proxied.wait_for(r"Voil. is running at")
        request = urllib.request.Request(
            proxied.url("checkins.ipynb"),
            headers={"X-Forwarded-User": "Luis Ortega", "X-Forwarded-Email": "l@x.io"},
        )
        try:
            with urllib.request.urlopen(request, timeout=180) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
        assert status == 403  # 127.0.0.1 is not the proxy: its headers are not believed
        proxied.stop()
        trusted.wait_for(r"Voil. is running at")
        assert get(trusted.url("checkins.ipynb"))[0] == 403  # no header: nobody signed in
        request = urllib.request.Request(
            trusted.url("checkins.ipynb", "team=billing"),
            headers={"X-Forwarded-User": "Luis Ortega", "X-Forwarded-Email": "l@x.io"},
        )
        with urllib.request.urlopen(request, timeout=180) as response:
            body = response.read().decode("utf-8")
        assert response.status == 200 and "Check in on each outcome" in body
    finally:
        for running in (proxied, trusted):
            running.stop()


HUB_CONFIG = """\
c = get_config()
load_subconfig({docs!r})  # the recipe, as documented; only its ports change here
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_port}"
c.JupyterHub.services[0]["url"] = "http://127.0.0.1:{service_port}"
"""


@dataclass(frozen=True)
class Hub:
    """docs/jupyterhub_config.py started as a real JupyterHub on ports of its own (the Hub's
    public ``port``, its proxy's API, its service's), in this test's environment."""

    process: subprocess.Popen[bytes]
    port: int
    proxy_port: int
    service_port: int
    log: Path


def start_hub(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Hub:
    monkeypatch.setenv("REVIEWKIT_PROJECT", str(project))
    monkeypatch.setenv("REVIEWKIT_HUB_PASSWORD", "hub-s3cret")
    port, proxy_port, service_port = free_port(), free_port(), free_port()
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(
        HUB_CONFIG.format(
            docs=str(REPO / "docs" / "jupyterhub_config.py"),
            port=port,
            hub_port=free_port(),
            proxy_port=proxy_port,
            service_port=service_port,
        )
    )
    log = tmp_path / "hub.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)],
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Hub(process, port, proxy_port, service_port, log)


def test_the_hub_recipe_lets_in_only_who_gives_its_password(tmp_path: Path, monkeypatch) -> None:
    """docs/jupyterhub_config.py's stand-in authenticator, as the Hub configures it: the one
    password in REVIEWKIT_HUB_PASSWORD signs anyone in, another does not, and without the
    variable nobody is let in (the dummy authenticator it replaces, whose password JupyterHub
    5.3 deprecated, stopped the Hub with a TraitError then)."""
    monkeypatch.setenv("REVIEWKIT_PROJECT", str(tmp_path))
    for password, given, let_in in [
        (None, "anything", False),
        ("hub-s3cret", "anything", False),
        ("hub-s3cret", "hub-s3cret", True),
    ]:
        if password is None:
            monkeypatch.delenv("REVIEWKIT_HUB_PASSWORD", raising=False)
        else:
            monkeypatch.setenv("REVIEWKIT_HUB_PASSWORD", password)
        config = PyFileConfigLoader("jupyterhub_config.py", path=str(REPO / "docs")).load_config()
        hub = JupyterHub(config=config)
        authenticator = hub.authenticator_class(parent=hub)
        signed_in = run_async(
            authenticator.authenticate(None, {"username": "x", "password": given})
        )
        assert bool(signed_in) is let_in, (password, given)


def test_a_hub_whose_service_cannot_start_says_why_and_leaves_no_proxy(
    project: Path, tmp_path: Path, pg_password_url: tuple[str, str], monkeypatch
) -> None:
    """The store in PostgreSQL and no password for it: the service exits, JupyterHub with it,
    the store's error in the log, and the proxy it started stops too (JupyterHub alone leaves
    it running, holding the Hub's port)."""
    url, _ = pg_password_url
    monkeypatch.setenv("REVIEWKIT_STORE", url)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    hub = start_hub(project, tmp_path, monkeypatch)
    try:
        assert hub.process.wait(timeout=180) == 1
    finally:
        if hub.process.poll() is None:
            hub.process.kill()
            hub.process.wait()
    log = hub.log.read_text(errors="replace")
    assert "PostgreSQL refused the store's user while opening the store" in log, log[-4000:]
    assert "Service reviews exited with status 1" in log
    proxies = [
        process
        for process in psutil.process_iter(["cmdline"])
        if f"--api-port {hub.proxy_port}" in " ".join(process.info["cmdline"] or [])
    ]
    assert proxies == [] or psutil.wait_procs(proxies, timeout=10)[1] == [], "a proxy is left"


def test_jupyterhub_signs_people_in_to_the_pages(
    browser, project: Path, tmp_path: Path, pg_password_url: tuple[str, str], monkeypatch
) -> None:
    """docs/jupyterhub_config.py for real: JupyterHub (its dummy authenticator, the Python
    configurable-http-proxy) starts `reviewkit serve --sign-in hub` as its service, over a
    PostgreSQL store whose password is in PGPASSWORD. Nothing is served to someone not signed
    in to the Hub; a person who signs in lands on the page as themselves, with the role
    `reviewkit users` gives them, and their check-in is theirs; someone the Hub lets in who is
    not in `reviewkit users` only reads."""
    url, password = pg_password_url
    monkeypatch.setenv("REVIEWKIT_STORE", url)  # passed on to the service, as is the password
    monkeypatch.setenv("PGPASSWORD", password)
    with open_project(project) as opened:
        opened.store.add_person("Priya Raman", email="priya@example.com")
    started = start_hub(project, tmp_path, monkeypatch)
    hub, port, service_port, log = started.process, started.port, started.service_port, started.log
    base = f"http://127.0.0.1:{port}/services/reviews/voila/render"

    def wait_for(pattern: str) -> None:
        deadline = time.monotonic() + 180
        while not re.search(pattern, log.read_text(errors="replace")):
            assert hub.poll() is None and time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.25)

    def sign_in(name: str, page: str):
        context = browser.new_context()
        context.set_default_timeout(SLOW)
        tab = context.new_page()
        tab.goto(f"{base}/{page}")
        tab.fill("#username_input", name)
        tab.fill("#password_input", "hub-s3cret")
        tab.click("#login_submit")
        tab.wait_for_url(f"{base}/{page}")
        widgets_ready(tab)
        return context, tab

    try:
        wait_for(r"JupyterHub is now running")
        wait_for(r"Voil. is running at")
        # not signed in: the Hub's sign-in page, from the Hub's address or the service's own
        status, body = get(f"{base}/checkins.ipynb")
        assert status == 200 and 'id="login_submit"' in body and "Check in on" not in body
        direct = f"http://127.0.0.1:{service_port}/services/reviews/voila/render/checkins.ipynb"
        status, body = get(direct)
        assert "Check in on" not in body, status

        priya, tab = sign_in("priya@example.com", "checkins.ipynb?team=billing&period=2026-10")
        assert tab.inner_text(".reviewkit-viewer") == "Signed in as Priya Raman (contributor)"
        tab.locator(".widget-textarea textarea").first.fill("Retries working, says Priya")
        tab.locator("button[title='Save check-in']").click()
        tab.wait_for_selector("text=saved:", timeout=SLOW)
        shoot(tab, "checkins-jupyterhub")
        kernel = re.search(r'"kernelId": "([0-9a-f-]+)"', tab.content())
        assert kernel

        context, tab = sign_in("guest", "checkins.ipynb?team=billing&period=2026-10")
        assert tab.inner_text(".reviewkit-viewer") == "Signed in as guest (viewer)"
        tab.locator(".widget-textarea textarea").first.fill("A guest's note")
        tab.locator("button[title='Save check-in']").click()
        tab.wait_for_selector("text=guest may read these pages but not", timeout=SLOW)
        # a Hub user cannot reach another user's kernel; its owner can
        channels = base.replace("http", "ws").replace(
            "/voila/render", f"/api/kernels/{kernel[1]}/channels"
        )
        assert websocket_status(channels, context.cookies()) == 403
        assert websocket_status(channels, priya.cookies()) == 101
        context.close()
        priya.close()
        served = log.read_text(errors="replace")  # (stopping may interrupt a kernel mid-start)
    finally:
        hub.terminate()
        try:
            hub.wait(timeout=60)
        except subprocess.TimeoutExpired:
            hub.kill()
            hub.wait()
    with open_project(project) as opened:
        (checkin,) = opened.checkins(period="2026-10", outcome_id="billing-churn")
    assert (checkin.author, checkin.note) == ("Priya Raman", "Retries working, says Priya")
    assert not [trace for trace in served.split("Traceback")[1:] if not is_closed_tab_race(trace)]


def websocket_status(url: str, cookies: list[dict[str, Any]]) -> int:
    """101 when the websocket at ``url`` opens for a browser with these cookies (Playwright's),
    else the HTTP status."""

    async def attempt() -> int:
        sent = "; ".join(f"{c['name']}={c['value']}" for c in cookies)
        try:
            connection = await websocket_connect(HTTPRequest(url, headers={"Cookie": sent}))
        except HTTPClientError as error:
            return error.code
        await close_websocket(connection)
        return 101

    return int(run_async(attempt()))


def is_closed_tab_race(trace: str) -> bool:
    """A websocket message written to a tab that has just closed logs WebSocketClosedError:
    from the Hub's Python proxy relaying it (a race inside configurable-http-proxy), or from
    tornado's own write of it, whose unawaited future fails after the tab went (its frames are
    all in tornado's websocket.py, so no frame of the reviews service is in it)."""
    lines = trace.splitlines()[1:]  # after "Traceback (most recent call last):"
    frames = list(itertools.takewhile(lambda line: line.startswith(" "), lines))
    raised = lines[len(frames)] if len(frames) < len(lines) else ""
    files = [frame for frame in frames if frame.lstrip().startswith("File ")]
    if bool(files) and all("/tornado/websocket.py" in frame for frame in files):
        # tornado's write: the stream's close, then the WebSocketClosedError it raises
        return raised.endswith(("WebSocketClosedError", "StreamClosedError: Stream is closed"))
    return raised.endswith("WebSocketClosedError") and any(
        "/configurable_http_proxy/" in frame for frame in frames
    )
