"""One GitHub REST exchange through PyGithub's requester, its reply as plain data, and errors mapped to ours.

Blocking: called from a worker thread. Messages carry GitHub's own text and the operation's name, never
a header, so no token can leak into an error or a log.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from github.GithubException import GithubException
from github.Requester import Requester

from bot import errors
from bot.adapters.github import rate as github_rate

_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
MAX_PAGES = 100  # 10,000 items at 100 a page: far past anything Quorum lists


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
        """Return self on success (2xx/3xx), else raise the mapped error."""
        if self.status < 400:
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


def send(
    requester: Requester,
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
    try:
        status, raw_headers, text = requester.requestJson(verb, url, params, dict(headers or {}), body)
    except requests.RequestException as exc:
        raise errors.GitHubError(
            f"GitHub {what}: could not complete the request ({type(exc).__name__})", retryable=not write
        ) from exc
    except GithubException as exc:  # raised by PyGithub's own auth refresh
        raise failure(
            Reply(exc.status, exc.headers or {}, exc.data), what, write=write, now=time.time()
        ) from exc
    return Reply(status, {k.lower(): str(v) for k, v in raw_headers.items()}, _decode(text))


def _decode(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"message": text[:200]}


def pages(
    requester: Requester, url: str, *, what: str, params: dict[str, Any] | None = None
) -> Iterator[Reply]:
    """Every page of a list, following `Link: rel="next"`."""
    # A URL taken from a `Link` header already carries its query: pass params=None then.
    query = None if params is None else {"per_page": 100, **params}
    next_url: str | None = url
    for _ in range(MAX_PAGES):
        if next_url is None:
            return
        reply = send(requester, "GET", next_url, what=what, params=query).check(what, write=False)
        yield reply
        next_url, query = reply.next_url(), None  # the next link already carries the query


def items(
    requester: Requester, url: str, *, what: str, key: str | None = None, **params: Any
) -> Iterator[Any]:
    """Every item of a list, across pages; `key` names the array inside an object-shaped page."""
    for reply in pages(requester, url, what=what, params=params):
        data = reply.data if key is None else (reply.data or {}).get(key)
        yield from data or ()
