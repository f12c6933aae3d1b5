"""Budget in the chaos run: simulated LLM calls that reserve and settle, 50 spenders at once, the cap watch.

Every call reserves an upper bound against the four caps (`budget.caps_for`) on `RedisBudgetLedger`,
"runs" for a while, then settles to a random actual no higher than the estimate. A caller killed mid-call
leaves its reservation to `reap_expired`. The watch reads every counter while the run goes on and at the
end, and keeps the largest amount any counter stood above its cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import Counter
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot import errors
from bot.adapters.redis import budget as redis_budget
from bot.adapters.redis import conn as redis_conn
from guardrails import budget

ESTIMATE_MICRO = (1_000, 5_000)
SPENDERS = 50
SPENDER_CYCLES = 8
SPENDER_REPO = "chaos/spenders"
REPO_DAY_MICRO = 100_000


def limits_for(jobs: int) -> budget.BudgetLimits:
    """Small caps, so every kind refuses: a job wants 3 calls of 1000-5000, the day far less than all want."""
    # The spenders' repository fills its repo-day cap; the workers' share of the day is ~2500 per job,
    # about half of what a job settles on average, so the day cap is reached mid-run.
    return budget.BudgetLimits(
        per_round=6_000, per_pr=10_000, per_repo_day=REPO_DAY_MICRO, per_day=REPO_DAY_MICRO + 2_500 * jobs
    )


@dataclass(frozen=True)
class Spend:
    """Where and how one simulated call spends."""

    scope: budget.BudgetScope
    limits: budget.BudgetLimits
    day: str
    ttl_s: float


async def spend_once(
    ledger: budget.BudgetLedger, spend: Spend, rng: random.Random, latency: tuple[float, float]
) -> str:
    """One call: reserve, wait the latency, settle to a random actual; return the outcome's name."""
    estimate = rng.randint(*ESTIMATE_MICRO)
    caps = budget.caps_for(spend.scope, spend.limits, spend.day)
    reservation = budget.Reservation(uuid.uuid4().hex, estimate, caps, spend.ttl_s)
    try:
        decision = await ledger.reserve(reservation)
    except errors.CoordinationUnavailable:
        return "unavailable"  # fail closed: no call without a reservation
    if not decision.allowed:
        return "refused"
    await asyncio.sleep(rng.uniform(*latency))
    try:
        settled = await ledger.settle(reservation.id, rng.randint(0, estimate))
    except errors.CoordinationUnavailable:
        return "unsettled"  # the reaper charges it in full
    return "settled" if settled else "unsettled"


async def spenders(url: str, keys: redis_conn.Keys, spend: Spend, *, seed: int | None) -> Counter[str]:
    """`SPENDERS` tasks on one client, released at once, each making `SPENDER_CYCLES` calls."""
    client = redis_conn.client(url, socket_timeout=2.0)
    ledger = redis_budget.RedisBudgetLedger(client, keys)
    outcomes: Counter[str] = Counter()
    go = asyncio.Event()

    async def spender(index: int) -> None:
        rng = random.Random(None if seed is None else seed * 1000 + index)
        scope = budget.BudgetScope(SPENDER_REPO, f"{SPENDER_REPO}#{index + 1}", 0)
        await go.wait()
        for cycle in range(SPENDER_CYCLES):
            call = Spend(
                budget.BudgetScope(scope.repo, scope.job, cycle), spend.limits, spend.day, spend.ttl_s
            )
            outcomes[await spend_once(ledger, call, rng, (0.01, 0.08))] += 1

    try:
        async with asyncio.TaskGroup() as group:
            for index in range(SPENDERS):
                group.create_task(spender(index))
            go.set()
    finally:
        await client.aclose()
    return outcomes


class BudgetWatch:
    """Samples every budget counter; `overshoot_micro` is the most any stood above its cap (floored at 0)."""

    def __init__(self, client: aioredis.Redis, keys: redis_conn.Keys, limits: budget.BudgetLimits) -> None:
        self._client = client
        self._prefix = keys("budget", "")
        self._records = {keys("budget", "res"), keys("budget", "res_exp")}
        self._limits = {
            "round": limits.per_round,
            "pr": limits.per_pr,
            "repo_day": limits.per_repo_day,
            "day": limits.per_day,
        }
        self.overshoot_micro = 0
        self.samples = 0
        self.counters = 0

    async def sample(self) -> None:
        """Read every counter once (each value is one the counter really had)."""
        names = [
            name
            async for name in self._client.scan_iter(match=self._prefix + "*", count=1000)
            if name not in self._records
        ]
        values = await self._client.mget(names) if names else []
        for name, value in zip(names, values, strict=True):
            kind = name[len(self._prefix) :].split(":", 1)[0]
            if value is not None:
                self.overshoot_micro = max(self.overshoot_micro, int(value) - self._limits[kind])
        self.samples += 1
        self.counters = max(self.counters, len(names))

    async def watch(self, interval_s: float = 0.05) -> None:
        """Sample until cancelled; a sample lost to a Redis restart is skipped."""
        while True:
            # A sample lost to the Redis restart is skipped: the next one reads the same counters.
            with contextlib.suppress(ConnectionError, OSError, aioredis.RedisError):
                await self.sample()
            await asyncio.sleep(interval_s)
