"""Who may reach what `reviewkit serve` mounts, probed as an attacker would on loopback: a real
server (people sign-in, preheated kernels), HTTP and websocket requests with and without
another person's cookie or token (SECURITY.md, "Signing people in" and "Kernels")."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.cookiejar
import json
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from reviewkit import open_project
from reviewkit.base.kernels import KERNEL_KEY_ENV, KERNEL_PROOF_HEADER, kernel_proof
from reviewkit.serve.access import header_text, without_token
from reviewkit.store.core import store_as_of
from tests.conftest import close_websocket, warm_copy
from tests.support.postgres import PostgresServer
from tests.test_serve import Server


class Browser:
    """One person's HTTP client: a cookie jar of its own, no redirects followed."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.cookies = http.cookiejar.CookieJar()

        class Stay(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any) -> None:
                return None

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), Stay
        )

    def request(
        self, path: str, method: str = "GET", headers: dict[str, Any] | None = None
    ) -> tuple[int, str, Any]:
        request = urllib.request.Request(
            self.server.base + path, method=method, headers=headers or {}
        )
        try:
            with self.opener.open(request, timeout=180) as response:
                return response.status, response.read().decode("utf-8"), response.headers
        except urllib.error.HTTPError as error:
            with error:
                return error.code, error.read().decode("utf-8", "replace"), error.headers

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.cookies)

    def sign_in(self, path: str, token: str) -> tuple[int, str, Any]:
        """Open ``path`` with ``token`` added to its query, as a link handed out would: the
        server signs in and sends the browser on to ``path`` itself, which it then opens."""
        status, body, headers = self.request(f"{path}{'&' if '?' in path else '?'}token={token}")
        assert (status, headers["Location"]) == (302, path), (status, body[:2000])
        return self.request(path)


def websocket(server: Server, path: str, headers: dict[str, str]) -> tuple[int, str | None]:
    """101 and the first message (or None) when the websocket at ``path`` opens with these
    headers; else the HTTP status and None."""

    async def attempt() -> tuple[int, str | None]:
        url = f"ws://127.0.0.1:{server.port}{path}"
        try:
            connection = await websocket_connect(HTTPRequest(url, headers=headers))
        except HTTPClientError as error:
            return error.code, None
        try:
            message = await asyncio.wait_for(connection.read_message(), timeout=3)
        except TimeoutError:
            message = None
        await close_websocket(connection)
        return 101, message

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, attempt()).result()


def kernel_of(body: str) -> str:
    found = re.search(r'"kernelId": "([0-9a-f-]+)"', body)
    assert found, body[:2000]
    return found[1]


def kernel_environments(server: Server) -> list[dict[str, str]]:
    """The environment each kernel of ``server`` was started with (/proc, as its OS user)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            parent = re.search(r"^PPid:\s+(\d+)", status.read_text(), re.M)
            if parent and int(parent[1]) == server.process.pid:
                raw = (status.parent / "environ").read_bytes()
                found.append(dict(v.split("=", 1) for v in raw.decode().split("\0") if "=" in v))
        except OSError:
            continue  # ended meanwhile
    return found


@pytest.fixture(scope="module")
def people(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A people sign-in server with preheated kernels, and the tokens of its people."""
    scratch = tmp_path_factory.mktemp("access")
    project = warm_copy(sample_dir, scratch / "project")
    with open_project(project) as opened:
        tokens = {
            "priya": opened.store.add_person("Priya Raman", email="priya@example.com"),
            "vera": opened.store.add_person("Vera Viewer", role="viewer"),
        }
    server = Server(project, scratch, "--sign-in", "people", "--max-kernels", "12")
    try:
        server.wait_for(r"Voil. is running at")
        server.wait_for(r"Kernel pool of checkins.ipynb is filled")
        yield server, tokens
    finally:
        server.stop()


def test_a_kernels_request_info_is_its_own_and_never_holds_a_token(people: Any) -> None:
    """Voila hands a preheated kernel its page's request on /voila/query/<kernel id>: that
    answered anyone who knew the id (it is in the page), with the opener's token in the query
    string. Only the kernel itself (proving it with the server's key) is answered now, and what
    it gets, like every kernel's environment, holds no token."""
    server, tokens = people
    priya = Browser(server)
    status, body, _ = priya.sign_in("/voila/render/checkins.ipynb?team=billing", tokens["priya"])
    assert status == 200, body[:2000]
    kernel = kernel_of(body)
    query = f"/voila/query/{kernel}"
    assert websocket(server, query, {})[0] == 403  # nobody signed in
    assert websocket(server, query, {"Cookie": priya.cookie_header()})[0] == 403  # nor its owner
    assert websocket(server, query, {KERNEL_PROOF_HEADER: "0" * 64})[0] == 403
    # the kernel's own ask (its key is in its environment): answered, without the token
    environments = kernel_environments(server)
    assert environments
    key = environments[0][KERNEL_KEY_ENV]
    status, message = websocket(server, query, {KERNEL_PROOF_HEADER: kernel_proof(key, kernel)})
    assert status == 101 and message is not None
    request = json.loads(message)
    assert request["QUERY_STRING"] == "team=billing"
    for environment in environments:  # the next preheated kernel was given the URL too
        assert not [v for v in environment.values() if tokens["priya"] in v]
    assert tokens["priya"] not in server.text()  # nor the log


def test_a_kernel_is_only_its_openers(people: Any) -> None:
    """A viewer with her own valid sign-in could use and end a contributor's kernel: its
    channels (and save as him), its model, its shutdown. Each is refused to anyone but the
    person whose page started it."""
    server, tokens = people
    priya, vera = Browser(server), Browser(server)
    status, body, _ = priya.sign_in("/voila/render/review.ipynb", tokens["priya"])
    assert status == 200, body[:2000]
    kernel = kernel_of(body)
    assert vera.sign_in("/voila/render/review.ipynb", tokens["vera"])[0] == 200
    as_vera = {"Authorization": f"token {tokens['vera']}"}
    as_priya = {"Authorization": f"token {tokens['priya']}"}
    channels = f"/api/kernels/{kernel}/channels"
    assert websocket(server, channels, {"Cookie": vera.cookie_header()})[0] == 403
    assert websocket(server, channels, as_vera)[0] == 403
    assert vera.request(f"/api/kernels/{kernel}", headers=as_vera)[0] == 403
    assert vera.request(f"/api/kernels/{kernel}", "DELETE", as_vera)[0] == 403
    assert vera.request(f"/voila/api/shutdown/{kernel}", "POST", as_vera)[0] == 403
    for action in ("interrupt", "restart"):  # not mounted at all
        assert vera.request(f"/api/kernels/{kernel}/{action}", "POST", as_vera)[0] == 404
    assert vera.request("/api/kernels", headers=as_vera)[0] == 404  # no list of kernels
    # its owner still can
    assert websocket(server, channels, {"Cookie": priya.cookie_header()})[0] == 101
    status, model, _ = priya.request(f"/api/kernels/{kernel}", headers=as_priya)
    assert status == 200 and json.loads(model)["id"] == kernel
    assert priya.request(f"/voila/api/shutdown/{kernel}", "POST", as_priya)[0] == 204
    assert "Traceback" not in server.text()  # each refusal is a page, not an error of its own


def test_every_handler_needs_sign_in_and_odd_paths_are_404(people: Any) -> None:
    """Voila's static files, templates and file handlers are behind sign-in like the pages;
    a template path that is not one (it once tripped an assertion: 500) is a 404."""
    server, tokens = people
    stranger, priya = Browser(server), Browser(server)
    static = "/voila/templates/reviewkit/static/reviewkit.css"
    for path in (static, "/voila/static/voila.js", "/voila/tree", "/voila/api/themes/x"):
        assert stranger.request(path)[0] in (302, 403), path
    assert priya.sign_in("/voila/tree", tokens["priya"])[0] == 200
    assert priya.request(static)[0] == 200
    for odd in ("..%2f..%2f..%2fapp.py", "reviewkit/x/app.py", "reviewkit", "a/static/..%2f.."):
        status, body, _ = priya.request(f"/voila/templates/{odd}")
        assert status == 404 and "<h1>404 Not Found</h1>" in body, odd
    assert "Traceback" not in server.text()


def test_a_removed_persons_sessions_end_and_a_new_token_starts_new_ones(people: Any) -> None:
    """`users remove` then `users add` the same name: the cookie of the old token signed in
    again. Removing ends every session; re-adding issues a new token and new sessions."""
    server, _ = people
    with open_project(server.project) as opened:
        token = opened.store.add_person("Rui Sousa", email="rui@example.com")
    rui = Browser(server)
    assert rui.sign_in("/voila/tree", token)[0] == 200
    old_cookie = {"Cookie": rui.cookie_header()}
    assert Browser(server).request("/voila/tree", headers=old_cookie)[0] == 200  # it signs in
    with open_project(server.project) as opened:
        opened.store.remove_person("Rui Sousa")
        assert Browser(server).request("/voila/tree", headers=old_cookie)[0] == 302  # sign in
        new_token = opened.store.add_person("Rui Sousa", email="rui@example.com")
    assert Browser(server).request("/voila/tree", headers=old_cookie)[0] == 302  # stays dead
    assert Browser(server).request(f"/voila/tree?token={token}")[0] == 302  # the old token too
    again = Browser(server)
    assert again.sign_in("/voila/tree", new_token)[0] == 200  # a new session


def test_signing_in_with_a_token_leaves_it_out_of_the_address(people: Any) -> None:
    """A page opened with ?token= kept the token in the address bar, and so in the history and
    every link copied from it. Signed in, the browser is sent (302) to the same address without
    it, its other parameters as they were, and the cookie set then signs in; API calls are
    answered as they are (a script has no address bar)."""
    server, tokens = people
    priya = Browser(server)
    page = "/voila/render/review.ipynb?period=2026-10&token={}&team=billing"
    status, _, headers = priya.request(page.format(tokens["priya"]))
    assert status == 302  # no kernel started: the page is not rendered for this address
    assert headers["Location"] == "/voila/render/review.ipynb?period=2026-10&team=billing"
    assert priya.request("/voila/tree")[0] == 200  # the cookie alone signs in now
    status, _, headers = Browser(server).request(page.format("not-a-token"))
    assert status == 302 and headers["Location"].startswith("/login?")  # to sign in first
    contents = f"/voila/api/contents?token={tokens['vera']}"
    status, body, _ = Browser(server).request(contents)
    assert status == 200 and json.loads(body)["type"] == "directory"


def test_helpers_strip_tokens_and_read_utf8_headers() -> None:
    """A URL's query loses only its token; a proxy's header is read as UTF-8 whether raw
    (tornado hands it over as Latin-1) or RFC 8187 encoded."""
    assert without_token("team=a&token=s3&b=&period=2026-10") == "team=a&b=&period=2026-10"
    assert without_token("token=s3") == ""
    assert header_text("ZoÃ«") == "Zoë"
    assert header_text("UTF-8''Zo%C3%AB") == "Zoë"
    assert header_text("Zo\xeb") == "Zo\xeb"  # Latin-1 that is not UTF-8 stays as sent


@pytest.mark.kernel  # a server of its own
def test_the_proxys_user_header_names_the_person_in_utf8(sample_dir: Path, tmp_path: Path) -> None:
    """Behind a proxy, the user header names who is signed in: an email header naming someone
    else gave mallory Priya's name and role. A name the proxy sends in UTF-8 (raw, as most do)
    is the person `users add` knows, with their role ("Zoë" arrived as "ZoÃ«", a viewer). And
    a kernel is the proxy user's who opened it."""
    project = warm_copy(sample_dir, tmp_path / "project")
    with open_project(project) as opened:
        opened.store.add_person("Priya Raman", email="priya@example.com")
        opened.store.add_person("Zoë Ång")
    server = Server(
        project, tmp_path, "--sign-in", "proxy", "--trusted-proxy", "127.0.0.1", "--pool-size", "0"
    )
    try:
        server.wait_for(r"Voil. is running at")
        page = "/voila/render/checkins.ipynb?team=billing"
        mallory = {"X-Forwarded-User": "mallory", "X-Forwarded-Email": "priya@example.com"}
        status, body, _ = Browser(server).request(page, headers=mallory)
        assert status == 200, body[:2000]
        assert "Signed in as mallory (viewer)" in body and "Priya" not in body
        zoe = {"X-Forwarded-User": "Zoë Ång".encode()}  # http.client sends bytes as they are
        status, body, _ = Browser(server).request(page, headers=zoe)
        assert status == 200, body[:2000]
        shown = "Signed in as Zoë Ång (contributor)"
        assert shown in body or json.dumps(shown)[1:-1] in body, body[-3000:]
        # behind the proxy too, a kernel is its opener's: Zoë's is not mallory's
        model = f"/api/kernels/{kernel_of(body)}"
        assert Browser(server).request(model, headers=mallory)[0] == 403
        assert Browser(server).request(model, headers=zoe)[0] == 200
    finally:
        server.stop()


@pytest.mark.kernel  # a server of its own
def test_a_store_that_cannot_be_reached_gets_a_page_that_says_so(
    people: Any, postgres: PostgresServer, tmp_path: Path
) -> None:
    """With the store's PostgreSQL stopped, sign-in (which reads the people) answered an
    empty 500. Now pages and websockets get a page saying the store is not reachable, with a
    retry; once PostgreSQL is back the next sign-in works. A cookie of the same person from
    another project's server (same OS user, same people) does not sign in here: each server
    signs its cookies with a secret of its own."""
    first, tokens = people
    url = postgres.new_database()
    with open_project(first.project) as opened:
        store_as_of(opened.config.store_location, url).close()  # the same people, tokens too
    project = tmp_path / "other"
    shutil.copytree(first.project, project, ignore=shutil.ignore_patterns(".reviewkit", "*.db*"))
    server = Server(
        project,
        tmp_path,
        "--sign-in",
        "people",
        "--pool-size",
        "0",
        env={"REVIEWKIT_STORE": url},
    )
    try:
        server.wait_for(r"Voil. is running at")
        elsewhere = Browser(first)
        assert elsewhere.sign_in("/voila/tree", tokens["priya"])[0] == 200
        (cookie,) = [c for c in elsewhere.cookies if c.name.startswith("username-")]
        replayed = f"username-127-0-0-1-{server.port}={cookie.value}"
        assert Browser(server).request("/voila/tree", headers={"Cookie": replayed})[0] == 302

        priya = Browser(server)
        assert priya.sign_in("/voila/tree", tokens["priya"])[0] == 200
        postgres.stop()
        try:
            status, body, headers = priya.request("/voila/tree")
            assert status == 503 and "The store is not reachable" in body, (status, body)
            assert headers["Retry-After"] and "http-equiv='refresh'" in body
            assert url not in body and "Traceback" not in body
            channels = "/api/kernels/00000000-0000-4000-8000-000000000000/channels"
            assert websocket(server, channels, {"Cookie": priya.cookie_header()})[0] == 503
            assert Browser(server).request(f"/voila/tree?token={tokens['vera']}")[0] == 503
        finally:
            postgres.start()
        assert priya.request("/voila/tree")[0] == 200  # the first try after the restart
        assert Browser(server).sign_in("/voila/tree", tokens["vera"])[0] == 200
        assert "Traceback" not in server.text()
    finally:
        server.stop()
