"""The live review pages that ``reviewkit serve`` shows in Voila, one notebook each.

A page notebook has a ``parameters`` cell (as for papermill) and one cell that calls :func:`page`.
Under Voila the page URL's query string overrides those parameters
(``review.ipynb?period=2026-10&team=growth``); every value is checked, and a wrong one gets a
readable message on the page instead of a traceback. With Voila's preheated kernels, the
imports and the project are loaded before anyone asks for the page, and :func:`url_query` waits
for the request.

>>> page("review", "..", period="latest", team="")   # the last expression of the cell

The review page also has a first paint (:func:`first_paint`, the cell before): its summary,
scorecard and first outcome as static HTML with the charts as inline SVG, in the HTML Voila
streams, shown while the widgets load; our Voila template swaps in the live page once it has
drawn its charts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import html
import json
import os
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import ipywidgets as widgets  # type: ignore[import-untyped]
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

import reviewkit.present.render
from reviewkit.base import clock
from reviewkit.base.errors import ReviewkitError
from reviewkit.base.files import atomic_write
from reviewkit.base.kernels import KERNEL_KEY_ENV, KERNEL_PROOF_HEADER, kernel_proof
from reviewkit.inputs import review_inputs
from reviewkit.present import narrative
from reviewkit.present.widgets import (
    OUTCOMES_TEAM,
    CheckinForm,
    KpiExplorer,
    LinkEditor,
    ReviewDashboard,
    ReviewNavigator,
    Viewer,
    review_scope,
)
from reviewkit.project import Project, open_project

__all__ = ["PAGES", "FirstPaint", "Page", "first_paint", "page", "url_parameters", "url_query"]

#: The pages, in the order of the navigation bar: name -> (notebook, title).
PAGES: Final = {
    "review": ("review.ipynb", "Review"),
    "links": ("link_outputs.ipynb", "Link outputs"),
    "checkins": ("checkins.ipynb", "Check-ins"),
    "explore": ("explore_kpis.ipynb", "Explore KPIs"),
}
#: Query parameters that belong to the server, not to the page (Voila's login token).
SERVER_PARAMETERS: Final = frozenset({"token"})
#: Longest value accepted from a URL (a period or team name is far shorter).
MAX_VALUE: Final = 200
#: Where a page's kernel finds who the server signed in: Voila hands the kernel the request's
#: ``X-Reviewkit-Viewer`` header (set by the server, never the browser's) as this variable.
VIEWER_ENV: Final = "HTTP_X_REVIEWKIT_VIEWER"
#: Where the first paints of the review pages are kept, under the project: one file per page,
#: period and team, named for everything the page reads (so a save or a new export makes another).
FIRST_PAINTS: Final = Path(".reviewkit") / "first-paint"
#: Seconds a preheated kernel waits for its page's request on one connection before it asks
#: again (on a busy server the connection it waits on may be one the server has dropped).
ASK_AGAIN: Final = 10.0


class UrlError(ReviewkitError):
    """A page URL's query string that the page cannot use."""


def url_query() -> str:
    """The query string of the page this kernel serves ("" outside Voila). A preheated kernel
    runs the notebook before the request: this waits for it."""
    if preheated():
        # Voila's own wait (voila.utils.wait_for_request) gives up connecting after 5 s and
        # then goes on without the request, which a busy server (many pages starting at once)
        # makes happen: the page would be built with the default parameters before anyone asked
        # for it. Once connected, it waits for ever, on a connection the server may have lost
        # track of. Ask until the request comes; the server keeps it for the next ask
        # (reviewkit.serve.server's RequestInfo).
        while "QUERY_STRING" not in os.environ:
            request = _ask_for_request(ASK_AGAIN)
            if request is None:
                time.sleep(0.5)
            else:
                os.environ.update(request)
    return os.environ.get("QUERY_STRING", "")


def _ask_for_request(timeout: float) -> dict[str, str] | None:
    """The request Voila hands this preheated kernel (its environment variables: the query
    string, the URL...), or None if it did not come within ``timeout`` seconds."""
    base = os.environ.get("VOILA_WS_BASE_URL", os.environ.get("VOILA_SERVER_URL", "/"))
    kernel_id = os.environ.get("VOILA_KERNEL_ID", "")
    url = (
        f"{os.environ.get('VOILA_WS_PROTOCOL', 'ws')}://"
        f"{os.environ.get('VOILA_APP_IP', '127.0.0.1')}:{os.environ.get('VOILA_APP_PORT', '8866')}"
        f"{base}voila/query/{kernel_id}"
    )
    # `reviewkit serve` hands a page's request only to the kernel that proves it is that page's
    key = os.environ.get(KERNEL_KEY_ENV)
    proof = {KERNEL_PROOF_HEADER: kernel_proof(key, kernel_id)} if key else {}

    async def ask() -> str | bytes:
        async with connect(url, open_timeout=timeout, additional_headers=proof) as socket:
            return await asyncio.wait_for(socket.recv(), timeout)

    # The kernel's event loop runs in this thread: wait in one of our own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            message = pool.submit(asyncio.run, ask()).result()
        except (TimeoutError, OSError, WebSocketException):
            return None
    return {str(key): str(value) for key, value in json.loads(message).items()}


def url_parameters(query: str, defaults: Mapping[str, object]) -> dict[str, str]:
    """The page parameters that ``query`` sets: only names of ``defaults`` whose default is text,
    each at most once. Values are returned as given; the page checks what they mean."""
    given: dict[str, str] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name in SERVER_PARAMETERS:
            continue
        if name not in defaults:
            known = ", ".join(n for n, v in defaults.items() if isinstance(v, str))
            raise UrlError(f"this page has no URL parameter {name!r}; it takes: {known}")
        if not isinstance(defaults[name], str):
            raise UrlError(f"{name!r} cannot be set from the URL; use the page's controls")
        if name in given:
            raise UrlError(f"the URL gives {name!r} twice; give it once")
        if len(value) > MAX_VALUE:
            raise UrlError(f"the URL's {name!r} is longer than {MAX_VALUE} characters")
        given[name] = value
    return given


@dataclass
class Page:
    """A page as displayed: its widgets, or the problem that stopped it. ``parameters`` are the
    values it was built with (the notebook's, overridden by the URL's)."""

    name: str
    parameters: dict[str, Any]
    project: Project | None = None
    panels: list[Any] = field(default_factory=list)
    problem: str = ""
    #: who the server signed in, if anyone
    viewer: Viewer | None = None

    @property
    def widget(self) -> Any:
        """The page's root widget (CSS class ``reviewkit-page``, which our Voila template
        looks for)."""
        if self.problem:
            shown = widgets.HTML(_problem_html(self.name, self.problem))
        else:
            panels = [p.widget if hasattr(p, "widget") else p for p in self.panels]
            if self.viewer is not None:
                who = f"Signed in as {self.viewer.name} ({self.viewer.role})"
                panels.insert(
                    0, widgets.HTML(f'<p class="reviewkit-viewer">{html.escape(who)}</p>')
                )
            shown = widgets.VBox(panels)
        shown.add_class("reviewkit-page")
        return shown

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


@dataclass(frozen=True)
class FirstPaint:
    """A page's first paint: static HTML (charts as inline SVG) that our Voila template puts in
    the streamed page as is, marked by the output's ``reviewkit.first_paint`` metadata."""

    markup: str

    def _repr_mimebundle_(self, **_: Any) -> tuple[dict[str, str], dict[str, Any]]:
        return {"text/html": self.markup}, {"reviewkit": {"first_paint": True}}


#: the project :func:`first_paint` opened, for :func:`page` to use next (it is opened once)
_opened: dict[str, Project] = {}


def first_paint(name: str, project_dir: str, **parameters: Any) -> FirstPaint | None:
    """Under Voila, the first paint of page ``name`` (only the review page has one) for the URL's
    parameters: kept under :data:`FIRST_PAINTS` and made again when anything the page reads has
    changed (an export, the config, a save in the store, the day); made every time for a project
    with sources in a SQL engine. None elsewhere, and when the page cannot be shown:
    :func:`page` then says why."""
    if name != "review" or not in_voila():
        return None
    try:
        project = _opened[project_dir] = open_project(project_dir)
        given = {**parameters, **url_parameters(url_query(), parameters)}
        team = str(given["team"])
        _, month, _ = review_scope(project, str(given["period"]), team)
        scope = _digest({"page": name, "period": month, "team": team})[:12]
        reads = {"version": metadata.version("reviewkit"), "today": clock.today().isoformat()}
        inputs = review_inputs(project)
        kept = project.root / FIRST_PAINTS / f"{scope}-{_digest({**reads, **inputs})}"
        try:
            return FirstPaint(kept.with_suffix(".html").read_text(encoding="utf-8"))
        except FileNotFoundError:
            shown = narrative.review_page(project, month, team)
            painted = FirstPaint(_paint(shown, month, team))
    except ReviewkitError:
        return None
    if "warehouse" in inputs:
        return painted  # a warehouse's table may change unseen: never kept
    try:
        for older in kept.parent.glob(f"{scope}-*.html"):
            older.unlink(missing_ok=True)
        atomic_write({kept.with_suffix(".html"): painted.markup.encode()})
    except (OSError, ReviewkitError):
        pass  # a read-only project: made again next time
    return painted


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _paint(shown: narrative.ReviewPage, month: str, team: str) -> str:
    """The review page as static HTML: where the navigator will be, the period and team; the
    summary, scorecard and first outcome, the charts as SVG. ``data-charts`` says how many charts
    the live page draws of it before it replaces it."""
    summary, scorecard, detail = (f"<h2>{h}</h2>" for h in narrative.ReviewPage.HEADINGS)
    scope = f"Period {month} · Team {team or 'All teams'}"
    blocks: list[Any] = [
        f'<p class="reviewkit-first-paint-scope">{html.escape(scope)}</p>',
        summary,
        shown.summary,
        scorecard,
        *shown.scorecard,
    ]
    if shown.sections:
        first = shown.sections[0]
        blocks += [detail, first.heading_html(), *first.blocks]
    parts, charts = [], 0
    for block in blocks:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, narrative.Html):
            parts.append(block.markup)
        else:
            parts.append(
                f'<div class="reviewkit-chart">{reviewkit.present.render.to_svg(block)}</div>'
            )
            charts += 1
    return (
        f'<div class="reviewkit-first-paint jp-RenderedHTMLCommon" data-charts="{charts}">'
        + "\n".join(parts)
        + "</div>"
    )


def page(name: str, project_dir: str, **parameters: Any) -> Page:
    """Build page ``name`` of the project in ``project_dir``: the notebook's ``parameters``,
    overridden by the page URL's query string, checked by the page's widgets. A wrong value
    raises its :class:`ReviewkitError`, except under Voila, where the page shows the message
    instead (viewers never see a traceback)."""
    if name not in PAGES:
        raise ValueError(f"unknown page {name!r}; pages are {', '.join(PAGES)}")
    reviewkit.present.render.enable()  # charts drawn offline: the Vega bundle inlined once, no CDN
    built = Page(name, dict(parameters))
    try:
        built.project = _opened.pop(project_dir, None) or open_project(project_dir)
        query = url_query()
        built.parameters.update(url_parameters(query, parameters))
        built.viewer = signed_in()
        built.panels = _BUILDERS[name](built.project, viewer=built.viewer, **built.parameters)
    except ReviewkitError as exc:
        if not in_voila():
            raise  # in JupyterLab, papermill and tests the error is the answer
        built.problem = str(exc)
    return built


def signed_in() -> Viewer | None:
    """Who `reviewkit serve` signed in for this page (None: nobody, as behind a shared token or
    outside Voila). The server sets it in the request it hands the kernel, over whatever the
    browser sent (serve.VIEWER_HEADER); it comes after :func:`url_query` has the request."""
    given = os.environ.get(VIEWER_ENV, "")
    if not given:
        return None
    try:
        fields = json.loads(given)
        return Viewer(str(fields["name"]), fields.get("email") or None, str(fields["role"]))
    except (ValueError, KeyError, TypeError):
        raise ReviewkitError(
            "the server handed this page an identity it cannot read; reload the page"
        ) from None


def preheated() -> bool:
    """Whether this kernel is one of Voila's preheated ones, run before its page is asked for."""
    return os.environ.get("VOILA_PREHEAT") == "True"


def in_voila() -> bool:
    """Whether this kernel serves a Voila page (Voila sets this for its kernels, pooled or not)."""
    return "VOILA_BASE_URL" in os.environ


def _navigator(
    project: Project, period: str, team: str, team_label: str = "Team"
) -> ReviewNavigator:
    return ReviewNavigator(project, period=period or "latest", team=team, team_label=team_label)


def _review(project: Project, *, period: str, team: str, viewer: Viewer | None) -> list[Any]:
    navigator = _navigator(project, period, team)
    return [navigator, ReviewDashboard(project, navigator)]


def _links(project: Project, *, period: str, team: str, viewer: Viewer | None) -> list[Any]:
    navigator = _navigator(project, period, team, OUTCOMES_TEAM)  # it picks the outcomes
    return [navigator, LinkEditor(project, navigator, viewer=viewer)]


def _checkins(project: Project, *, period: str, team: str, viewer: Viewer | None) -> list[Any]:
    navigator = _navigator(project, period, team, OUTCOMES_TEAM)  # it picks the outcomes
    return [navigator, CheckinForm(project, navigator, viewer=viewer)]


def _explore(
    project: Project, *, period: str, team: str, viewer: Viewer | None, **parameters: Any
) -> list[Any]:
    navigator = _navigator(project, period, team)
    catalogue = narrative.table(project.catalogue(), caption="The metric catalogue")
    return [
        navigator,
        KpiExplorer(project, navigator, **parameters),
        widgets.HTML(catalogue.markup),
    ]


_BUILDERS: Final[dict[str, Callable[..., list[Any]]]] = {
    "review": _review,
    "links": _links,
    "checkins": _checkins,
    "explore": _explore,
}


def _problem_html(name: str, problem: str) -> str:
    """The message a viewer sees instead of a page: what is wrong, and the way back."""
    notebook = PAGES[name][0]
    return (
        '<div class="reviewkit-problem" role="alert">'
        f"<h2>This page cannot be shown</h2><p>{html.escape(problem)}</p>"
        f'<p><a href="{html.escape(notebook)}">Open the page with its default settings</a></p>'
        "</div>"
    )
