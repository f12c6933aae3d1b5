"""Bench: budget reserve + settle pairs per second, as a ratio to raw SET NX + DEL round trips.

Run `python -m tests.bench.bench_budget [--iterations N]`: it starts its own redis-server on a free
loopback port, measures both loops from one task over one connection, alternating in rounds so drift
hits both alike, and prints one line.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from bot.adapters.redis import budget as redis_budget
from bot.adapters.redis import conn as redis_conn
from guardrails import budget
from tests.support.redis_server import RedisServer

_ROUNDS = 3
_UNLIMITED = 10**15


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Rates measured in one run against one server."""

    reserve_settle_per_s: float
    set_nx_del_per_s: float
    iterations: int
    server: str

    @property
    def ratio(self) -> float:
        """Reserve + settle pairs per raw SET NX + DEL pair."""
        return self.reserve_settle_per_s / self.set_nx_del_per_s

    def line(self) -> str:
        """The one line the command prints."""
        return (
            f"reserve_settle_per_s={self.reserve_settle_per_s:.0f} "
            f"set_nx_del_per_s={self.set_nx_del_per_s:.0f} ratio={self.ratio:.3f} "
            f"caps=4 iterations={self.iterations} redis={self.server}"
        )


async def _ledger_pairs(
    ledger: redis_budget.RedisBudgetLedger, caps: tuple[budget.Cap, ...], n: int
) -> float:
    run = uuid.uuid4().hex[:8]
    start = time.perf_counter()
    for i in range(n):
        rid = f"bench-{run}-{i}"
        await ledger.reserve(budget.Reservation(rid, 1_000, caps, ttl_s=60))
        await ledger.settle(rid, 600)
    return time.perf_counter() - start


async def _raw_pairs(redis: aioredis.Redis, n: int) -> float:
    key = "{bench}:lock"
    start = time.perf_counter()
    for i in range(n):
        await redis.set(key, i, nx=True, px=10_000)
        await redis.delete(key)
    return time.perf_counter() - start


async def measure(url: str, iterations: int) -> BenchResult:
    """Time `iterations` reserve+settle pairs over four caps and as many SET NX + DEL pairs."""
    redis = redis_conn.client(url)
    try:
        version = await redis_conn.check_server(redis)
        ledger = redis_budget.RedisBudgetLedger(redis, redis_conn.Keys("bench"))
        limits = budget.BudgetLimits(_UNLIMITED, _UNLIMITED, _UNLIMITED, _UNLIMITED)
        caps = budget.caps_for(budget.BudgetScope("bench/repo", "bench/repo#1", 0), limits, "2024-01-01")
        await _ledger_pairs(ledger, caps, 10)  # loads the scripts and opens the connection
        await _raw_pairs(redis, 10)
        per_round = max(1, iterations // _ROUNDS)
        ledger_s = raw_s = 0.0
        for _ in range(_ROUNDS):
            raw_s += await _raw_pairs(redis, per_round)
            ledger_s += await _ledger_pairs(ledger, caps, per_round)
    finally:
        await redis.aclose()
    total = per_round * _ROUNDS
    return BenchResult(total / ledger_s, total / raw_s, total, ".".join(map(str, version)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--iterations", type=int, default=6_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="quorum-bench-") as data_dir:
        server = RedisServer(Path(data_dir))
        server.start()
        try:
            result = asyncio.run(measure(server.url, args.iterations))
        finally:
            server.stop()
    print(result.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
