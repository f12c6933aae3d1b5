"""Deadlines: every LLM call, round and review job runs under `asyncio.timeout`.

A scope's expiry cancels the work inside it and surfaces as `DeadlineExceeded` naming the scope, so the
caller ends the review as escalated with reason `timeout`. Nested scopes: the nearest deadline wins and
only the scope that expired converts the cancellation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.errors import DeadlineExceeded
from guardrails.clock import Clock


@dataclass(frozen=True, slots=True)
class Deadline:
    """An absolute point on the monotonic clock, with the scope it bounds."""

    scope: str
    at: float
    seconds: float

    @classmethod
    def after(cls, clock: Clock, scope: str, seconds: float) -> Deadline:
        return cls(scope, clock.monotonic() + seconds, seconds)

    def remaining(self, clock: Clock) -> float:
        return max(0.0, self.at - clock.monotonic())

    def expired(self, clock: Clock) -> bool:
        return self.remaining(clock) <= 0.0


def nearest(*deadlines: Deadline) -> Deadline:
    """The deadline that comes first."""
    return min(deadlines, key=lambda d: d.at)


@asynccontextmanager
async def enforce(deadline: Deadline, clock: Clock) -> AsyncIterator[None]:
    """Run the body until `deadline`; past it, cancel the body and raise `DeadlineExceeded`."""
    remaining = deadline.remaining(clock)
    if remaining <= 0:
        raise DeadlineExceeded(
            f"{deadline.scope} deadline of {deadline.seconds:g}s already passed",
            scope=deadline.scope,
            seconds=deadline.seconds,
        )
    try:
        async with asyncio.timeout(remaining):
            yield
    except TimeoutError as exc:
        raise DeadlineExceeded(
            f"{deadline.scope} took longer than its deadline of {deadline.seconds:g}s",
            scope=deadline.scope,
            seconds=deadline.seconds,
        ) from exc
