"""The fake GitHub's request pipeline: authenticate, rate-limit, inject failures, route, ETag, log."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

from tests.fakes import github_routes, github_routes_app, github_routes_gate
from tests.fakes.github_auth import RATE_DOCS, Auth, Caller
from tests.fakes.github_json import Render
from tests.fakes.github_state import ApiError, State
from tests.fakes.github_wire import Ctx, Request, Response, Route

DOCS = "https://docs.github.com/rest"
_REPO_PATH = re.compile(r"^/repos/([^/]+)/([^/]+)")
ROUTES: list[Route] = [*github_routes.ROUTES, *github_routes_app.ROUTES, *github_routes_gate.ROUTES]


class LoggedRequest(NamedTuple):
    """One request the fake answered: method, path without the API prefix or query, status."""

    method: str
    path: str
    status: int
    user_agent: str = ""


@dataclass
class Injection:
    method: str
    pattern: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: Any
    times: int


class Dispatcher:
    """Turns a `Request` into a `Response`; thread-safe."""

    def __init__(
        self, state: State, auth: Auth, render: Render, app: dict[str, Any], installation_id: int
    ) -> None:
        self.state, self.auth, self.render = state, auth, render
        self.app, self.installation_id = app, installation_id
        self.log: list[LoggedRequest] = []
        self.injections: list[Injection] = []
        self.lock = threading.Lock()

    def inject(self, injection: Injection) -> None:
        with self.lock:
            self.injections.append(injection)

    def dispatch(self, req: Request) -> Response:
        """Answer one request and log it."""
        try:
            response = self._answer(req)
        except ApiError as error:
            response = error_response(error)
        self.record(req.method, req.path, response.status, req.headers.get("user-agent", ""))
        return response

    def record(self, method: str, path: str, status: int, user_agent: str = "") -> None:
        """Log one answered request (also those answered before routing, as during an outage)."""
        with self.lock:
            self.log.append(LoggedRequest(method, path, status, user_agent))

    def _answer(self, req: Request) -> Response:
        found, params = self._match(req)
        wants_app = found is not None and found.auth == "jwt"
        caller = self.auth.authenticate(req.headers.get("authorization"), wants_app=wants_app)
        if caller.kind == "app" and not wants_app:
            raise ApiError(403, "Resource not accessible by integration")
        if caller.kind == "installation":
            self._check_installed(req.path)
        if caller.token.read_only and req.method not in ("GET", "HEAD"):
            raise ApiError(403, "Resource not accessible by integration")
        free = found is not None and found.free
        if not free:
            self.auth.check(caller.token)
        try:
            response = self._injected(req) or self._routed(req, found, params, caller)
        except ApiError as error:
            response = error_response(error)
        not_modified = response.status == 304
        response.headers = {**self.auth.charge(caller.token, free=free or not_modified), **response.headers}
        return response

    def _check_installed(self, path: str) -> None:
        """An installation token sees only the repositories the App is installed on (others: 404)."""
        match = _REPO_PATH.match(path)
        with self.state.lock:
            repo = self.state.repos.get(f"{match[1]}/{match[2]}".lower()) if match else None
            if repo is not None and not repo.installed:
                raise ApiError(404, "Not Found")

    def _match(self, req: Request) -> tuple[Route | None, dict[str, str]]:
        for candidate in ROUTES:
            match = candidate.pattern.match(req.path)
            if match and candidate.method == req.method:
                return candidate, match.groupdict()
        return None, {}

    def _injected(self, req: Request) -> Response | None:
        with self.lock:
            for injection in self.injections:
                if injection.method == req.method and injection.pattern.search(req.path):
                    injection.times -= 1
                    if injection.times <= 0:
                        self.injections.remove(injection)
                    return Response(injection.status, injection.body, dict(injection.headers))
        return None

    def _routed(self, req: Request, found: Route | None, params: dict[str, str], caller: Caller) -> Response:
        if found is None:
            raise ApiError(404, "Not Found")
        ctx = Ctx(req, caller, self.state, self.render, self.auth, self.app, self.installation_id)
        with self.state.lock:
            response = found.handler(ctx, params)
        if req.method == "GET" and response.status == 200:
            etag = 'W/"' + hashlib.sha256(encode(response.body)).hexdigest()[:40] + '"'
            response.headers["ETag"] = etag
            if etag in {tag.strip() for tag in req.headers.get("if-none-match", "").split(",")}:
                return Response(304, None, {"ETag": etag})
        return response


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def error_response(error: ApiError) -> Response:
    """GitHub's error body: message, documentation_url and, for validation failures, errors."""
    docs = RATE_DOCS if "rate limit" in error.message else DOCS
    body: dict[str, Any] = {"message": error.message, "documentation_url": docs}
    if error.errors is not None:
        body["errors"] = error.errors
    body["status"] = str(error.status)
    return Response(error.status, body, dict(error.headers))
