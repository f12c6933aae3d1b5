"""Claim + finish cycles per second, as a ratio to raw `SET NX` + `DEL` round trips on the same server.

    python -m tests.bench.bench_scheduler [--cycles 2000]

Starts its own redis-server (AOF on, as in production), measures raw round trips before and after the
scheduler cycles, and prints one line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import scheduler as redis_scheduler
from guardrails import admission
from tests.support.redis_server import RedisServer


@dataclass(frozen=True)
class BenchFigures:
    cycles: int
    claim_finish_per_s: float
    set_nx_del_per_s: float

    @property
    def ratio(self) -> float:
        return self.claim_finish_per_s / self.set_nx_del_per_s

    def line(self) -> str:
        return (
            f"cycles={self.cycles} claim_finish_per_s={self.claim_finish_per_s:.0f} "
            f"set_nx_del_per_s={self.set_nx_del_per_s:.0f} ratio={self.ratio:.2f}"
        )


async def raw_round_trips(url: str, n: int) -> float:
    """SET NX PX + DEL pairs per second, one after the other from one task."""
    client = redis_conn.client(url)
    started = time.perf_counter()
    for i in range(n):
        await client.set("bench:lock", str(i), nx=True, px=30_000)
        await client.delete("bench:lock")
    elapsed = time.perf_counter() - started
    await client.aclose()
    return n / elapsed


async def claim_finish_cycles(url: str, n: int) -> float:
    """Claim + finish(done) cycles per second over `n` queued jobs, one after the other from one task."""
    client = redis_conn.client(url)
    limits = admission.Limits(max_concurrent_agents=n, max_per_repo=n)
    scheduler = redis_scheduler.RedisScheduler(client, redis_conn.Keys("bench"), limits=limits)
    for i in range(n):
        await scheduler.enqueue(f"bench/r{i % 50}#{i + 1}", f"{i:040x}")
    started = time.perf_counter()
    for i in range(n):
        claim = await scheduler.claim(f"claim-{i}")
        assert claim is not None
        await scheduler.finish(claim, admission.FinishOutcome.DONE)
    elapsed = time.perf_counter() - started
    await client.aclose()
    return n / elapsed


async def measure(url: str, cycles: int) -> BenchFigures:
    """Raw, scheduler, raw again: the raw figure is the mean of both, to even out drift."""
    await raw_round_trips(url, min(cycles, 200))  # warm up connections and the server
    before = await raw_round_trips(url, cycles)
    scheduler = await claim_finish_cycles(url, cycles)
    after = await raw_round_trips(url, cycles)
    return BenchFigures(cycles, scheduler, (before + after) / 2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=2000)
    cycles = parser.parse_args(argv).cycles
    with tempfile.TemporaryDirectory(prefix="quorum-bench-") as tmp:
        server = RedisServer(Path(tmp), appendonly=True)
        server.start()
        try:
            figures = asyncio.run(measure(server.url, cycles))
        finally:
            server.stop()
    print(figures.line())


if __name__ == "__main__":
    main()
