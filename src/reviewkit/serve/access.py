"""Who may reach what ``reviewkit serve`` mounts.

- Every handler (Voila's and ours: pages, kernels, static files, templates) answers only someone
  signed in, as the pages do (:func:`guarded`); the sign-in page alone is open. A page opened
  with its sign-in token in the URL (``?token=``) is sent on to the same URL without it, the
  sign-in cookie set: the token stays out of the address bar, the history and every link copied.
- A kernel belongs to the signed-in person whose page started it (:class:`KernelOwners`): its
  channels, model and shutdown refuse anyone else with 403.
- A preheated kernel is handed its page's request only when it proves it is that kernel
  (:class:`RequestInfo`, :func:`reviewkit.base.kernels.kernel_proof`), and the request never carries
  the sign-in token (a page with one never gets that far).
- Who is signed in (:func:`identity_class`): a person of `reviewkit users` by their token or
  cookie (a cookie ends with the token it was issued for), the trusted proxy's user header, or
  JupyterHub's user; when the store cannot be reached, a page that says so (HTTP 503).
"""

from __future__ import annotations

import dataclasses
import hmac
import html
import json
import os
import re
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any, Final

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web
from voila.handler import BaseVoilaHandler  # type: ignore[import-untyped]
from voila.request_info_handler import RequestInfoSocketHandler  # type: ignore[import-untyped]
from voila.static_file_handler import TemplateStaticFileHandler  # type: ignore[import-untyped]

from reviewkit.base.errors import ReviewkitError
from reviewkit.base.kernels import KERNEL_KEY_ENV, KERNEL_PROOF_HEADER, kernel_proof
from reviewkit.store.core import Store, StoreError

__all__ = ["KernelOwners", "RequestInfo", "guarded", "header_text", "identity_class"]

#: The request header in which the server tells a page's kernel who is signed in. It is always
#: set by the server, over anything the browser sent; Voila hands it to the kernel as
#: ``HTTP_X_REVIEWKIT_VIEWER`` (reviewkit.serve.dashboard.signed_in).
VIEWER_HEADER: Final = "X-Reviewkit-Viewer"
PROXY_USER: Final = "X-Forwarded-User"
PROXY_EMAIL: Final = "X-Forwarded-Email"
#: The URL parameter and header a sign-in token travels in (jupyter_server's).
TOKEN_PARAMETER: Final = "token"  # noqa: S105 (its name, not a token)
#: Seconds before the "store not reachable" page tries again.
RETRY_AFTER: Final = 15


# -- the store behind sign-in ---------------------------------------------------------------------


class StoreUnreachable(web.HTTPError):
    """Sign-in needs the store and it did not answer: a 503 with :func:`unreachable_page`."""

    def __init__(self, error: StoreError) -> None:
        super().__init__(503, "the store is not reachable: %s", str(error))


def unreachable_page() -> str:
    """What a viewer sees while the store cannot be reached (no detail: that is in the log)."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Store not reachable</title>"
        f"<meta http-equiv='refresh' content='{RETRY_AFTER}'></head>"
        "<body style='font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto'>"
        "<h1>The store is not reachable</h1>"
        "<p>The review pages keep their links, check-ins and the people who may sign in in a "
        "store that is not answering right now. Nothing was changed. This page tries again "
        f"every {RETRY_AFTER} seconds; if it goes on, tell whoever runs reviewkit (the "
        "server's log says what failed).</p></body></html>"
    )


def error_page(status_code: int, reason: str) -> str:
    """A plain page for an HTTP error (what was refused is in the server's log)."""
    title = html.escape(f"{status_code} {reason}")
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        "<body style='font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto'>"
        f"<h1>{title}</h1></body></html>"
    )


# -- the handlers ---------------------------------------------------------------------------------


class KernelOwners:
    """Which signed-in person started each viewer kernel (kernel id -> their user name).

    A kernel nobody claimed (one waiting in a pool, or one gone) belongs to nobody: every
    request for it is refused."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def claim(self, kernel_id: str, owner: str, manager: Any) -> None:
        """``owner``'s page got ``kernel_id``; the kernels that ended are forgotten."""
        running = set(manager.list_kernel_ids())
        for gone in [k for k in self._owners if k not in running]:
            del self._owners[gone]
        self._owners[kernel_id] = owner

    def check(self, handler: Any, kernel_id: str) -> None:
        """Refuse (403) a request for ``kernel_id`` by anyone but its owner."""
        user = handler.current_user
        owner = self._owners.get(kernel_id)
        if user is None or owner is None or owner != user.username:
            raise web.HTTPError(403, "kernel %s is not this person's", kernel_id)


class Claiming:
    """A page handler's view of the kernel manager: the kernel the page starts or takes from a
    pool is claimed for the person signed in. Everything else is the manager's."""

    def __init__(self, manager: Any, owners: KernelOwners, owner: str) -> None:
        self._manager, self._owners, self._owner = manager, owners, owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)

    async def get_rendered_notebook(self, *args: Any, **kwargs: Any) -> Any:
        task, rendered, kernel_id = await self._manager.get_rendered_notebook(*args, **kwargs)
        self._owners.claim(kernel_id, self._owner, self._manager)
        return task, rendered, kernel_id

    async def start_kernel(self, *args: Any, **kwargs: Any) -> str:
        kernel_id: str = await self._manager.start_kernel(*args, **kwargs)
        self._owners.claim(kernel_id, self._owner, self._manager)
        return kernel_id


def without_token(query: str) -> str:
    """A URL's ``query`` string without the sign-in token, its other parameters as they were."""
    kept = [
        (name, value)
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True)
        if name != TOKEN_PARAMETER
    ]
    return urllib.parse.urlencode(kept)


class RequestInfo(RequestInfoSocketHandler):  # type: ignore[misc]
    """Where a preheated kernel waits for its page's request, open only to that kernel and kept
    reliable on a busy server.

    Only a connection proving it is the kernel (:data:`KERNEL_PROOF_HEADER`, an HMAC of the
    kernel id under the key the server gave its kernels) is answered: a kernel id is in its
    page, and the request may name who is signed in. Voila (0.5.13) writes the request to the
    kernel's connection if one is registered and keeps it only when none is; a kernel that gave
    up connecting (5 s) and asks again may have left a connection the server registers late and
    that is already gone. The request written there was lost, and the page waited for ever (one
    of 8 pages opened at once, in CI). Here every request written is kept for the kernel's next
    ask until the kernel ends, and a closing connection unregisters itself only (Voila's removed
    whichever connection came last in its table). The kernel side asks again until it has it:
    dashboard.url_query."""

    def prepare(self) -> None:
        kernel_id = _kernel_id(self)
        key = os.environ.get(KERNEL_KEY_ENV, "")
        proof = self.request.headers.get(KERNEL_PROOF_HEADER, "")
        if not key or not hmac.compare_digest(
            proof.encode(), kernel_proof(key, kernel_id).encode()
        ):
            raise web.HTTPError(403, "not the kernel %s", kernel_id)

    def open(self, kernel_id: str) -> None:
        self.kernel_id = kernel_id
        super().open(kernel_id)

    def write_message(self, message: Any, binary: bool = False) -> Any:
        cache = RequestInfoSocketHandler._cache
        running = set(self.settings["kernel_manager"].list_kernel_ids())
        for gone in [k for k in cache if k not in running]:
            del cache[gone]
        cache[self.kernel_id] = message
        return super().write_message(message, binary)

    def on_close(self) -> None:
        waiters = RequestInfoSocketHandler._waiters
        if waiters.get(getattr(self, "kernel_id", None)) is self:
            del waiters[self.kernel_id]


class TemplateFiles(TemplateStaticFileHandler):  # type: ignore[misc]
    """Voila's template files (``<template>/static/<file>``); any other path is a 404 (Voila's
    own asserted its shape: a 500)."""

    def parse_url_path(self, path: str) -> str:
        parts = PurePosixPath(path).parts
        if len(parts) < 3 or parts[1] != "static" or ".." in parts:
            raise web.HTTPError(404)
        return str(super().parse_url_path(path))


def _kernel_id(handler: Any) -> str:
    """The kernel id in a kernel handler's URL (Voila's routes name it, or not)."""
    return str(handler.path_kwargs.get("kernel_id") or handler.path_args[0])


#: Handlers whose first URL argument is a kernel id; kernels are their owner's only.
_KERNEL_ROUTE: Final = re.compile(r"/api/kernels/|/voila/api/shutdown/|/voila/execution/")


def guarded(handlers: list[Any], owners: KernelOwners, signing_in: list[Any]) -> list[Any]:
    """Voila's ``handlers``, each answering only someone signed in (but the ``signing_in``
    handlers, the identity provider's own), a kernel's its owner only, the request info its
    kernel only."""
    replaced = {RequestInfoSocketHandler: RequestInfo, TemplateStaticFileHandler: TemplateFiles}
    kept = []
    for route, given, *rest in handlers:
        handler = replaced.get(given, given)
        if handler is not RequestInfo:
            kernels = owners if _KERNEL_ROUTE.search(route) else None
            handler = _signed_in(handler, kernels, open_to_all=given in signing_in)
        kept.append((route, handler, *rest))
    return kept


def _signed_in(handler: type, owners: KernelOwners | None, *, open_to_all: bool) -> type:
    """``handler`` answering only signed-in people (unless ``open_to_all``: signing in) and,
    with ``owners``, a kernel's owner; a store that cannot be reached is a page saying so."""
    # tornado's own handlers (static files, Voila's templates) learn who is signed in from
    # jupyter_server's, which refuse anyone not signed in only where a method is not marked
    # open (its static files are)
    bases = (handler,) if issubclass(handler, JupyterHandler) else (JupyterHandler, handler)

    class Guarded(*bases):  # type: ignore[misc]
        async def prepare(self, *args: Any, **kwargs: Any) -> None:
            await super().prepare(*args, **kwargs)
            if self._finished or open_to_all:
                return
            if self.current_user is None:
                raise web.HTTPError(403, "nobody signed in")
            if owners is not None:
                owners.check(self, _kernel_id(self))
            if (
                self.request.method == "GET"
                and isinstance(self, BaseVoilaHandler)  # a page, not an API call or a websocket
                and TOKEN_PARAMETER in self.request.query_arguments
            ):
                # Signed in, and the cookie this answer sets signs in from now on: the same
                # page without the token, which would stay in the address bar, the history and
                # every link copied from it (and Voila hands a page's URL to its kernel).
                query = without_token(self.request.query)
                self.redirect(self.request.path + (f"?{query}" if query else ""))

        def write_error(self, status_code: int, **kwargs: Any) -> None:
            error = kwargs.get("exc_info", (None, None, None))[1]
            if isinstance(error, StoreUnreachable):
                self.set_header("Retry-After", str(RETRY_AFTER))
                self.set_header("Content-Type", "text/html; charset=utf-8")
                self.finish(unreachable_page())
            elif isinstance(self, APIHandler | BaseVoilaHandler):
                super().write_error(status_code, **kwargs)  # JSON; Voila's own error pages
            else:  # jupyter_server's error page needs settings Voila does not have: it raised
                self.set_header("Content-Type", "text/html; charset=utf-8")
                self.finish(error_page(status_code, self._reason))

    Guarded.__name__ = Guarded.__qualname__ = handler.__name__
    return Guarded


# -- who is signed in -----------------------------------------------------------------------------


def header_text(value: str) -> str:
    """A header's text as the proxy meant it: UTF-8 (tornado hands over its bytes as Latin-1),
    or RFC 8187's ``UTF-8''percent-encoded`` form; any other bytes as they are."""
    if value.lower().startswith("utf-8''"):
        return urllib.parse.unquote(value[7:], encoding="utf-8", errors="strict")
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def identity_class(
    sign_in: str, store: Path | str, trusted_proxies: tuple[str, ...], default_role: str
) -> Any:
    """jupyter_server's identity provider for signing people in (every request: pages, kernels,
    their websockets, belongs to a person or is refused) as ``sign_in`` says: ``people`` and
    ``proxy`` here, ``hub`` through JupyterHub's own (:func:`_hub_identity_class`). Someone
    signed in who is not in `reviewkit users` has ``default_role``; a proxy's headers are
    believed from ``trusted_proxies`` only."""
    from jupyter_server.auth.identity import IdentityProvider, User  # noqa: PLC0415

    class Viewers:
        """Who is behind a signed-in request, for the page's kernel: a person in
        `reviewkit users` (by the name or email they signed in with) with their role, or else
        that name and ``default_role``."""

        _people: Store | None = None

        def lookup(self, how: str, *args: Any) -> Any:
            """The people store's answer to ``how(*args)`` (the store opened on first use); a
            store that cannot be reached gets the viewer a "not reachable" page, not an error."""
            try:
                if self._people is None:
                    self._people = Store(store, create=False)
                return getattr(self._people, how)(*args)
            except StoreError as exc:
                raise StoreUnreachable(exc) from None

        def viewer(self, handler: Any) -> str:
            """The signed-in person, as the header the kernel reads. The proxy's email header
            never names another person: it is shown only for someone not in `reviewkit users`
            whose email is nobody else's there."""
            name = handler.current_user.username
            person = self.lookup("person", name)
            if person is not None:
                return json.dumps({"name": person.name, "email": person.email, "role": person.role})
            email = None
            if sign_in == "proxy":  # only the trusted proxy's header says so
                given = header_text(handler.request.headers.get(PROXY_EMAIL, "").strip())
                if given and self.lookup("person", given) is None:
                    email = given
            return json.dumps({"name": name, "email": email, "role": default_role})

    if sign_in == "hub":
        return _hub_identity_class(Viewers)

    @dataclasses.dataclass
    class Session(User):
        """Who a sign-in cookie names, and the stamp of the token it was issued for."""

        session: str = ""

    def user(person_name: str) -> Any:
        return User(username=person_name, name=person_name, display_name=person_name)

    class ReviewIdentity(Viewers, IdentityProvider):
        @property
        def auth_enabled(self) -> bool:
            return True

        @property
        def login_available(self) -> bool:
            return sign_in == "people"

        async def get_user(self, handler: Any) -> Any:
            if sign_in != "proxy":
                return await super()._get_user(handler)
            if handler.request.remote_ip not in trusted_proxies:
                return None  # its headers could say anything
            name = header_text(handler.request.headers.get(PROXY_USER, "").strip())
            return user(name) if name else None

        async def get_user_token(self, handler: Any) -> Any:
            person = self.lookup("person_for_token", self.get_token(handler) or "")
            return None if person is None else user(person.name)

        def user_to_cookie(self, signed: Any) -> str:
            person = self.lookup("person", signed.username)
            stamp = "" if person is None else person.session
            return json.dumps({"username": signed.username, "session": stamp})

        def user_from_cookie(self, cookie_value: str) -> Any:
            given = json.loads(cookie_value)  # (jupyter_server takes any error for a bad cookie)
            return Session(str(given["username"]), session=str(given.get("session", "")))

        def get_user_cookie(self, handler: Any) -> Any:
            found = super().get_user_cookie(handler)
            if not isinstance(found, Session):
                return None
            person = self.lookup("person", found.username)  # the store's answer, or a 503
            if person is None or not hmac.compare_digest(
                found.session.encode(), person.session.encode()
            ):
                return None  # removed, or given a new token since: sign in again
            return user(person.name)

        def process_login_form(self, handler: Any) -> Any:
            person = self.lookup("person_for_token", handler.get_argument("password", default=""))
            return None if person is None else user(person.name)

    return ReviewIdentity


def _hub_identity_class(viewers: type) -> Any:
    """JupyterHub's identity provider for jupyter_server (OAuth with the Hub, access checked
    against the service's scopes), with its OAuth callback where the Hub sends people back:
    the service's prefix, which Voila does not add to identity providers' handlers."""
    try:
        from jupyterhub.singleuser.extension import (  # type: ignore[import-untyped]  # noqa: PLC0415
            JupyterHubIdentityProvider,
            JupyterHubOAuthCallbackHandler,
        )
    except ImportError:
        raise ReviewkitError(
            "--sign-in hub needs the jupyterhub package beside reviewkit: pip install jupyterhub"
        ) from None

    class HubIdentity(viewers, JupyterHubIdentityProvider):  # type: ignore[misc]
        def __init__(self, token: str = "", **kwargs: Any) -> None:
            # Voila hands every identity provider its --token; the Hub's has its own.
            super().__init__(**kwargs)

        def get_handlers(self) -> list[Any]:
            path = urllib.parse.urlsplit(self.hub_auth.oauth_redirect_uri).path
            return [(path, JupyterHubOAuthCallbackHandler, {"hub_auth": self.hub_auth})]

    return HubIdentity
