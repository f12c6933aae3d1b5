"""A clock that moves only when a test says so: wall and monotonic time for the `guardrails.clock.Clock`
port, and a plain `time()` for adapters that take a `now` callable."""

from __future__ import annotations

import time


class FakeClock:
    """Starts at the real time (so absolute expiries from a fake server still make sense) and then stands
    still until `advance`."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._monotonic = 1_000.0

    def now(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._now += seconds
        self._monotonic += seconds
