"""One GitHub REST exchange over httpx, its reply as plain data, and errors mapped to ours.

Blocking: called from worker threads, which share one `httpx.Client` (documented as safe to share between
threads). A credential goes only to the configured API: a `Link` or a redirect elsewhere is refused. Messages
carry GitHub's own text and the operation's name, never a header, so no token can leak into an error or a log.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot import errors, version
from bot.adapters.github import rate as github_rate

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
MAX_PAGES = 100  # 10,000 items at 100 a page: far past anything Quorum lists
MAX_REDIRECTS = 3
# A renamed repository answers a read 301 and a write 307 (a write redirected was not carried out).
_FOLLOW_READ = frozenset({301, 302, 307, 308})
_FOLLOW_WRITE = frozenset({307, 308})
_HEADERS = {"User-Agent": version.USER_AGENT, "Accept": "application/vnd.github+json"}


@dataclass(frozen=True, slots=True)
class Reply:
    """A response: status, headers with lower-case names, and the decoded JSON body (None when empty)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    data: Any = None

    @property
    def message(self) -> str:
        """GitHub's error text: `message` plus any `errors` entries."""
        if not isinstance(self.data, dict):
            return ""
        parts = [str(self.data.get("message") or "")]
        for item in self.data.get("errors") or ():
            parts.append(
                str(item.get("message") or item.get("code") or "") if isinstance(item, dict) else str(item)
            )
        return "; ".join(p for p in parts if p)

    def next_url(self) -> str | None:
        found = _NEXT.search(self.headers.get("link", ""))
        return found.group(1) if found else None

    def check(self, what: str, *, write: bool) -> Reply:
        """Return self on success (2xx, or 304 to a conditional read), else raise the mapped error."""
        if self.status < 300 or self.status == 304:
            return self
        raise failure(self, what, write=write, now=time.time())


def failure(reply: Reply, what: str, *, write: bool, now: float) -> errors.GitHubError:
    """The error for a failed reply: `RateLimited` for a limit, else `GitHubError` retryable on a 5xx read.

    A 5xx write is ambiguous (it may have taken effect), so it is never marked retryable.
    """
    text = f"GitHub {what}: {reply.status} {reply.message or 'error'}"
    delay = github_rate.limit_delay(reply.status, reply.headers, reply.message, now)
    if delay is not None:
        return errors.RateLimited(text, status_code=reply.status, retry_after=delay)
    return errors.GitHubError(text, status_code=reply.status, retryable=reply.status >= 500 and not write)


class Transport:
    """The connection pool to one GitHub API (`https://api.github.com` or `https://HOST/api/v3`)."""

    def __init__(self, base_url: str, *, timeout_s: float) -> None:
        self._base = httpx.URL(base_url.rstrip("/") + "/")
        # No retries and no redirects of httpx's own: a write is sent once, and `exchange` follows only
        # redirects that stay on this API.
        self._client = httpx.Client(base_url=self._base, timeout=timeout_s, headers=_HEADERS)

    def exchange(self, request: httpx.Request, what: str) -> httpx.Response:
        """Send `request`, following a redirect within the API; raises `GitHubError` when it leaves it."""
        follow = _FOLLOW_READ if request.method == "GET" else _FOLLOW_WRITE
        for _ in range(MAX_REDIRECTS + 1):
            self._require_within(request.url, what)
            response = self._client.send(request)
            location = response.headers.get("location")
            if response.status_code not in follow or location is None:
                return response
            request = self._client.build_request(
                request.method, request.url.join(location), headers=request.headers, content=request.content
            )
        raise errors.GitHubError(f"GitHub {what}: more than {MAX_REDIRECTS} redirects")

    def build(self, verb: str, url: str, **options: Any) -> httpx.Request:
        return self._client.build_request(verb, url, **options)

    def _require_within(self, url: httpx.URL, what: str) -> None:
        base = self._base
        if (url.scheme, url.netloc) != (base.scheme, base.netloc) or not url.path.startswith(base.path):
            # The URL is not quoted: a server that sends us elsewhere chooses it.
            raise errors.GitHubError(f"GitHub {what}: refused to send a credential outside the GitHub API")

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True, slots=True)
class Session:
    """A transport and one credential: `authorization()` gives the header value, renewed as needed."""

    transport: Transport
    authorization: Callable[[], str]


def send(
    session: Session,
    verb: str,
    url: str,
    *,
    what: str,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> Reply:
    """Send one request; connection trouble becomes `GitHubError` (retryable for reads only)."""
    write = verb != "GET"
    sent_headers = {**(headers or {}), "Authorization": session.authorization()}
    request = session.transport.build(verb, url, params=params, headers=sent_headers, json=body)
    try:
        response = session.transport.exchange(request, what)
    except httpx.HTTPError as exc:
        # `from None`: some transport errors quote the request's headers, the credential among them.
        raise errors.GitHubError(
            f"GitHub {what}: could not complete the request ({type(exc).__name__})", retryable=not write
        ) from None
    return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, _decode(response))


def _decode(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return {"message": response.text[:200]}


def pages(session: Session, url: str, *, what: str, params: dict[str, Any] | None = None) -> Iterator[Reply]:
    """Every page of a list, following `Link: rel="next"`."""
    # A URL taken from a `Link` header already carries its query: pass params=None then.
    query = None if params is None else {"per_page": 100, **params}
    next_url: str | None = url
    for _ in range(MAX_PAGES):
        if next_url is None:
            return
        reply = send(session, "GET", next_url, what=what, params=query).check(what, write=False)
        yield reply
        next_url, query = reply.next_url(), None  # the next link already carries the query


def items(session: Session, url: str, *, what: str, key: str | None = None, **params: Any) -> Iterator[Any]:
    """Every item of a list, across pages; `key` names the array inside an object-shaped page."""
    for reply in pages(session, url, what=what, params=params):
        data = reply.data if key is None else (reply.data or {}).get(key)
        yield from data or ()
