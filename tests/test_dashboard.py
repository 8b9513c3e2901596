"""The live pages' parameters: the notebook's, overridden by the page URL's query string, checked
before use; a wrong value is a message on the page, never a traceback."""

from __future__ import annotations

import ast
import asyncio
import html
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import papermill
import pytest
import tornado.httpserver
import tornado.ioloop
import tornado.netutil
import tornado.web
import websockets.exceptions
import websockets.sync.client
from voila.request_info_handler import RequestInfoSocketHandler

from reviewkit import ReviewkitError
from reviewkit.base.kernels import KERNEL_KEY_ENV, KERNEL_PROOF_HEADER, kernel_proof
from reviewkit.serve import dashboard
from reviewkit.serve.access import RequestInfo
from reviewkit.serve.dashboard import UrlError, page, url_parameters

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = {"project_dir": "..", "period": "latest", "team": ""}


def test_the_url_overrides_text_parameters() -> None:
    assert url_parameters("period=2026-09&team=growth", DEFAULTS) == {
        "period": "2026-09",
        "team": "growth",
    }
    assert url_parameters("", DEFAULTS) == {}
    assert url_parameters("token=secret&team=a%20b", DEFAULTS) == {"team": "a b"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("colour=red", "this page has no URL parameter 'colour'; it takes: project_dir, period"),
        ("team=a&team=b", "the URL gives 'team' twice"),
        ("filters=x", "'filters' cannot be set from the URL"),
        ("team=" + "x" * 201, "longer than 200 characters"),
    ],
)
def test_a_bad_query_is_refused(query: str, message: str) -> None:
    with pytest.raises(UrlError, match=message.replace("(", r"\(")):
        url_parameters(query, {**DEFAULTS, "filters": {}})


@pytest.fixture
def voila(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment Voila gives its kernels (a base URL, and the page's query string)."""
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    monkeypatch.setenv("QUERY_STRING", "")  # so that what url_query sets is undone after
    monkeypatch.delenv("QUERY_STRING")
    return monkeypatch


@pytest.fixture(scope="module")
def project_dir(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("dashboard") / "project"
    shutil.copytree(sample_dir, folder, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    return str(folder)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("team=sales", "team 'sales' is unknown; teams are: billing, growth"),
        ("team=../../etc", "team '../../etc' is unknown"),
        ("period=2026-13", "2026-13"),
        ("period=2019-01", "is not one of the recent complete months"),
        ("team=<script>alert(1)</script>", "team '<script>alert(1)</script>' is unknown"),
    ],
)
def test_a_page_with_a_bad_url_explains_itself(
    project_dir: str, query: str, message: str, voila: pytest.MonkeyPatch
) -> None:
    voila.setenv("QUERY_STRING", query)
    shown = page("checkins", project_dir, period="latest", team="")
    assert shown.problem and shown.panels == []
    markup = shown.widget.value
    assert "This page cannot be shown" in markup and message in html.unescape(markup)
    assert "<script>" not in markup and "Traceback" not in markup


def test_a_page_follows_its_url(project_dir: str, voila: pytest.MonkeyPatch) -> None:
    voila.setenv("QUERY_STRING", "period=2026-09&team=growth")
    shown = page("checkins", project_dir, period="latest", team="")
    assert shown.problem == ""
    navigator = shown.panels[0]
    assert (navigator.period, navigator.team) == ("2026-09", "growth")
    assert shown.parameters == {"period": "2026-09", "team": "growth"}


def test_a_missing_project_is_a_message(tmp_path: Path, voila: pytest.MonkeyPatch) -> None:
    shown = page("review", str(tmp_path), period="latest", team="")
    assert "reviewkit.yaml" in shown.problem


def test_outside_voila_a_bad_parameter_raises(project_dir: str, monkeypatch) -> None:
    monkeypatch.delenv("VOILA_BASE_URL", raising=False)
    monkeypatch.setenv("QUERY_STRING", "")  # so that what url_query sets is undone after
    monkeypatch.delenv("QUERY_STRING")
    with pytest.raises(ReviewkitError, match="team 'sales' is unknown"):
        page("links", project_dir, period="latest", team="sales")


def test_every_page_has_its_notebook() -> None:
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    for notebook, _title in dashboard.PAGES.values():
        assert (notebooks / notebook).is_file()
    with pytest.raises(ValueError, match="unknown page"):
        page("admin", ".")


def test_the_page_template_takes_its_links_from_pages() -> None:
    # `reviewkit serve` hands PAGES to the template; a page added there is in the bar, and the
    # template names none itself (test_serve checks the bar a browser shows).
    template = Path(__file__).resolve().parents[1] / "templates" / "voila" / "templates"
    text = (template / "reviewkit" / "index.html.j2").read_text(encoding="utf-8")
    assert 'page_config.get("reviewkitPages"' in text
    for notebook, title in dashboard.PAGES.values():
        assert notebook not in text and f">{title}<" not in text


def test_the_explorer_page_lists_the_catalogue(project_dir: str, voila: pytest.MonkeyPatch) -> None:
    shown = page(
        "explore",
        project_dir,
        metric="csat",
        grain="month",
        start="",
        end="",
        by="",
        filters={},
        period="latest",
        team="",
    )
    assert shown.problem == ""
    catalogue = shown.panels[-1].value
    assert "The metric catalogue" in catalogue and "csat" in catalogue


def notebook_defaults(notebook: str) -> dict[str, Any]:
    """The parameters of a page notebook as its ``parameters`` cell sets them."""
    found = papermill.inspect_notebook(str(REPO / "notebooks" / notebook))
    return {name: ast.literal_eval(p["default"]) for name, p in found.items()}


def test_the_explorer_page_opens_any_project(regional_dir: Path, voila: pytest.MonkeyPatch) -> None:
    """The notebook's defaults name nothing of the sample company: on another project the page
    shows its first metric; a URL's breakdown is checked against the metric's dimensions."""
    defaults = notebook_defaults("explore_kpis.ipynb")
    del defaults["project_dir"]
    shown = page("explore", str(regional_dir), **defaults)
    assert shown.problem == ""
    explorer = shown.panels[1]
    assert (explorer.metric_picker.value, explorer.by_picker.value) == ("signups", "")
    assert explorer.message == ""
    voila.setenv("QUERY_STRING", "metric=views&by=region")
    explorer = page("explore", str(regional_dir), **defaults).panels[1]
    assert (explorer.metric_picker.value, explorer.by_picker.value) == ("views", "region")
    assert explorer.message == ""
    voila.setenv("QUERY_STRING", "metric=views&by=team")
    shown = page("explore", str(regional_dir), **defaults)
    assert shown.problem == (
        "metric 'views' cannot be broken down by 'team'; its dimensions are: region"
    )
    voila.setenv("QUERY_STRING", "by=region")
    shown = page("explore", str(regional_dir), **defaults)
    assert shown.problem == (
        "metric 'signups' cannot be broken down by 'region': it has no dimensions"
    )


def test_the_explorer_page_takes_the_sample_metric_from_the_url(
    project_dir: str, voila: pytest.MonkeyPatch
) -> None:
    defaults = notebook_defaults("explore_kpis.ipynb")
    del defaults["project_dir"]
    voila.setenv("QUERY_STRING", "metric=csat&grain=week")
    shown = page("explore", project_dir, **defaults)
    assert shown.problem == ""
    explorer = shown.panels[1]
    assert (explorer.metric_picker.value, explorer.grain_picker.value) == ("csat", "week")
    assert explorer.message == ""


# -- a preheated kernel's wait for its request -----------------------------------------------


class Kernels:
    """The kernels running, as Voila's kernel manager lists them to the hand-over."""

    def __init__(self, *ids: str) -> None:
        self.ids = list(ids)

    def list_kernel_ids(self) -> list[str]:
        return list(self.ids)


#: the kernels the request server's kernel manager says are running
RUNNING = ("kernel-dropped", "kernel-twice", "kernel-late", "kernel-probed")


@pytest.fixture
def request_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, dict], None]]:
    """`reviewkit serve`'s request hand-over (access.RequestInfo) on a port of its own, on a
    Tornado loop in a thread, and a preheated kernel's environment pointing at it (with the key
    the server gives its kernels). Yields what Voila calls when a viewer's request takes a
    preheated kernel."""
    started = threading.Event()
    running: dict[str, Any] = {}
    monkeypatch.setenv(KERNEL_KEY_ENV, "k" * 64)

    def run() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        app = tornado.web.Application(
            [(r"/voila/query/(.+)", RequestInfo)], kernel_manager=Kernels(*RUNNING)
        )
        tornado.httpserver.HTTPServer(app).add_sockets(sockets)
        running["port"] = sockets[0].getsockname()[1]
        running["loop"] = tornado.ioloop.IOLoop.current()
        started.set()
        running["loop"].start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    monkeypatch.setenv("VOILA_APP_PORT", str(running["port"]))
    monkeypatch.setenv("VOILA_SERVER_URL", "/")

    def hand_over(kernel: str, request: dict) -> None:
        running["loop"].add_callback(
            RequestInfoSocketHandler.send_updates, {"kernel_id": kernel, "payload": request}
        )

    yield hand_over
    running["loop"].add_callback(running["loop"].stop)
    thread.join(10)


def kernel_socket(port: int, kernel: str, proof: str | None = None) -> Any:
    """A connection as kernel ``kernel`` makes it (its proof, unless another is given)."""
    given = kernel_proof(os.environ[KERNEL_KEY_ENV], kernel) if proof is None else proof
    return websockets.sync.client.connect(
        f"ws://127.0.0.1:{port}/voila/query/{kernel}",
        additional_headers={KERNEL_PROOF_HEADER: given},
    )


def test_a_request_goes_only_to_the_kernel_that_proves_it_is_its_own(
    request_server: Callable[[str, dict], None],
) -> None:
    """A kernel id is in its page: knowing it is not enough to be handed the page's request
    (who is signed in, the URL). Only the kernel's proof, made with the server's key, is."""
    port = int(os.environ["VOILA_APP_PORT"])
    request_server("kernel-probed", {"QUERY_STRING": "team=growth"})
    for proof in ("", kernel_proof("another key", "kernel-probed")):
        with pytest.raises(websockets.exceptions.InvalidStatus, match="HTTP 403"):
            kernel_socket(port, "kernel-probed", proof)
    with kernel_socket(port, "kernel-probed") as own:
        assert json.loads(own.recv(timeout=10)) == {"QUERY_STRING": "team=growth"}


def test_a_request_written_to_a_dropped_connection_is_kept_for_the_next_ask(
    request_server: Callable[[str, dict], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Voila keeps a request only when no connection of the kernel is registered: one written
    to a connection the kernel has given up on was lost, and the page never came."""
    monkeypatch.setenv("VOILA_KERNEL_ID", "kernel-dropped")
    port = int(os.environ["VOILA_APP_PORT"])
    with kernel_socket(port, "kernel-dropped") as given_up:
        time.sleep(0.2)  # registered
        request_server("kernel-dropped", {"QUERY_STRING": "team=growth"})
        assert json.loads(given_up.recv(timeout=10)) == {"QUERY_STRING": "team=growth"}
    assert dashboard._ask_for_request(5) == {"QUERY_STRING": "team=growth"}


def test_a_closing_connection_does_not_unregister_the_kernels_next_one(
    request_server: Callable[[str, dict], None],
) -> None:
    """Voila's closing connection removed whichever connection came last in its table: here
    the kernel's newer one, which then waited for ever."""
    port = int(os.environ["VOILA_APP_PORT"])
    with kernel_socket(port, "kernel-twice") as older:
        time.sleep(0.2)
        with kernel_socket(port, "kernel-twice") as newer:
            time.sleep(0.2)
            older.close()
            time.sleep(0.2)
            request_server("kernel-twice", {"QUERY_STRING": "team=billing"})
            assert json.loads(newer.recv(timeout=10)) == {"QUERY_STRING": "team=billing"}


def test_a_preheated_kernel_asks_until_its_request_comes(
    request_server: Callable[[str, dict], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOILA_PREHEAT", "True")
    monkeypatch.setenv("VOILA_KERNEL_ID", "kernel-late")
    monkeypatch.setenv("QUERY_STRING", "")  # so that what url_query sets is undone after
    monkeypatch.delenv("QUERY_STRING")
    monkeypatch.setattr(dashboard, "ASK_AGAIN", 0.5)
    threading.Timer(
        2.0, request_server, ("kernel-late", {"QUERY_STRING": "period=2026-10"})
    ).start()
    assert dashboard.url_query() == "period=2026-10"


# -- the review page's first paint ---------------------------------------------------------------


def paints(project_dir: str) -> list[Path]:
    return sorted((Path(project_dir) / dashboard.FIRST_PAINTS).glob("*.html"))


def test_only_the_review_page_under_voila_has_a_first_paint(
    project_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOILA_BASE_URL", raising=False)
    assert dashboard.first_paint("review", project_dir, period="latest", team="") is None
    monkeypatch.setenv("VOILA_BASE_URL", "/")
    monkeypatch.setenv("QUERY_STRING", "team=growth")
    assert dashboard.first_paint("checkins", project_dir, period="latest", team="") is None


def test_the_first_paint_is_kept_until_what_the_page_reads_changes(
    project_dir: str, voila: pytest.MonkeyPatch
) -> None:
    """Made once per page, period and team (the charts as SVG, user text escaped), then read back;
    a save in the store makes a new one, which replaces the old; the live page that follows
    uses the project the first paint opened."""
    voila.setenv("QUERY_STRING", "period=2026-10&team=growth")
    painted = dashboard.first_paint("review", project_dir, period="latest", team="")
    assert painted is not None
    data, metadata = painted._repr_mimebundle_()
    assert metadata == {"reviewkit": {"first_paint": True}}
    markup = data["text/html"]
    # the scorecard, growth MRR on its outputs and its change by plan
    assert markup.startswith('<div class="reviewkit-first-paint') and 'data-charts="3"' in markup
    assert markup.count("<svg") >= 2 and "Period 2026-10 · Team growth" in markup
    (kept,) = paints(project_dir)
    assert kept.read_text(encoding="utf-8") == markup

    def not_again(*_: object) -> None:
        raise AssertionError("the kept first paint is read, not made again")

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(dashboard.narrative, "review_page", not_again)
        assert dashboard.first_paint("review", project_dir, period="latest", team="") == painted
    opened = dashboard._opened[project_dir]
    assert page("review", project_dir, period="latest", team="").project is opened
    assert project_dir not in dashboard._opened

    opened.checkin(
        "growth-mrr", "2026-10", status="at risk", note="<b>Pricing</b> slipped", author="Ana"
    )
    again = dashboard.first_paint("review", project_dir, period="latest", team="")
    assert again is not None and again != painted
    assert "&lt;b&gt;Pricing&lt;/b&gt;" in again.markup and "<b>Pricing" not in again.markup
    (replaced,) = paints(project_dir)
    assert replaced != kept


def test_a_page_that_cannot_be_shown_has_no_first_paint(
    project_dir: str, voila: pytest.MonkeyPatch
) -> None:
    before = paints(project_dir)
    voila.setenv("QUERY_STRING", "team=sales")
    assert dashboard.first_paint("review", project_dir, period="latest", team="") is None
    assert paints(project_dir) == before
