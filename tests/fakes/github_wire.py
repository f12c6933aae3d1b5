"""The request/response values the fake GitHub's routes work with, and GitHub-style pagination."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fakes.github_auth import Auth, Caller
from tests.fakes.github_json import Render
from tests.fakes.github_state import ApiError, State

AuthKind = Literal["token", "jwt"]


@dataclass(frozen=True)
class Request:
    """One API request; `path` has the API prefix and the query removed; header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (`{}` when absent); 400 like GitHub when it is something else."""
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError(400, "Problems parsing JSON")
        return self.body


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ctx:
    """What a route handler sees."""

    req: Request
    caller: Caller
    state: State
    render: Render
    auth: Auth
    app: dict[str, Any]  # the App's own JSON (for check runs and `GET /app`)
    installation_id: int


Handler = Callable[[Ctx, dict[str, str]], Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    auth: AuthKind = "token"
    free: bool = False  # does not count against the primary rate limit


def route(
    method: str, template: str, handler: Handler, *, auth: AuthKind = "token", free: bool = False
) -> Route:
    """A route from a template like `/repos/{owner}/{repo}/pulls/{number:int}`; `{path:*}` takes slashes."""
    parts = []
    for piece in re.split(r"(\{[^}]+\})", template):
        if piece.startswith("{"):
            name, _, kind = piece[1:-1].partition(":")
            parts.append(f"(?P<{name}>{ {'int': '[0-9]+', '*': '.+'}.get(kind, '[^/]+') })")
        else:
            parts.append(re.escape(piece))
    return Route(method, re.compile("^" + "".join(parts) + "/?$"), handler, auth, free)


def repo_name(params: dict[str, str]) -> str:
    return f"{params['owner']}/{params['repo']}"


def paginate(ctx: Ctx, items: Sequence[Any]) -> tuple[list[Any], dict[str, str]]:
    """One page of `items` by `page`/`per_page` (default 30, at most 100), and GitHub's Link header."""
    try:
        per_page = min(max(int(ctx.req.query.get("per_page", "30")), 1), 100)
        page = max(int(ctx.req.query.get("page", "1")), 1)
    except ValueError:
        raise ApiError(400, "Invalid pagination parameter") from None
    last = max((len(items) + per_page - 1) // per_page, 1)
    links = []
    for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
        backwards = rel in ("prev", "first")
        if (backwards and page == 1) or (not backwards and page >= last):
            continue
        query = {**ctx.req.query, "page": str(number), "per_page": str(per_page)}
        links.append(f'<{ctx.render.api}{ctx.req.path}?{urllib.parse.urlencode(query)}>; rel="{rel}"')
    headers = {"Link": ", ".join(links)} if links else {}
    return list(items[(page - 1) * per_page : page * per_page]), headers


def paged(ctx: Ctx, items: Sequence[Any], key: str | None = None) -> Response:
    """A paginated listing: a bare array, or `{total_count, <key>: [...]}` when `key` is given."""
    page, headers = paginate(ctx, items)
    body: Any = page if key is None else {"total_count": len(items), key: page}
    return Response(200, body, headers)
