"""Circuit breakers in one process (local mode, tests): the rule of `guardrails.breaker` on a dict."""

from __future__ import annotations

from guardrails import breaker
from guardrails.clock import Clock, SystemClock


class InMemoryCircuitBreakers:
    """A `CircuitBreakers` for one process; each step runs without awaiting, so it is atomic."""

    def __init__(self, policy: breaker.BreakerPolicy | None = None, clock: Clock | None = None) -> None:
        self._policy = policy or breaker.BreakerPolicy()
        self._clock = clock or SystemClock()
        self._records: dict[str, breaker.Record] = {}

    async def admit(self, name: str, token: str) -> breaker.Permit:
        rec = self._records.get(name)
        if rec is None:
            return breaker.Permit(True, breaker.State.CLOSED)
        return breaker.admit(rec, token, self._clock.now(), self._policy)

    async def observe(self, name: str, token: str, event: breaker.Event, reason: str = "") -> breaker.Change:
        if name not in self._records and event in (breaker.Event.SUCCESS, breaker.Event.UNSENT):
            return breaker.Change.NONE  # as on Redis: a model that never failed leaves no record
        rec = self._records.setdefault(name, breaker.Record())
        return breaker.observe(rec, token, event, reason, self._clock.now(), self._policy)

    async def reset(self, name: str) -> bool:
        rec = self._records.get(name)
        if rec is None or (rec.state is breaker.State.CLOSED and rec.failures == 0):
            return False
        self._records[name] = breaker.Record(opened=rec.opened)
        return True

    async def states(self) -> list[breaker.BreakerStatus]:
        return [self._records[name].status(name) for name in sorted(self._records)]
