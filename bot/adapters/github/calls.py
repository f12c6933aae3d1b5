"""How the GitHub adapter runs a call: in a worker thread, behind the rate gate, reads retried, writes never.

A read is retried a bounded number of times with backoff on a retryable error (5xx, connection trouble);
a rate limit is recorded in the gate and raised. A write is sent once: its reply is returned as data so
the caller can read a refusal (405, 409, 422), and any ambiguous failure is a non-retryable error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from bot import errors
from bot.adapters.github import auth as github_auth
from bot.adapters.github import http as github_http
from bot.adapters.github import rate as github_rate

T = TypeVar("T")
log = logging.getLogger(__name__)


class Calls:
    """Runs blocking session work for one set of credentials."""

    def __init__(
        self,
        credentials: github_auth.Credentials,
        gate: github_rate.RateGate,
        *,
        read_attempts: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self.credentials = credentials
        self.gate = gate
        self._attempts = max(1, read_attempts)
        self._backoff_s = backoff_s

    def _run(self, repo: str | None, work: Callable[[github_http.Session], T]) -> T:
        return work(self.credentials.session(repo))

    async def read(self, repo: str | None, what: str, work: Callable[[github_http.Session], T]) -> T:
        """Run `work` with the session for `repo` (None: the App or user itself); retried when retryable."""
        for attempt in range(1, self._attempts + 1):
            await self.gate.before_read()
            try:
                return await asyncio.to_thread(self._run, repo, work)
            except errors.RateLimited as exc:
                await self.gate.block(exc.retry_after or github_rate.SECONDARY_DEFAULT_S)
                raise
            except errors.GitHubError as exc:
                if not exc.retryable or attempt == self._attempts:
                    raise
                delay = self._backoff_s * 2 ** (attempt - 1)
                log.warning(
                    "GitHub %s failed (%s); attempt %d in %.1f s", what, exc.status_code, attempt + 1, delay
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def write(self, repo: str, verb: str, url: str, what: str, body: Any) -> github_http.Reply:
        """Send one write and return its reply, refusals included; a rate limit blocks the gate.

        Raises `RateLimited` without sending while a limit lasts, and a non-retryable `GitHubError` when
        the request could not complete (it may or may not have taken effect).
        """

        def work(session: github_http.Session) -> github_http.Reply:
            return github_http.send(session, verb, url, what=what, body=body)

        async with self.gate.write_slot():
            try:
                reply = await asyncio.to_thread(self._run, repo, work)
            except errors.RateLimited as exc:  # met while looking up the installation or minting a token
                await self.gate.block(exc.retry_after or github_rate.SECONDARY_DEFAULT_S)
                raise
            # Recorded before the slot is given up, so the next write already sees the limit.
            delay = github_rate.limit_delay(reply.status, reply.headers, reply.message, self.gate.now)
            if delay is not None:
                await self.gate.block(delay)
        return reply

    async def get(
        self,
        repo: str | None,
        url: str,
        what: str,
        *,
        params: dict[str, Any] | None = None,
        allow: tuple[int, ...] = (),
    ) -> github_http.Reply:
        """GET one resource; statuses in `allow` (e.g. 404) come back as replies instead of errors."""

        def work(session: github_http.Session) -> github_http.Reply:
            reply = github_http.send(session, "GET", url, what=what, params=params)
            return reply if reply.status in allow else reply.check(what, write=False)

        return await self.read(repo, what, work)

    async def list(self, repo: str | None, url: str, what: str, *, key: str | None = None) -> list[Any]:
        """Every item of a paged list (`key`: the array inside an object-shaped page)."""
        return await self.read(repo, what, lambda r: list(github_http.items(r, url, what=what, key=key)))

    async def close(self) -> None:
        await asyncio.to_thread(self.credentials.close)
