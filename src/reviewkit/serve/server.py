"""``reviewkit serve``: the project's review pages as live dashboards, served by Voila.

What it sets up around Voila:

- the page notebooks (:data:`reviewkit.serve.dashboard.PAGES`) are copied into
  ``<project>/.reviewkit/serve/server/`` with the project's path injected into their parameters (as
  papermill does), so Voila serves only those pages and nothing else of the project;
- our template (``templates/voila/templates/reviewkit/``): navigation between the pages, the
  project's name, no CDN;
- preheated kernels (a pool per page) so a page shows its first chart fast, each handed its
  viewer's request reliably however busy the server (:class:`RequestInfo`), idle kernels culled so
  memory stays bounded, and at most ``max_kernels`` viewer kernels: past that a viewer is told
  politely to come back, with HTTP 503;
- loopback by default; any other address needs a token. Tracebacks are never shown to viewers,
  and Voila lets the browser send only widget messages to a kernel (no ``execute_request``);
- Ctrl-C (SIGINT) and SIGTERM stop the server quietly: its loop ends, then its kernels are
  shut down, those still starting too (:class:`PageKernels`), none interrupted first
  (:class:`PageKernelManager`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import os
import secrets
import shutil
import signal
import socket
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import nbformat
from jupyter_server.services.kernels.kernelmanager import (
    AsyncMappingKernelManager,
    ServerKernelManager,
)
from nbformat.sign import NotebookNotary
from papermill.iorw import load_notebook_node
from papermill.parameterize import parameterize_notebook
from tornado.ioloop import IOLoop
from traitlets.config import Config

from reviewkit.base.errors import ReviewkitError, shown_path
from reviewkit.base.files import replacing
from reviewkit.base.kernels import KERNEL_KEY_ENV, OwnPorts, kernel_config
from reviewkit.base.resources import notebooks_dir, templates_dir
from reviewkit.config import CONFIG_FILE, is_loopback, load_config
from reviewkit.serve.access import (
    VIEWER_HEADER,
    Claiming,
    KernelOwners,
    guarded,
    identity_class,
)
from reviewkit.serve.dashboard import FIRST_PAINTS, PAGES
from reviewkit.store.core import MUST_EXIST_ENV, Store

__all__ = [
    "PageKernelManager",
    "PageKernels",
    "ServeOptions",
    "check_address",
    "prepare_pages",
    "serve",
]

TEMPLATE: Final = "reviewkit"
#: Seconds Voila waits, once a kernel has replied that a cell is done, for the outputs of that
#: cell it has not handled yet (nbclient's ``iopub_timeout``). The default, 4 s, then drops them
#: without an error: a busy server lags that far behind its kernels, and 13 of 24 pages loaded
#: at once on 2 busy cores came out empty. Pages that finish in time are not slowed by this.
IOPUB_TIMEOUT: Final = 60
#: Where the pages are written, under the project.
PAGES_DIR: Final = Path(".reviewkit") / "serve"


#: How viewers sign in: ``token``, one shared token (or none, on loopback) and saves recorded
#: under the server's user; ``people``, a token per person (`reviewkit users add`); ``proxy``, an
#: authenticating reverse proxy's ``X-Forwarded-User``/``X-Forwarded-Email``, believed only from
#: ``trusted_proxies``; ``hub``, JupyterHub's users, the server running as a Hub service.
SIGN_IN: Final = ("token", "people", "proxy", "hub")


@dataclass(frozen=True)
class ServeOptions:
    """How to serve: address, token (None: no token; only on loopback), kernel pool per page,
    seconds before an idle kernel is culled, the most viewer kernels at once, and how viewers
    sign in."""

    project: Path
    host: str = "127.0.0.1"
    port: int = 8866
    token: str | None = None
    pool_size: int = 1
    cull_after: int = 300
    max_kernels: int = 16
    #: how viewers sign in (:data:`SIGN_IN`)
    sign_in: str = "token"
    #: ``proxy``: the addresses of the authenticating proxies whose headers are believed
    trusted_proxies: tuple[str, ...] = ()
    #: ``proxy`` and ``hub``: the role of someone signed in who is not in `reviewkit users`
    default_role: str = "viewer"
    #: where the pages are, under the server's root (``hub``: the service's prefix)
    base_url: str = "/"


#: What JupyterHub sets for a service it starts (and jupyterhub.services.auth reads).
HUB_ENV: Final = (
    "JUPYTERHUB_SERVICE_URL",
    "JUPYTERHUB_SERVICE_PREFIX",
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_API_TOKEN",
    "JUPYTERHUB_CLIENT_ID",
    "JUPYTERHUB_OAUTH_CALLBACK_URL",
)


def as_hub_service(options: ServeOptions, environ: Mapping[str, str]) -> ServeOptions:
    """``options`` listening where the Hub that started this service sends its requests, under
    the service's prefix."""
    missing = [name for name in HUB_ENV if not environ.get(name)]
    if missing:
        raise ReviewkitError(
            "--sign-in hub runs as a JupyterHub service, started by the Hub, which sets "
            f"{', '.join(missing)}: add reviewkit serve to the Hub's services (see "
            "docs/jupyterhub_config.py) rather than starting it yourself"
        )
    url = urllib.parse.urlsplit(environ["JUPYTERHUB_SERVICE_URL"])
    if url.scheme != "http" or not url.hostname or not url.port:
        raise ReviewkitError(
            f"JUPYTERHUB_SERVICE_URL={environ['JUPYTERHUB_SERVICE_URL']!r}: expected "
            "http://HOST:PORT (the service's `url` in jupyterhub_config.py)"
        )
    prefix = "/" + environ["JUPYTERHUB_SERVICE_PREFIX"].strip("/") + "/"
    return dataclasses.replace(options, host=url.hostname, port=url.port, base_url=prefix)


def check_address(host: str, token: str | None, sign_in: str = "token") -> None:
    """Refuse to serve beyond this machine without a way to sign in: the pages can write to the
    store."""
    if not is_loopback(host) and not token and sign_in == "token":
        raise ReviewkitError(
            f"refusing to serve on {host} without a token: anyone who can reach it could edit "
            "the review. Pass --token SECRET, sign people in (--sign-in people or proxy), or "
            "use --host 127.0.0.1"
        )


def prepare_pages(project: Path) -> Path:
    """Write the page notebooks, with ``project_dir`` set to the project's absolute path, into
    ``<project>/.reviewkit/serve/server/`` (replacing what a previous run wrote), signed as trusted
    with the notary of that folder (see :func:`notary`), and forget the first paints of the
    pages (this reviewkit may draw them differently). Returns that folder."""
    root = project.resolve()
    if not (root / CONFIG_FILE).is_file():
        raise ReviewkitError(
            f"{shown_path(root / CONFIG_FILE)} does not exist; pass --project with the folder "
            "that has reviewkit.yaml (or create one with `reviewkit init`)"
        )
    shutil.rmtree(root / FIRST_PAINTS, ignore_errors=True)
    target = root / PAGES_DIR
    target.mkdir(parents=True, exist_ok=True)
    wanted = {notebook for notebook, _ in PAGES.values()}
    signer = NotebookNotary(config=notary(target))  # type: ignore[no-untyped-call]
    for stale in target.glob("*.ipynb"):
        if stale.name not in wanted:
            stale.unlink()
    for notebook in sorted(wanted):
        source = load_notebook_node(str(notebooks_dir() / notebook))
        page = parameterize_notebook(source, {"project_dir": str(root)}, report_mode=False)
        page.metadata.pop("papermill", None)
        signer.sign(page)  # type: ignore[no-untyped-call]
        with replacing(target / notebook) as tmp:
            nbformat.write(page, tmp)  # type: ignore[no-untyped-call]
    return target


def notary(pages: Path) -> Config:
    """Jupyter config keeping the notebook signing key and signatures with the pages: the pages
    are ours, so they are signed as trusted when written (Jupyter otherwise logs "Notebook ... is
    not trusted" on every view), and nothing is written to the user's Jupyter folders."""
    return Config({"NotebookNotary": {"data_dir": str(pages)}})


class PageKernelManager(OwnPorts, ServerKernelManager):
    """A page's kernel, on ports the OS hands no other process (:class:`OwnPorts`), shut down
    without being interrupted first. jupyter_client sends every kernel SIGINT before it shuts it
    down; a kernel still starting (a pool's, refilled after a page was opened, or all of them
    just after the server started) died of it with a KeyboardInterrupt traceback, often inside
    zmq, in the server's log at every stop. A kernel culled is asked to shut down (SIGTERM if it
    does not in time: it ends quietly); at the stop, each is ended at once
    (:class:`PageKernels`)."""

    async def _async_interrupt_kernel(self) -> None:
        if not self.shutting_down:
            await super()._async_interrupt_kernel()


class PageKernels(AsyncMappingKernelManager):
    """The server's kernels, every one ended when it stops, at once and quietly.

    jupyter_client's shutdown_all also names the kernels still starting (a pool's, refilled
    after a page was opened, or all of them just after the server started), which
    jupyter_server's shutdown_kernel refuses with a 404, ending the stop with a traceback: they
    are waited for. And a kernel asked to shut down while it was rendering a page closed its
    sockets under the cell, which then failed to answer (a ZMQError traceback in the server's
    log): by default each is ended at once instead (``now``), which costs nothing, as a page's
    kernel holds nothing unsaved (the store commits each save, or rolls it back)."""

    async def shutdown_all(self, now: bool = True) -> None:  # type: ignore[override]  # async
        while starting := [task for task in self._pending_kernels.values() if not task.done()]:
            await asyncio.wait(starting)
        ending = [
            self.shutdown_kernel(kernel, now=now)  # type: ignore[no-untyped-call]
            for kernel in self.list_kernel_ids()
        ]
        await asyncio.gather(*ending)


def _in_use(kernel_manager: Any) -> int:
    """Kernels that viewers hold: all kernels but the preheated ones waiting in the pools (Voila
    keeps those in a private ``_pools`` mapping of notebook -> pending starts)."""
    pooled = sum(len(pool) for pool in getattr(kernel_manager, "_pools", {}).values())
    return max(0, len(kernel_manager.list_kernel_ids()) - pooled)


def _failed(start: asyncio.Task[Any]) -> bool:
    """Whether a pool's kernel failed to preheat: it did not start, or its page's run did (a
    kernel that died before it was up)."""
    if not start.done():
        return False
    if start.cancelled() or start.exception() is not None:
        return True
    render: asyncio.Task[Any] = start.result()["task"]
    return render.done() and (render.cancelled() or render.exception() is not None)


async def drop_failed_preheats(kernel_manager: Any) -> list[str]:
    """Take the kernels that failed to preheat out of Voila's pools (its private ``_pools``,
    notebook -> starts), shut them down and start others in their place; the notebooks whose
    pool lost one. Voila hands a page whatever its pool holds first: the page of a dead
    kernel showed no widget, and an "Uncaught exception" in the log."""
    dropped = []
    for notebook, pool in list(getattr(kernel_manager, "_pools", {}).items()):
        for start in [start for start in pool if _failed(start)]:
            pool.remove(start)
            dropped.append(notebook)
            kernel_id = (
                None if start.cancelled() or start.exception() else start.result()["kernel_id"]
            )
            if kernel_id is not None and kernel_id in kernel_manager:
                await kernel_manager.shutdown_kernel(kernel_id, now=True)
        if notebook in dropped:
            kernel_manager.fill_if_needed(delay=0, notebook_name=notebook)
    return dropped


def _full_page(limit: int) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Busy</title>"
        "<meta http-equiv='refresh' content='30'></head>"
        "<body style='font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto'>"
        "<h1>The review server is busy</h1>"
        f"<p>{html.escape(str(limit))} people are viewing review pages right now, which is as "
        "many as this server allows at once. This page tries again every 30 seconds; idle "
        "pages are closed after a few minutes.</p></body></html>"
    )


def _server_class(options: ServeOptions) -> Any:
    """Voila's app with the render handler refusing new viewers past ``max_kernels`` and our
    :class:`RequestInfo` handing preheated kernels their requests."""
    from jupyter_server.log import log_request  # noqa: PLC0415
    from voila.app import Voila  # type: ignore[import-untyped]  # noqa: PLC0415
    from voila.tornado.handler import TornadoVoilaHandler  # type: ignore[import-untyped]  # noqa: PLC0415

    owners = KernelOwners()

    class LimitedHandler(TornadoVoilaHandler):  # type: ignore[misc]
        async def prepare(self) -> None:
            # Nobody signed in: the sign-in page for people, a plain 403 behind a proxy (which
            # signs people in itself). Either way get() below only runs for someone signed in.
            await super().prepare(_redirect_to_login=options.sign_in != "proxy")

        @property
        def kernel_manager(self) -> Any:
            # the kernel this page starts or takes from a pool is the signed-in person's
            manager = self.settings["kernel_manager"]
            return Claiming(manager, owners, self.current_user.username)

        async def get(self, path: str | None = None) -> None:
            # who is signed in, for the page's kernel: ours alone, never the browser's (nor
            # how they signed in: a page with a token was sent on without it, guarded())
            self.request.headers.pop(VIEWER_HEADER, None)
            if options.sign_in != "token":
                identity = self.settings["identity_provider"]
                self.request.headers[VIEWER_HEADER] = identity.viewer(self)
            for notebook in await drop_failed_preheats(self.settings["kernel_manager"]):
                self.log.warning("A preheated kernel of %s failed; another replaces it", notebook)
            if _in_use(self.kernel_manager) >= options.max_kernels:
                self.set_status(503)
                self.set_header("Retry-After", "30")
                self.finish(_full_page(options.max_kernels))
                return
            await super().get(path)

    class ReviewServer(Voila):  # type: ignore[misc]
        def initialize(self, argv: Any = None) -> None:
            super().initialize(argv)
            # Ctrl-C stops the server as SIGTERM does; Python's KeyboardInterrupt broke off
            # whatever the server was doing (rendering a page, relaying a kernel's messages)
            # with a traceback.
            signal.signal(signal.SIGINT, self._handle_signal_stop)

        def _handle_signal_stop(self, signum: int, frame: Any) -> None:
            # Voila's, without its deprecated add_callback_from_signal, and working before the
            # loop runs too (Voila's reads self.ioloop, set only then): the loop ends at once,
            # then Voila shuts the kernels down.
            self.log.info("Stopping (%s)...", signal.Signals(signum).name)
            loop = IOLoop.current()
            loop.asyncio_loop.call_soon_threadsafe(loop.stop)  # type: ignore[attr-defined]

        def init_settings(self) -> dict[str, Any]:
            settings: dict[str, Any] = super().init_settings()
            # Voila answers requests for any Host name. Without a token, a site a viewer visits
            # could then rebind its own name to 127.0.0.1 (DNS rebinding), read the pages and
            # drive the widgets as a same-origin page: on loopback without a token, answer only
            # requests addressed to a loopback address or localhost (403 otherwise).
            # Signed-in people (behind a proxy or a Hub, whose Host names are theirs) are asked
            # who they are whatever the Host.
            settings["allow_remote_access"] = (
                bool(options.token) or options.sign_in != "token" or not is_loopback(options.host)
            )
            # jupyter_server's access log, which leaves tokens out of the URLs it logs
            settings["log_function"] = log_request
            return settings

        def init_handlers(self) -> list[Any]:
            handlers = super().init_handlers()
            pages = [
                (h[0], LimitedHandler if h[1] is TornadoVoilaHandler else h[1], *h[2:])
                for h in handlers
            ]
            signing_in = [h[1] for h in self.identity_provider.get_handlers()]
            return guarded(pages, owners, signing_in)

    return ReviewServer


def voila_arguments(options: ServeOptions, pages: Path) -> list[str]:
    """Voila's command line for ``options`` (traitlets flags), serving the folder ``pages``."""
    return [
        str(pages),
        "--no-browser",
        f"--Voila.ip={options.host}",
        f"--Voila.port={options.port}",
        f"--Voila.base_url={options.base_url}",
        "--Voila.port_retries=0",
        f"--Voila.token={options.token or ''}",
        f"--VoilaConfiguration.template={TEMPLATE}",
        "--VoilaConfiguration.show_tracebacks=False",
        f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT}",
        f"--VoilaConfiguration.http_header_envs={VIEWER_HEADER}",
        f"--VoilaConfiguration.preheat_kernel={options.pool_size > 0}",
        f"--VoilaConfiguration.default_pool_size={max(options.pool_size, 0)}",
        f"--MappingKernelManager.cull_idle_timeout={options.cull_after}",
        f"--MappingKernelManager.cull_interval={max(1, min(60, options.cull_after // 2))}",
        "--MappingKernelManager.cull_connected=False",
        f"--MappingKernelManager.kernel_manager_class={__name__}.PageKernelManager",
        f"--VoilaConfiguration.multi_kernel_manager_class={__name__}.PageKernels",
    ]


def page_url(options: ServeOptions, page: str = "review", **query: str) -> str:
    """The URL of a page (``review``, ``links``...) with its query parameters and the token."""
    host = options.host if is_loopback(options.host) else socket.gethostname()
    wanted = {k: v for k, v in query.items() if v}
    if options.token:
        wanted["token"] = options.token
    suffix = f"?{urllib.parse.urlencode(wanted)}" if wanted else ""
    return f"http://{host}:{options.port}{options.base_url}voila/render/{PAGES[page][0]}{suffix}"


def check_port(host: str, port: int) -> None:
    """Refuse a port something already listens on (Voila would only log it and stop)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ReviewkitError(
                f"cannot listen on {host}:{port}: {exc.strerror} (another `reviewkit serve`?); "
                "pass another --port"
            ) from None


def serve(options: ServeOptions) -> None:
    """Serve the project's pages until interrupted."""
    if options.sign_in == "hub":
        options = as_hub_service(options, os.environ)
    check_address(options.host, options.token, options.sign_in)
    check_port(options.host, options.port)
    config = load_config(options.project)  # a broken config is reported here, not per page
    # The store is created here when the project has none yet; from then on a missing store
    # file means it was deleted or moved away while served, and the pages' kernels (which
    # inherit this environment) say so instead of starting an empty store in its place.
    Store(config.store_location, create=True).close()
    os.environ[MUST_EXIST_ENV] = "1"
    # the kernels (which inherit this environment) prove with it that they are ours
    os.environ[KERNEL_KEY_ENV] = secrets.token_hex(32)
    pages = prepare_pages(options.project)
    # Voila finds templates in Jupyter's data path; ours are in reviewkit's templates folder.
    extra = str(templates_dir())
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (extra, os.environ.get("JUPYTER_PATH", "")) if p
    )
    server = _server_class(options)

    # The template's bar names the project and links the pages: PAGES is their one definition.
    links = [{"href": notebook, "title": title} for notebook, title in PAGES.values()]

    def page_config(current: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {**current, "reviewkitProject": config.name, "reviewkitPages": links}

    hooks = Config({"VoilaConfiguration": {"page_config_hook": page_config}})
    hooks.merge(notary(pages))
    hooks.merge(kernel_config())
    if options.sign_in != "token":
        identity = identity_class(
            options.sign_in, config.store_location, options.trusted_proxies, options.default_role
        )
        hooks.merge(Config({"Voila": {"identity_provider_class": identity}}))
    # The token is the operator's to hand out: keep it out of logs (as Voila does).
    shown = page_url(dataclasses.replace(options, token="..." if options.token else None))
    print(f"serving {config.name!r} at {shown}", flush=True)
    server.launch_instance(argv=voila_arguments(options, pages), config=hooks)
