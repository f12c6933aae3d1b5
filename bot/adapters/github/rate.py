"""GitHub's rate limits as one shared gate: a limit seen on any call holds back every later call.

Primary limit: 403/429 with `X-RateLimit-Remaining: 0`, wait until `X-RateLimit-Reset` (epoch seconds).
Secondary limit: 403/429 with `Retry-After`, or a "secondary rate limit" message, wait `Retry-After`
(60 s when absent). https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
Writes are paced by `guardrails.pacing`: in this process always, and across replicas through a shared pacer,
which also holds a limit met by one replica for all of them (reads too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from bot import errors
from guardrails import pacing

log = logging.getLogger(__name__)

SECONDARY_DEFAULT_S = 60.0
# GitHub: "wait at least one second between each request" that creates content; at most 80 a minute, 500
# an hour (the numbers live in `pacing.GITHUB_COM`).
WRITE_INTERVAL_S = pacing.GITHUB_COM.interval_s
WRITES_PER_MINUTE = pacing.GITHUB_COM.per_minute
WRITES_PER_HOUR = pacing.GITHUB_COM.per_hour
PACER_RETRY_S = 30.0  # after the shared pacer failed, how long writes are paced in this process only
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
    """Holds every call back while a rate limit lasts, and paces writes.

    Reads wait for the limit to pass when it ends within `max_read_wait_s`, else raise `RateLimited`;
    writes raise `RateLimited` at once without sending. A limit is recorded here and through `pacer`, so
    every replica using the credential holds back. Writes go one at a time, at least `interval_s` apart, at
    most `per_minute` a minute and `per_hour` an hour, as GitHub asks of content-creating requests: in this
    process, and through `pacer` as well. A write waits for its turn up to the policy's `longest_pace_s`; a
    longer wait (the hourly cap) raises `RateLimited` without sending, so the job is retried later. A pacer
    that fails is skipped for `PACER_RETRY_S`, logged once: a call never fails because the pacer is down.
    """

    def __init__(
        self,
        *,
        max_read_wait_s: float = 30.0,
        write_interval_s: float = WRITE_INTERVAL_S,
        writes_per_minute: int = WRITES_PER_MINUTE,
        writes_per_hour: int = WRITES_PER_HOUR,
        policy: pacing.PacingPolicy | None = None,
        pacer: pacing.WritePacer | None = None,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._max_read_wait_s = max_read_wait_s
        self._policy = policy or pacing.PacingPolicy(
            write_interval_s, writes_per_minute, per_hour=writes_per_hour
        )
        self._now = now
        self._sleep = sleep
        self._local = pacing.Pace()
        self._pacer = pacer
        self._pacer_down_until: float | None = None  # set while the shared pacer is skipped
        self._write_lock = asyncio.Lock()

    @property
    def now(self) -> float:
        return self._now()

    async def remaining(self) -> float:
        """Seconds until calls may be sent again (0 when not limited): the longer of this process's record
        and the one every replica shares."""
        local = pacing.blocked(self._local, self._now())
        if not self._shared():
            return local
        assert self._pacer is not None
        try:
            shared = await self._pacer.blocked()
        except errors.CoordinationUnavailable as exc:
            self._pacer_failed(exc)
            return local
        self._pacer_back()
        return max(local, shared)

    async def block(self, seconds: float) -> None:
        """Record a limit: nothing is sent for `seconds` from now, by any replica (an earlier end never
        shortens it). Recorded here first, so it holds in this process even when the pacer is down."""
        pacing.block(self._local, seconds, self._now())
        if not self._shared():
            return
        assert self._pacer is not None
        try:
            await self._pacer.block(seconds)
        except errors.CoordinationUnavailable as exc:
            self._pacer_failed(exc)

    async def before_read(self) -> None:
        """Wait out a short limit; raise `RateLimited` when it lasts longer than the read bound."""
        while (wait := await self.remaining()) > 0:
            if wait > self._max_read_wait_s:
                raise errors.RateLimited(
                    f"GitHub rate limit: reads held for {wait:.0f} s more", status_code=None, retry_after=wait
                )
            await self._sleep(wait)

    async def before_write(self) -> None:
        """Raise `RateLimited` while a limit lasts: a write is never queued behind one."""
        wait = await self.remaining()
        if wait > 0:
            raise errors.RateLimited(
                f"GitHub rate limit: writes held for {wait:.0f} s more", status_code=None, retry_after=wait
            )

    @contextlib.asynccontextmanager
    async def write_slot(self) -> AsyncIterator[None]:
        """One write at a time, paced here and across replicas; the limit is checked once the slot is ours.

        The interval starts when the write was answered, so two writes never overlap on GitHub's side.
        """
        token = uuid.uuid4().hex
        async with self._write_lock:
            try:
                while (wait := pacing.claim(self._local, token, self._now(), self._policy)) > 0:
                    await self._sleep(self._turn(wait))
                shared = await self._claim_shared(token)
                try:
                    await self.before_write()
                    yield
                finally:
                    if shared:
                        await self._release_shared(token)
            finally:
                pacing.release(self._local, token, self._now(), self._policy)

    def _turn(self, wait: float) -> float:
        """`wait` when it is the pace's; past the longest the pace imposes it is the hourly cap's, and the
        write is deferred (`RateLimited`, nothing sent) rather than holding its job that long."""
        if wait > self._policy.longest_pace_s:
            raise errors.RateLimited(
                f"GitHub write cap: {self._policy.per_hour} content-creating requests an hour reached; "
                f"the next may go in {wait:.0f} s",
                status_code=None,
                retry_after=wait,
            )
        return wait

    def _shared(self) -> bool:
        return self._pacer is not None and (self._pacer_down_until or 0.0) <= self._now()

    async def _claim_shared(self, token: str) -> bool:
        """Wait for the shared pacer's turn; False (pace locally only) when there is none or it failed."""
        if not self._shared():
            return False
        assert self._pacer is not None
        # While another replica's write is in flight the wait is its hold: ask again each interval.
        poll_s = max(self._policy.interval_s, 0.05)
        try:
            while (wait := await self._pacer.claim(token)) > 0:
                await self._sleep(min(self._turn(wait), poll_s))
        except errors.CoordinationUnavailable as exc:
            self._pacer_failed(exc)
            return False
        self._pacer_back()
        return True

    async def _release_shared(self, token: str) -> None:
        assert self._pacer is not None
        try:
            await self._pacer.release(token)
        except errors.CoordinationUnavailable as exc:
            # Unreleased, the claim holds the other replicas back until its hold ends: safe, only slower.
            self._pacer_failed(exc)

    def _pacer_back(self) -> None:
        if self._pacer_down_until is not None:
            self._pacer_down_until = None
            log.info("GitHub write pacing is shared across replicas again")

    def _pacer_failed(self, exc: errors.CoordinationUnavailable) -> None:
        if self._pacer_down_until is None:
            log.warning(
                "GitHub write pacing across replicas is unavailable (%s): pacing this process's writes and "
                "holding its own rate limits only, retrying in %.0f s",
                exc,
                PACER_RETRY_S,
            )
        self._pacer_down_until = self._now() + PACER_RETRY_S
