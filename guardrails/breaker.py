"""Circuit breaker per provider and model: after N consecutive failures, or one over-billed call, no call
goes to the model until a cooldown passes; then exactly one caller (across replicas) probes it.

The rule is pure and lives here (`admit`, `observe`); the in-memory breakers apply it directly, the Redis
ones run the same rule in one Lua script per step, and a contract suite checks both behave alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Change(StrEnum):
    """What an observed outcome did to the breaker (for the metrics and alerts)."""

    NONE = "none"
    OPENED = "opened"
    CLOSED = "closed"


class Event(StrEnum):
    """What a call told the breaker: a success, a failure that counts, a trip that opens it at once, or
    that the admitted call was never sent (held back in this process), which says nothing of the model."""

    SUCCESS = "success"
    FAILURE = "failure"
    TRIP = "trip"
    UNSENT = "unsent"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """`failure_threshold` consecutive failures open a breaker for `cooldown_s`; a half-open probe that
    neither succeeds nor fails within `probe_ttl_s` (its caller died) lets the next caller probe."""

    failure_threshold: int = 5
    cooldown_s: float = 300.0
    probe_ttl_s: float = 1860.0


@dataclass(frozen=True, slots=True)
class Permit:
    """Whether a call may go to the model; `probe` when it is the one half-open trial call."""

    allowed: bool
    state: State
    probe: bool = False
    retry_at: float = 0.0  # refused: when the cooldown (or the running probe) ends, epoch seconds


@dataclass(frozen=True, slots=True)
class BreakerStatus:
    """One breaker as operators see it (`quorum doctor`, `quorum breaker list`, metrics, `/readyz`)."""

    name: str
    state: State
    failures: int = 0
    until: float = 0.0  # open: end of the cooldown; half-open: when the probe lapses (epoch seconds)
    reason: str = ""
    opened: int = 0  # how many times it opened


@dataclass(slots=True)
class Record:
    """The stored state of one breaker (what the Redis hash holds)."""

    state: State = State.CLOSED
    failures: int = 0
    until: float = 0.0
    probe: str = ""
    reason: str = ""
    opened: int = 0

    def status(self, name: str) -> BreakerStatus:
        return BreakerStatus(name, self.state, self.failures, self.until, self.reason, self.opened)


class CircuitBreakers(Protocol):
    """Breakers shared by every replica, keyed `provider/model`."""

    async def admit(self, name: str, token: str) -> Permit:
        """May a call identified by `token` go to the model now? Claims the probe when half-open is due."""
        ...

    async def observe(self, name: str, token: str, event: Event, reason: str = "") -> Change:
        """Record a call's outcome; say whether this event opened or closed the breaker."""
        ...

    async def reset(self, name: str) -> bool:
        """Close a breaker by hand (operator); False when it was already closed."""
        ...

    async def states(self) -> list[BreakerStatus]:
        """Every breaker that has ever recorded something, by name."""
        ...


def name_of(provider: str, model: str) -> str:
    """The breaker of one model behind one provider."""
    return f"{provider}/{model}"


def admit(rec: Record, token: str, now: float, policy: BreakerPolicy) -> Permit:
    """Apply the admission rule to `rec` (mutated when the probe is claimed)."""
    if rec.state is State.CLOSED:
        return Permit(True, State.CLOSED)
    if rec.state is State.HALF_OPEN and rec.probe == token:
        return Permit(True, State.HALF_OPEN, probe=True)  # the probe's own re-sent request
    if now < rec.until:
        return Permit(False, rec.state, retry_at=rec.until)
    # The cooldown is over (or the previous probe's caller vanished): this caller is the probe.
    rec.state, rec.probe, rec.until = State.HALF_OPEN, token, now + policy.probe_ttl_s
    return Permit(True, State.HALF_OPEN, probe=True)


def observe(rec: Record, token: str, event: Event, reason: str, now: float, policy: BreakerPolicy) -> Change:
    """Apply one call's outcome to `rec`; whether it opened or closed the breaker."""
    probing = rec.state is State.HALF_OPEN and rec.probe == token
    if event is Event.UNSENT:
        if probing:  # the probe gives its turn back: the next caller probes at once
            rec.probe, rec.until = "", now
        return Change.NONE
    if event is Event.TRIP or (event is Event.FAILURE and probing):
        return _open(rec, reason, now, policy)
    if event is Event.FAILURE and rec.state is State.CLOSED:
        rec.failures += 1
        if rec.failures >= policy.failure_threshold:
            return _open(rec, reason, now, policy)
        return Change.NONE
    if event is Event.SUCCESS and (probing or rec.state is State.CLOSED):
        # Calls that started before the breaker opened do not close it: only its probe does.
        rec.state, rec.failures, rec.until, rec.probe, rec.reason = State.CLOSED, 0, 0.0, "", ""
        return Change.CLOSED if probing else Change.NONE
    return Change.NONE


def _open(rec: Record, reason: str, now: float, policy: BreakerPolicy) -> Change:
    was_open = rec.state is State.OPEN
    rec.state, rec.until, rec.probe, rec.reason = State.OPEN, now + policy.cooldown_s, "", reason
    if was_open:
        return Change.NONE
    rec.opened += 1
    return Change.OPENED


def describe(status: BreakerStatus, now: float) -> str:
    """One line for operators: `openai/gpt-4o open for 240s more (usage_over_reservation)`."""
    if status.state is State.CLOSED:
        return f"{status.name} closed ({status.failures} failures in a row)"
    left = max(0.0, status.until - now)
    what = "open" if status.state is State.OPEN else "half-open, probe running"
    return f"{status.name} {what} for {left:.0f}s more ({status.reason or 'failures'})"


def not_closed(states: list[BreakerStatus], now: float) -> list[str]:
    """What a readiness check or `quorum doctor` reports: every breaker that is not closed, described."""
    return [describe(s, now) for s in states if s.state is not State.CLOSED]
