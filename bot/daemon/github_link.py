"""The daemon's link to GitHub: who Quorum is there, and whether GitHub answers now.

`quorum serve` starts without GitHub (intake needs only Redis). The link learns Quorum's identity in the
background, probing with a bounded exponential backoff while GitHub is unreachable. Workers and the
reconciler wait for it; a job that finds GitHub unreachable marks it down, which pauses the workers until
a probe answers again, and `on_up` (the reconciler's wake-up) runs each time GitHub comes back so what
arrived meanwhile is caught up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot import forge, health
from bot.daemon.context import log
from bot.errors import GitHubError, QuorumError, RateLimited

GITHUB = "github"
Resolve = Callable[[], Awaitable[forge.Identity]]


class CodeHostLink(Protocol):
    """Whether the code host answers (`github_link.GitHubLink`)."""

    async def wait_up(self, stopping: asyncio.Event) -> bool:
        """Wait until it answers (True) or `stopping` is set (False)."""
        ...

    def failed(self, exc: BaseException) -> None:
        """A job failed with `exc`; the link decides whether the code host is down."""
        ...


def unreachable(exc: BaseException) -> bool:
    """Whether a failure says GitHub itself is down (no answer, or a 5xx), not that one call was refused."""
    return (
        isinstance(exc, GitHubError)
        and not isinstance(exc, RateLimited)
        and (exc.status_code is None or exc.status_code >= 500)
    )


class GitHubLink:
    """Knows Quorum's identity once GitHub answered, and whether it answers now."""

    def __init__(
        self,
        resolve: Resolve,
        states: health.Health,
        backoff: health.Backoff,
        *,
        on_up: Callable[[], None] = lambda: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._resolve = resolve
        self._health = states
        self._backoff = backoff
        self._on_up = on_up
        self._sleep = sleep
        self._identity: forge.Identity | None = None
        self._up = asyncio.Event()
        self._down = asyncio.Event()

    @property
    def identity(self) -> forge.Identity:
        """Quorum's identity on GitHub; only after `wait_up` returned True."""
        if self._identity is None:
            raise RuntimeError("GitHub has not answered yet")
        return self._identity

    async def run(self, stopping: asyncio.Event) -> None:
        """Probe until GitHub answers, then wait for a failure to probe again; until `stopping`."""
        while not stopping.is_set():
            if self._up.is_set():
                await _first(stopping.wait(), self._down.wait())
                continue
            try:
                identity = await self._resolve()
            except QuorumError as exc:
                self._health.mark(GITHUB, False, exc.message)
                delay = self._backoff.next_delay()
                log.warning("GitHub is not usable (%s); next try in %.1f s", exc.message, delay)
                await _first(stopping.wait(), self._sleep(delay))
                continue
            self._identity = identity
            self._backoff.reset()
            self._down.clear()
            self._up.set()
            self._health.mark(GITHUB, True)
            self._on_up()

    def failed(self, exc: BaseException) -> None:
        """A call failed; when GitHub itself is down, pause what waits on the link until a probe answers."""
        if not unreachable(exc) or not self._up.is_set():
            return
        self._up.clear()
        self._down.set()
        self._health.mark(GITHUB, False, str(exc))

    async def wait_up(self, stopping: asyncio.Event) -> bool:
        """Wait until GitHub answers (True) or `stopping` is set (False)."""
        if self._up.is_set():
            return True
        await _first(stopping.wait(), self._up.wait())
        return self._up.is_set() and not stopping.is_set()


async def _first(*waits: Awaitable[object]) -> None:
    """Wait for the first of `waits` to finish; cancel the rest."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
