"""The health of `quorum serve`'s dependencies, for `/readyz`: what each part last saw of what it uses.

Readiness means "webhooks are acknowledged and kept", and that needs Redis only: GitHub, the model,
Elasticsearch and Discord may be down while deliveries are queued for later, so they make the report
"degraded", never "not ready". A probe is any `async () -> DependencyState`; more can be added (for
example the circuit breakers' states) without touching the HTTP edge.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from guardrails.clock import Clock, SystemClock

log = logging.getLogger(__name__)
REQUIRED = "redis"  # the one dependency intake needs


@dataclass(frozen=True, slots=True)
class DependencyState:
    """One dependency as last seen: up (None: not used yet), since when (epoch s), and why not."""

    up: bool | None
    detail: str = ""
    since: float = 0.0

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"up": self.up}
        if self.detail:
            out["detail"] = self.detail
        if self.since:
            out["since"] = round(self.since, 3)
        return out


Probe = Callable[[], Awaitable[DependencyState]]


@dataclass(frozen=True, slots=True)
class Report:
    """The readiness page: ready when every required dependency is up; `down` names the others."""

    dependencies: Mapping[str, DependencyState]
    required: frozenset[str] = field(default_factory=lambda: frozenset({REQUIRED}))

    @property
    def ready(self) -> bool:
        return all(self.dependencies.get(name, DependencyState(False)).up for name in self.required)

    @property
    def down(self) -> list[str]:
        return sorted(name for name, state in self.dependencies.items() if state.up is False)

    def to_json(self) -> dict[str, object]:
        status = "not ready" if not self.ready else "degraded" if self.down else "ready"
        deps = {name: state.to_json() for name, state in sorted(self.dependencies.items())}
        return {"status": status, "down": self.down, "dependencies": deps}


class Health:
    """Dependency states shared by the parts of one process; each part marks what it saw."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._states: dict[str, DependencyState] = {}
        self._changed: dict[str, asyncio.Event] = {}

    def mark(self, name: str, up: bool, detail: str = "") -> None:
        """Record what a call to `name` just showed; a change of state is logged once."""
        before = self._states.get(name)
        since = before.since if before is not None and before.up == up else self._clock.now()
        self._states[name] = DependencyState(up, "" if up else detail[:300], since)
        if before is None or before.up != up:
            level = logging.INFO if up else logging.WARNING
            log.log(level, "%s is %s%s", name, "up" if up else "down", "" if up else f": {detail[:300]}")
            self._event(name).set()

    def state(self, name: str) -> DependencyState:
        return self._states.get(name, DependencyState(None))

    def probe(self, name: str) -> Probe:
        """A probe that reports the last state marked for `name`."""

        async def read() -> DependencyState:
            return self.state(name)

        return read

    async def changed(self, name: str) -> None:
        """Wait for the next change of `name`'s state."""
        event = self._event(name)
        event.clear()
        await event.wait()

    def _event(self, name: str) -> asyncio.Event:
        return self._changed.setdefault(name, asyncio.Event())


async def report(probes: Mapping[str, Probe], timeout_s: float = 2.0) -> Report:
    """Run every probe at once under `timeout_s`; a probe that fails or hangs reports its dependency down."""

    async def one(probe: Probe) -> DependencyState:
        try:
            async with asyncio.timeout(timeout_s):
                return await probe()
        except Exception as exc:  # a probe that fails says "down", it does not break the page
            return DependencyState(False, type(exc).__name__)

    names = list(probes)
    states = await asyncio.gather(*(one(probes[n]) for n in names))
    return Report(dict(zip(names, states, strict=True)))


@dataclass(slots=True)
class Backoff:
    """Bounded exponential backoff, each wait jittered between half and all of its step, up to `cap_s`."""

    base_s: float = 1.0
    cap_s: float = 60.0
    failures: int = 0

    def next_delay(self) -> float:
        """The wait after one more failure."""
        self.failures += 1
        ceiling = min(self.cap_s, self.base_s * 2 ** min(self.failures - 1, 30))
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.failures = 0
