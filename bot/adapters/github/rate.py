"""GitHub's rate limits as one shared gate: a limit seen on any call holds back every later call.

Primary limit: 403/429 with `X-RateLimit-Remaining: 0`, wait until `X-RateLimit-Reset` (epoch seconds).
Secondary limit: 403/429 with `Retry-After`, or a "secondary rate limit" message, wait `Retry-After`
(60 s when absent). https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from bot import errors

SECONDARY_DEFAULT_S = 60.0
_SECONDARY_HINTS = ("secondary rate limit", "please retry your request again later", "wait a few minutes")


def limit_delay(status: int, headers: Mapping[str, str], message: str, now: float) -> float | None:
    """Seconds to wait when a response is a rate limit, else None (`headers` with lower-case names)."""
    if status not in (403, 429):
        return None
    retry_after = _number(headers.get("retry-after"))
    if retry_after is not None:
        return max(retry_after, 0.0)
    if headers.get("x-ratelimit-remaining") == "0":
        reset = _number(headers.get("x-ratelimit-reset"))
        # One extra second: the reset instant is rounded down and clocks drift.
        return SECONDARY_DEFAULT_S if reset is None else max(reset - now, 0.0) + 1.0
    lowered = message.lower()
    if status == 429 or "rate limit" in lowered or any(hint in lowered for hint in _SECONDARY_HINTS):
        return SECONDARY_DEFAULT_S
    return None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class RateGate:
    """Holds every call back while a rate limit lasts, and spaces writes.

    Reads wait for the limit to pass when it ends within `max_read_wait_s`, else raise `RateLimited`;
    writes raise `RateLimited` at once without sending. Writes go one at a time, at least
    `write_interval_s` apart, as GitHub asks of content-creating requests.
    """

    def __init__(
        self,
        *,
        max_read_wait_s: float = 30.0,
        write_interval_s: float = 1.0,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._max_read_wait_s = max_read_wait_s
        self._write_interval_s = write_interval_s
        self._now = now
        self._sleep = sleep
        self._blocked_until = 0.0
        self._last_write = 0.0
        self._write_lock = asyncio.Lock()

    @property
    def now(self) -> float:
        return self._now()

    def remaining(self) -> float:
        """Seconds until calls may be sent again (0 when not limited)."""
        return max(self._blocked_until - self._now(), 0.0)

    def block(self, seconds: float) -> None:
        """Record a limit: nothing is sent for `seconds` from now (an earlier end never shortens it)."""
        self._blocked_until = max(self._blocked_until, self._now() + seconds)

    async def before_read(self) -> None:
        """Wait out a short limit; raise `RateLimited` when it lasts longer than the read bound."""
        wait = self.remaining()
        if wait <= 0:
            return
        if wait > self._max_read_wait_s:
            raise errors.RateLimited(
                f"GitHub rate limit: reads held for {wait:.0f} s more", status_code=None, retry_after=wait
            )
        await self._sleep(wait)

    def before_write(self) -> None:
        """Raise `RateLimited` while a limit lasts: a write is never queued behind one."""
        wait = self.remaining()
        if wait > 0:
            raise errors.RateLimited(
                f"GitHub rate limit: writes held for {wait:.0f} s more", status_code=None, retry_after=wait
            )

    @contextlib.asynccontextmanager
    async def write_slot(self) -> AsyncIterator[None]:
        """One write at a time, spaced by `write_interval_s`; the limit is checked once the slot is ours."""
        async with self._write_lock:
            gap = self._last_write + self._write_interval_s - self._now()
            if gap > 0:
                await self._sleep(gap)
            self.before_write()
            try:
                yield
            finally:
                self._last_write = self._now()
