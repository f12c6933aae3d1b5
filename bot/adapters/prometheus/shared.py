"""Prometheus gauges of the state every replica shares, read from Redis when `/metrics` is scraped.

Queue sizes, running jobs, dead letters, spend against the caps and the breakers live in Redis, so every
replica reports the same totals. A scrape makes a bounded number of reads (one MULTI for the queue, one
GET per cap: the day, each configured repository and each running PR, one pipeline for the breakers)
under a timeout; when Redis does not answer, `quorum_shared_state_up` is 0 and these gauges are absent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.adapters.prometheus import gauges
from bot.errors import CoordinationUnavailable
from guardrails import admission, breaker, budget
from guardrails.clock import Clock, utc_day

log = logging.getLogger(__name__)
_MAX_REPOS = 50


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one scrape read."""

    counts: admission.QueueCounts
    spent: tuple[tuple[str, str, int], ...]  # (cap, scope, micro-USD)
    breakers: tuple[breaker.BreakerStatus, ...]


class SharedStateCollector(Collector):
    """Reads a `Snapshot` on `refresh` (async, before the registry is rendered) and yields it on `collect`."""

    def __init__(
        self,
        scheduler: admission.Scheduler,
        ledger: budget.BudgetLedger,
        breakers: breaker.CircuitBreakers | None,
        limits: budget.BudgetLimits,
        repositories: Sequence[str],
        clock: Clock,
        *,
        timeout_s: float = 2.0,
    ) -> None:
        self._scheduler, self._ledger, self._breakers = scheduler, ledger, breakers
        self._limits = limits
        self._repositories = tuple(repositories)[:_MAX_REPOS]
        self._clock = clock
        self._timeout_s = timeout_s
        self._snapshot: Snapshot | None = None

    async def refresh(self) -> None:
        """Read the shared state now; on a timeout or Redis failure, report it down."""
        try:
            async with asyncio.timeout(self._timeout_s):
                self._snapshot = await self._read()
        except (TimeoutError, CoordinationUnavailable) as exc:
            log.warning("metrics: shared state not read: %s", type(exc).__name__)
            self._snapshot = None

    async def _read(self) -> Snapshot:
        counts = await self._scheduler.counts()
        running = [job.job_id for job in await self._scheduler.running()]
        day = utc_day(self._clock)
        keys = [("day", "all", f"day:{day}")]
        keys += [("repo_day", repo, f"repo_day:{repo}:{day}") for repo in self._repositories]
        keys += [("pr", job, budget.pipeline_key(job)) for job in running]
        used = await asyncio.gather(*(self._ledger.used(key) for _, _, key in keys))
        states = await self._breakers.states() if self._breakers is not None else []
        spent = tuple((cap, scope, amount) for (cap, scope, _), amount in zip(keys, used, strict=True))
        return Snapshot(counts, spent, tuple(states))

    def describe(self) -> list[GaugeMetricFamily]:
        # Nothing to describe up front: `collect` is only meaningful after a refresh.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self._snapshot
        up = GaugeMetricFamily("quorum_shared_state_up", "1 when this scrape read the shared state in Redis.")
        up.add_metric([], 0 if snap is None else 1)
        yield up
        yield gauges.limits(self._limits)
        if snap is not None:
            yield from gauges.queue(snap.counts)
            yield gauges.spent(snap.spent)
            yield gauges.breakers(snap.breakers)
