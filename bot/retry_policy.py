"""One retry policy for calls to outside services (LLM providers, Elasticsearch, Discord), run by tenacity.

tenacity runs the loop (tries, stop, sleep, hooks); the policy says which failures are worth another try
and how long to wait before it. The n-th wait is an exponential step, `base_s`·2ⁿ⁻¹ capped at `max_s`,
drawn from `[(1 - jitter)·step, step]`, never shorter than the server's `Retry-After` (at most
`max_wait_s`, when set). Tries stop after `max_retries` retries, or as soon as the next wait would end
past the caller's deadline: a wait no answer can follow is not waited.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import tenacity

from config import sections

Sleep = Callable[[float], Awaitable[None]]
# Told of each failure that will be retried (None when a result asked for the retry) and the wait before it.
BeforeRetry = Callable[[BaseException | None, float], None]
_NO_RETRY_AFTER: Callable[[BaseException], float | None] = lambda exc: None  # noqa: E731


def transient_status(status: int | None) -> bool:
    """True for a failure worth another try: no answer at all (None or 0), a timeout (408), a rate limit
    (429) or a server error (5xx). Any other 4xx is the request's own fault and fails the same again."""
    return not status or status in (408, 429) or status >= 500


def on_exception(transient: Callable[[BaseException], bool]) -> tenacity.retry_base:
    """Retry when the attempt raised an exception `transient` accepts (any other propagates at once)."""
    return tenacity.retry_if_exception(transient)


def on_result(unfinished: Callable[[Any], bool]) -> tenacity.retry_base:
    """Retry when the attempt returned a value `unfinished` accepts."""
    return tenacity.retry_if_result(unfinished)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often to try again, and how long to wait before each try."""

    max_retries: int | None = 3  # retries after the first try; None: until the caller's deadline or cancel
    base_s: float = 1.0
    max_s: float = 30.0
    jitter: float = 0.5  # 0: the exact step; 1: anywhere from 0 to the step ("full jitter")
    max_wait_s: float | None = None  # a ceiling on one wait, a `Retry-After` included; None: no ceiling

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """The wait before retry number `retry` (1 for the first) after a `Retry-After` of `retry_after`."""
        step = min(self.max_s, self.base_s * 2.0 ** min(retry - 1, 64))
        wait = max(step * rng.uniform(1.0 - self.jitter, 1.0), retry_after or 0.0)
        return wait if self.max_wait_s is None else min(wait, self.max_wait_s)

    def retrying(
        self,
        retry: tenacity.retry_base,
        *,
        retry_after: Callable[[BaseException], float | None] = _NO_RETRY_AFTER,
        remaining: Callable[[], float] | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        before_retry: BeforeRetry | None = None,
    ) -> tenacity.AsyncRetrying:
        """A tenacity loop for one call: `await policy.retrying(...)(fn, *args)`.

        `retry_after` reads a server's requested wait from a failure; `remaining` is the seconds left before
        the caller's deadline (None: no deadline); `sleep` waits (tests pass a fake clock's); `before_retry`
        hears of each failure that will be retried and of the wait before it. The last failure is re-raised
        as it was, never wrapped.
        """
        draw = rng or random.Random()

        def wait(state: tenacity.RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome is not None else None
            after = retry_after(failure) if failure is not None else None
            return self.delay(state.attempt_number, after, draw)

        def told(state: tenacity.RetryCallState) -> None:
            if before_retry is not None:
                failure = state.outcome.exception() if state.outcome is not None else None
                before_retry(failure, state.upcoming_sleep)

        def stop(state: tenacity.RetryCallState) -> bool:
            if self.max_retries is not None and state.attempt_number > self.max_retries:
                return True
            # tenacity computes the wait before asking to stop, so the whole wait is checked here.
            return remaining is not None and state.upcoming_sleep >= remaining()

        return tenacity.AsyncRetrying(
            retry=retry, wait=wait, stop=stop, sleep=sleep, before_sleep=told, reraise=True
        )


def for_llm(llm: sections.LlmSettings) -> RetryPolicy:
    """`[llm]`: half jitter, so the parts of a round that failed together do not retry together; a
    `Retry-After` is honoured whole, as the call's deadline bounds it."""
    return RetryPolicy(llm.max_retries, llm.retry_base_s, llm.retry_max_s, jitter=0.5)


def for_elasticsearch(es: sections.ElasticsearchSettings) -> RetryPolicy:
    """`[elasticsearch]`: full jitter, as every replica ships to one cluster; retried until stored (the
    bounded buffer and the shutdown flush's deadline are the limits)."""
    return RetryPolicy(None, es.retry_base_s, es.retry_max_s, jitter=1.0)


def for_discord(discord: sections.DiscordSettings) -> RetryPolicy:
    """`[discord]`: one sender per process, so no jitter; a `Retry-After` is waited at most `retry_max_s`."""
    return RetryPolicy(
        discord.max_attempts - 1,
        discord.retry_base_s,
        discord.retry_max_s,
        jitter=0.0,
        max_wait_s=discord.retry_max_s,
    )
