"""The clock port: wall time for days and audit, monotonic time for deadlines, and waiting on it.

Everything that waits for time to pass (lease renewals, the monitor's sweeps) sleeps on the clock it was
given, so tests drive time with `tests/support/clock.py`'s `FakeClock` instead of sleeping on the wall.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Time as the guardrails see it; tests drive `FakeClock` (tests/support/clock.py), which moves only
    when told to."""

    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never steps back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return once `seconds` have passed on this clock."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def utc_day(clock: Clock) -> str:
    """The UTC day a charge belongs to, as YYYY-MM-DD."""
    return datetime.fromtimestamp(clock.now(), tz=UTC).strftime("%Y-%m-%d")
