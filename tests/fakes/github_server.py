"""A wire-level fake GitHub on 127.0.0.1: an aiohttp app in a background thread, real bare git repositories
behind it, and a test API to arrange repositories, PRs, reviews, checks and failures and to inspect what the
client did. `with FakeGitHub(tmp_path) as gh:` then `github.Github(base_url=gh.api_url, auth=...)`.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import threading
import time
import urllib.parse
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from aiohttp import web

from tests.fakes import github_dispatch, github_faults
from tests.fakes.github_auth import Auth
from tests.fakes.github_json import Render
from tests.fakes.github_seed import Seeding
from tests.fakes.github_seed_gate import GateSeeding
from tests.fakes.github_state import ApiError, State
from tests.fakes.github_wire import Request, Response

API_PREFIX = "/api/v3"
APP_PERMISSIONS = {
    "checks": "write",
    "contents": "write",
    "issues": "write",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
}
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")  # GitHub's content-creating requests


class Arrival(NamedTuple):
    """One request as it reached the server, before anything was read or held: when (wall clock), the
    method, the path without the API prefix, and a fingerprint of its Authorization header."""

    at: float
    method: str
    path: str
    credential: str


APP_EVENTS = [
    "check_run",
    "check_suite",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "push",
    "status",
]


class FakeGitHub(Seeding, GateSeeding):
    """The fake: start it as a context manager; arrange with the `Seeding` methods; inspect the records."""

    def __init__(
        self,
        root: Path,
        *,
        token: str = "ghp_fake_quorum_token",
        login: str = "quorum-bot",
        app_id: int = 4242,
        app_slug: str = "quorum",
        installation_id: int = 7001,
        port: int = 0,
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.token, self.login = token, login
        self.app_id, self.app_slug, self.installation_id = app_id, app_slug, installation_id
        self.state = State(root)
        self.auth = Auth(app_id, app_slug)
        self.auth.add_token(token, login)
        self.clone_url_template = str(root / "repos" / "{repo}.git")
        self.port = port  # 0: any free port; else a fixed one (a client may be configured before start)
        self.web_url = f"http://127.0.0.1:{port}" if port else ""
        self.api_url = self.web_url + API_PREFIX if port else ""
        self._dispatcher: github_dispatch.Dispatcher | None = None
        self.faults = github_faults.Faults()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._arrivals: list[Arrival] = []
        self._arrivals_lock = threading.Lock()

    @property
    def app_private_key_pem(self) -> str:
        """The App's RSA private key (PKCS#8 PEM) for `Auth.AppAuth(gh.app_id, gh.app_private_key_pem)`."""
        return self.auth.private_key_pem

    @property
    def bot_login(self) -> str:
        """The login the App's installation tokens act as (`quorum[bot]`)."""
        return self.auth.bot_login

    @property
    def installation_token_ttl_s(self) -> float:
        return self.auth.installation_token_ttl_s

    @installation_token_ttl_s.setter
    def installation_token_ttl_s(self, value: float) -> None:
        self.auth.installation_token_ttl_s = value

    def app_json(self) -> dict[str, Any]:
        """The body of `GET /app`."""
        return {
            "id": self.app_id,
            "slug": self.app_slug,
            "node_id": f"A_{self.app_id}",
            "name": self.app_slug.capitalize(),
            "owner": self._render().user("acme"),
            "description": "",
            "external_url": self.web_url,
            "html_url": f"{self.web_url}/apps/{self.app_slug}",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": dict(APP_PERMISSIONS),
            "events": list(APP_EVENTS),
        }

    def _render(self) -> Render:
        return Render(self.state, self.api_url, self.web_url)

    # lifecycle

    def start(self) -> FakeGitHub:
        """Serve on a free port of 127.0.0.1 in a background thread with its own event loop."""
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve, args=(ready, failure), name="fake-github", daemon=True
        )
        self._thread.start()
        ready.wait(timeout=30)
        if failure:
            raise RuntimeError("the fake GitHub did not start") from failure[0]
        render = self._render()
        self._dispatcher = github_dispatch.Dispatcher(
            self.state, self.auth, render, self.app_json(), self.installation_id
        )
        return self

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._start_site())
        except BaseException as error:
            failure.append(error)
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        if self._runner is not None:
            loop.run_until_complete(self._runner.cleanup())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    async def _start_site(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.web_url = f"http://127.0.0.1:{port}"
        self.api_url = self.web_url + API_PREFIX

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop = self._thread = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # faults of the whole service

    def hold_next(self, method: str, path_regex: str) -> github_faults.Hold:
        """Hold the next matching request until `release()`: it takes effect only then (a late write)."""
        return self.faults.hold_next(method, path_regex)

    def set_unavailable(self, down: bool = True) -> None:
        """While down, answer every request 503 (a GitHub incident); nothing takes effect."""
        self.faults.unavailable = down

    # the wire

    @property
    def arrivals(self) -> list[Arrival]:
        """Every request in the order it arrived, with its arrival time (kept through `clear_requests`)."""
        with self._arrivals_lock:
            return list(self._arrivals)

    def write_gaps(self) -> dict[str, list[float]]:
        """Per credential, the seconds between consecutive arrivals of content-creating requests."""
        times: dict[str, list[float]] = {}
        for arrival in self.arrivals:
            if arrival.method in WRITE_METHODS:
                times.setdefault(arrival.credential, []).append(arrival.at)
        return {who: [b - a for a, b in itertools.pairwise(at)] for who, at in times.items()}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        credential = hashlib.sha256(request.headers.get("Authorization", "").encode()).hexdigest()[:12]
        with self._arrivals_lock:
            self._arrivals.append(Arrival(time.time(), request.method, path[len(API_PREFIX) :], credential))
        raw = await request.read()
        if self.faults.unavailable:
            if self._dispatcher is not None:
                agent = request.headers.get("User-Agent", "")
                self._dispatcher.record(request.method, path[len(API_PREFIX) :], 503, agent)
            return _to_web(Response(503, github_faults.OUTAGE_BODY))
        hold = self.faults.take_hold(request.method, path[len(API_PREFIX) :])
        if hold is not None:
            hold.arrived.set()
            await asyncio.to_thread(hold.released.wait, 120)
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(urllib.parse.parse_qsl(request.query_string, keep_blank_values=True))
        if not path.startswith(API_PREFIX + "/") and path != API_PREFIX:
            return _to_web(github_dispatch.error_response(ApiError(404, "Not Found")))
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            return _to_web(github_dispatch.error_response(ApiError(400, "Problems parsing JSON")))
        req = Request(request.method, path[len(API_PREFIX) :] or "/", query, headers, body)
        assert self._dispatcher is not None
        response = await asyncio.to_thread(self._dispatcher.dispatch, req)
        return _to_web(response)


def _to_web(response: Response) -> web.Response:
    if response.body is None:
        return web.Response(status=response.status, headers=response.headers)
    data = json.dumps(response.body).encode()
    return web.Response(
        status=response.status,
        body=data,
        headers={**response.headers, "Content-Type": "application/json; charset=utf-8"},
    )
