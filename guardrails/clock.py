"""The clock port: wall time for days and audit, monotonic time for deadlines."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Time as the guardrails see it; tests drive a fake one."""

    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never steps back."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


def utc_day(clock: Clock) -> str:
    """The UTC day a charge belongs to, as YYYY-MM-DD."""
    return datetime.fromtimestamp(clock.now(), tz=UTC).strftime("%Y-%m-%d")
