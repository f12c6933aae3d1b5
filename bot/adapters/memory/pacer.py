"""GitHub write pacing in one process (local mode, the Action, tests): the rule of `guardrails.pacing`."""

from __future__ import annotations

import time
from collections.abc import Callable

from guardrails import pacing


class InMemoryWritePacer:
    """A `WritePacer` for one process; each step runs without awaiting, so it is atomic."""

    def __init__(
        self, policy: pacing.PacingPolicy | None = None, now: Callable[[], float] = time.time
    ) -> None:
        self._policy = policy or pacing.PacingPolicy()
        self._now = now
        self._pace = pacing.Pace()

    async def claim(self, token: str) -> float:
        return pacing.claim(self._pace, token, self._now(), self._policy)

    async def release(self, token: str) -> None:
        pacing.release(self._pace, token, self._now(), self._policy)

    async def block(self, seconds: float) -> None:
        pacing.block(self._pace, seconds, self._now())

    async def blocked(self) -> float:
        return pacing.blocked(self._pace, self._now())
