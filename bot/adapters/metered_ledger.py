"""A budget ledger that reports each cap's state after every settlement (the budget utilisation panel).

It wraps the real ledger: reserve and settle go through unchanged, then the counters of the settled
reservation's caps are read back and emitted as `budget_state` documents. A failed read loses a sample,
never a settlement: the ledger's answer is what the review path sees.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot import telemetry
from bot.errors import CoordinationUnavailable
from bot.ports import MetricsSink
from guardrails import budget

log = logging.getLogger(__name__)


class MeteredBudgetLedger:
    """A `BudgetReaper` over `inner` that emits one `budget_state` document per cap per settlement."""

    def __init__(
        self,
        inner: budget.BudgetReaper,
        metrics: MetricsSink,
        now: Callable[[], float],
        context: Callable[[], telemetry.DocContext],
    ) -> None:
        self._inner = inner
        self._metrics = metrics
        self._now = now
        self._context = context
        # Caps of this process's open reservations, forgotten at settlement.
        self._caps: dict[str, tuple[budget.Cap, ...]] = {}

    async def reserve(self, reservation: budget.Reservation) -> budget.BudgetDecision:
        decision = await self._inner.reserve(reservation)
        if decision.allowed:
            self._caps[reservation.id] = reservation.caps
        return decision

    async def settle(self, reservation_id: str, actual_micro: int) -> bool:
        settled = await self._inner.settle(reservation_id, actual_micro)
        caps = self._caps.pop(reservation_id, ())
        if settled and caps:
            await self._report(caps)
        return settled

    async def used(self, key: str) -> int:
        return await self._inner.used(key)

    async def counters(self, prefix: str, limit: int = 1000) -> dict[str, int]:
        return await self._inner.counters(prefix, limit)

    async def reap_expired(self) -> int:
        return await self._inner.reap_expired()

    async def _report(self, caps: tuple[budget.Cap, ...]) -> None:
        ctx, at = self._context(), self._now()
        for cap in caps:
            try:
                used = await self._inner.used(cap.key)
            except CoordinationUnavailable as exc:
                log.warning("budget state of %s not sampled: %s", cap.name, exc.message)
                return
            self._metrics.emit("budget_state", telemetry.budget_doc(cap, used, ctx, at=at))
