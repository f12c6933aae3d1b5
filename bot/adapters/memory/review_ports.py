"""In-memory budget ledger and query cache: the review side's stores, for the one-process mode and tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from guardrails import budget


class InMemoryBudgetLedger:
    """A `BudgetLedger` in one process: reserve is atomic under an asyncio lock. Alerts fire like the
    Redis ledger's: once per cap key and threshold."""

    def __init__(
        self,
        *,
        alert_percents: Sequence[int] = (),
        on_alert: Callable[[budget.BudgetAlert], None] = lambda alert: None,
    ) -> None:
        self._used: dict[str, int] = {}
        self._open: dict[str, budget.Reservation] = {}
        self._expires: dict[str, float] = {}
        self._settled: set[str] = set()
        self._lock = asyncio.Lock()
        self._percents = tuple(sorted(set(alert_percents)))
        self._on_alert = on_alert
        self._fired: set[tuple[str, int]] = set()

    def _charge(self, cap: budget.Cap, delta: int) -> None:
        used = self._used[cap.key] = self._used.get(cap.key, 0) + delta
        if delta <= 0 or cap.name not in budget.ALERT_CAPS:
            return
        for percent in budget.crossed(used, cap.limit_micro, self._percents):
            if (cap.key, percent) not in self._fired:
                self._fired.add((cap.key, percent))
                self._on_alert(budget.BudgetAlert(cap.name, cap.key, percent, used, cap.limit_micro))

    async def reserve(self, reservation: budget.Reservation) -> budget.BudgetDecision:
        async with self._lock:
            if reservation.id in self._open or reservation.id in self._settled:
                return budget.BudgetDecision(True)
            decision = budget.check(self._used, reservation)
            if decision.allowed:
                for cap in reservation.caps:
                    self._charge(cap, reservation.amount_micro)
                self._open[reservation.id] = reservation
                self._expires[reservation.id] = time.monotonic() + reservation.ttl_s
            return decision

    async def settle(self, reservation_id: str, actual_micro: int) -> bool:
        async with self._lock:
            reservation = self._open.pop(reservation_id, None)
            if reservation is None:
                return False
            del self._expires[reservation_id]
            self._settled.add(reservation_id)
            for cap in reservation.caps:
                self._charge(cap, actual_micro - reservation.amount_micro)
            return True

    async def used(self, key: str) -> int:
        return self._used.get(key, 0)

    async def counters(self, prefix: str, limit: int = 1000) -> dict[str, int]:
        return dict(sorted((k, v) for k, v in self._used.items() if k.startswith(prefix))[:limit])

    async def reap_expired(self) -> int:
        """Charge reservations of crashed callers in full: they stay at their estimate, and a late
        settle finds nothing."""
        async with self._lock:
            now = time.monotonic()
            dead = [rid for rid, at in self._expires.items() if at <= now]
            for rid in dead:
                del self._open[rid], self._expires[rid]
                self._settled.add(rid)
            return len(dead)


class InMemoryQueryCache:
    """A `QueryCache` with per-entry expiry on the monotonic clock."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, str]] = {}

    async def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    async def put(self, key: str, value: str, ttl_s: int) -> None:
        self._entries[key] = (time.monotonic() + ttl_s, value)
