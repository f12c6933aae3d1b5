"""A clock that moves only when a test says so: wall and monotonic time and sleeping for the
`guardrails.clock.Clock` port, and a plain `time()` for adapters that take a `now` callable.

`sleep` waits until the test moves the clock past its end: `advance` jumps, `run_for` walks time forward
timer by timer and lets every woken task run before the next step, so what happens in N seconds of
renewals or sweeps happens in milliseconds and always the same way. `skip` is a sleep that moves the
clock itself, for a lone waiter such as a retry loop.
"""

from __future__ import annotations

import asyncio
import time


class FakeClock:
    """Starts at the real time (so absolute expiries from a fake server still make sense) and then stands
    still until `advance`."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._monotonic = 1_000.0
        self._timers: list[tuple[float, asyncio.Future[None]]] = []
        self.slept: list[float] = []  # every wait passed to `skip`, in order

    def now(self) -> float:
        return self._now

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both clocks forward and wake every sleeper whose time has come."""
        self._now += seconds
        self._monotonic += seconds
        due = [(end, wake) for end, wake in self._timers if end <= self._monotonic + 1e-9]
        for timer in due:
            self._timers.remove(timer)
            if not timer[1].done():
                timer[1].set_result(None)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        self._timers.append((self._monotonic + seconds, wake))
        await wake

    async def skip(self, seconds: float) -> None:
        """A sleep that does not wait for the test: note the wait in `slept`, move the clock past it at once
        (waking any sleeper due by then) and give other tasks a turn. For a task that is the only one
        waiting, such as a retry loop between two requests to a fake server."""
        self.slept.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    async def run_for(self, seconds: float) -> None:
        """Let `seconds` pass: jump to each sleeper's end in turn, letting woken tasks run in between."""
        end = self._monotonic + seconds
        while True:
            await _settle()
            pending = [t for t, wake in self._timers if not wake.done() and t <= end + 1e-9]
            step_to = min(pending, default=end)
            self.advance(max(0.0, step_to - self._monotonic))
            if not pending:
                await _settle()
                return


async def _settle() -> None:
    """Give every ready task a few turns of the loop (a woken task may wake another)."""
    for _ in range(10):
        await asyncio.sleep(0)
