"""Chaos run of the Redis scheduler with real processes: one line of figures, exit 1 on a broken invariant.

    python -m tests.chaos.scheduler --workers 4 --jobs 300 --repos 30 --kills 20

It starts its own redis-server (AOF on), enqueues the jobs (half of them from three hot repositories),
spawns worker processes (`tests.chaos.scheduler_worker`), SIGKILLs random workers and respawns them,
SIGSTOPs one holder past its lease and resumes it, and kill -9s and restarts redis-server once. Every job
spends budget through simulated LLM calls, and 50 more spenders start at once alongside the workers
(`tests.chaos.scheduler_budget`), all against small caps. An observer samples the running set and the
budget counters; at the end the audit stream, the counters and the workers' logs are checked.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import astuple, dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from bot import errors
from bot.adapters.redis import budget as redis_budget
from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import scheduler as redis_scheduler
from guardrails import budget
from tests.chaos import scheduler_budget as spending
from tests.chaos import scheduler_invariants as invariants
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]
KEYS = redis_conn.Keys("quorum")


@dataclass(frozen=True)
class Options:
    workers: int = 4
    jobs: int = 300
    repos: int = 30
    kills: int = 20
    slots: int = 3
    lease_s: float = 1.0
    latency: tuple[float, float] = (0.1, 0.4)
    max_global: int = 6
    max_repo: int = 2
    timeout_s: float = 300.0
    seed: int | None = None
    calls: int = 3
    reservation_ttl_s: float = 2.0


@dataclass
class Figures:
    jobs: int
    done: int = 0
    lost: int = 0
    double_runs: int = 0
    stale_writes_accepted: int = 0
    max_global: int = 0
    max_repo: int = 0
    budget_overshoot_micro: int = 0
    budget_refusals: int = 0
    budget_reaped: int = 0
    stale_writes_rejected: int = 0
    dead: int = 0
    kills: int = 0
    stops: int = 0
    redis_restarts: int = 0
    seconds: float = 0.0
    timed_out: bool = False
    samples: int = field(default=0, repr=False)
    budget_samples: int = field(default=0, repr=False)

    @property
    def budget_overshoot_usd(self) -> str:
        micro = max(0, self.budget_overshoot_micro)
        return "0" if micro == 0 else f"{micro / 1_000_000:.6f}"

    def line(self) -> str:
        names = ("jobs", "done", "lost", "double_runs", "stale_writes_accepted", "max_global", "max_repo",
                 "budget_overshoot_usd", "budget_refusals", "budget_reaped", "stale_writes_rejected", "dead",
                 "kills", "stops", "redis_restarts", "seconds")  # fmt: skip
        return " ".join(f"{name}={getattr(self, name)}" for name in names)

    def broken(self, options: Options) -> list[str]:
        checks = {
            "timed out": self.timed_out,
            "jobs not done": self.done != self.jobs,
            "jobs lost": self.lost != 0,
            "double runs": self.double_runs != 0,
            "stale writes accepted": self.stale_writes_accepted != 0,
            "global limit exceeded": self.max_global > options.max_global,
            "repo limit exceeded": self.max_repo > options.max_repo,
            "budget cap exceeded": self.budget_overshoot_micro > 0,
        }
        return [name for name, failed in checks.items() if failed]


class Chaos:
    """One run: the server, the worker processes, the observer and the schedule of faults."""

    def __init__(self, options: Options, server: RedisServer, logs: Path) -> None:
        self.options = options
        self.server = server
        self.logs = logs
        self.rng = random.Random(options.seed)
        self.client = redis_conn.client(server.url)
        self.workers: list[subprocess.Popen[bytes]] = []
        self.spawned = 0
        self.protected: set[int] = set()  # the stopped worker, until its zombie write is done
        self.figures = Figures(options.jobs)
        self.limits = spending.limits_for(options.jobs)
        self.day = time.strftime("%Y-%m-%d", time.gmtime())
        self.watch = spending.BudgetWatch(self.client, KEYS, self.limits)
        self.spent: asyncio.Task[Counter[str]] | None = None

    def spawn(self) -> None:
        o = self.options
        self.spawned += 1
        args = [sys.executable, "-m", "tests.chaos.scheduler_worker", self.server.url,
                str(self.logs / f"worker-{self.spawned:03d}.log"), "--slots", str(o.slots),
                "--lease-s", str(o.lease_s), "--latency-min", str(o.latency[0]),
                "--latency-max", str(o.latency[1]), "--max-global", str(o.max_global),
                "--max-repo", str(o.max_repo), "--calls", str(o.calls), "--day", self.day,
                "--reservation-ttl-s", str(o.reservation_ttl_s),
                "--caps", *(str(cap) for cap in astuple(self.limits))]  # fmt: skip
        self.workers.append(subprocess.Popen(args, cwd=ROOT))

    async def enqueue(self) -> None:
        scheduler = redis_scheduler.RedisScheduler(self.client, KEYS)
        hot = max(1, min(3, self.options.repos))
        for i in range(self.options.jobs):
            repo = (
                self.rng.randrange(hot) if self.rng.random() < 0.5 else self.rng.randrange(self.options.repos)
            )
            await scheduler.enqueue(f"chaos/r{repo}#{i + 1}", f"{i:040x}", f"delivery-{i}")

    async def remaining(self) -> int | None:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for part in ("pending", "delayed", "running"):
                    pipe.zcard(KEYS("q", part))
                counts = await pipe.execute()
        except (errors.CoordinationUnavailable, ConnectionError, OSError, aioredis.RedisError):
            return None
        return int(sum(counts))

    async def observe(self) -> None:
        """Sample the running set: never more than the limits, globally and per repository."""
        while True:
            try:
                running = await self.client.zrange(KEYS("q", "running"), 0, -1)
            except (ConnectionError, OSError, aioredis.RedisError):
                await asyncio.sleep(0.02)
                continue
            repos = [job.rsplit("#", 1)[0] for job in running]
            figures = self.figures
            figures.samples += 1
            figures.max_global = max(figures.max_global, len(running))
            figures.max_repo = max([figures.max_repo, *(repos.count(r) for r in set(repos))])
            await asyncio.sleep(0.005)

    def kill_one(self) -> None:
        candidates = [w for w in self.workers if w.poll() is None and w.pid not in self.protected]
        if not candidates:
            return
        victim = self.rng.choice(candidates)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.figures.kills += 1
        self.spawn()

    async def stop_one_holder(self) -> bool:
        """SIGSTOP a worker holding a lease for three lease lengths, then SIGCONT it."""
        held = await self.client.hgetall(KEYS("q", "lease"))
        tokens = {value for name, value in held.items() if name.endswith("|token")}
        for index, worker in enumerate(self.workers):
            log = self.logs / f"worker-{index + 1:03d}.log"
            text = log.read_text() if log.exists() else ""
            if worker.poll() is None and any(token in text for token in tokens):
                self.protected.add(worker.pid)
                worker.send_signal(signal.SIGSTOP)
                self.figures.stops += 1
                await asyncio.sleep(self.options.lease_s * 3 + 0.5)
                worker.send_signal(signal.SIGCONT)
                await asyncio.sleep(1.5)  # let the zombie try its stale write before anything else
                self.protected.discard(worker.pid)
                return True
        return False

    async def restart_redis(self) -> None:
        await asyncio.to_thread(self.server.stop, kill=True)
        await asyncio.to_thread(self.server.start)
        self.figures.redis_restarts += 1

    async def faults(self) -> None:
        """Drive the faults by progress until every job is done (or the time is up)."""
        o = self.options
        kill_at = [0.05 + 0.8 * (k + 1) / (o.kills + 1) for k in range(o.kills)]
        stopper: asyncio.Task[bool] | None = None
        started = time.monotonic()
        while time.monotonic() - started < o.timeout_s:
            await asyncio.sleep(0.05)
            remaining = await self.remaining()
            if remaining is None:
                continue
            progress = 1 - remaining / o.jobs
            if kill_at and progress >= kill_at[0]:
                kill_at.pop(0)
                self.kill_one()
            if stopper is None and progress >= 0.3:
                stopper = asyncio.create_task(self.stop_one_holder())
            elif stopper is not None and stopper.done() and not stopper.result():
                stopper = None  # nobody held a lease at that instant: try again
            if not self.figures.redis_restarts and progress >= 0.5:
                await self.restart_redis()
            if remaining == 0 and not kill_at and stopper is not None and stopper.done():
                return
        self.figures.timed_out = True

    async def run(self) -> Figures:
        started = time.monotonic()
        await self.enqueue()
        for _ in range(self.options.workers):
            self.spawn()
        observers = [asyncio.create_task(self.observe()), asyncio.create_task(self.watch.watch())]
        spend = spending.Spend(
            budget.BudgetScope(spending.SPENDER_REPO, "", 0),
            self.limits,
            self.day,
            self.options.reservation_ttl_s,
        )
        self.spent = asyncio.create_task(
            spending.spenders(self.server.url, KEYS, spend, seed=self.options.seed)
        )
        try:
            await self.faults()
        finally:
            for observer in observers:
                observer.cancel()
            for worker in self.workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGKILL)
                worker.wait()
        await self.judge()
        await self.judge_budget()
        self.figures.seconds = round(time.monotonic() - started, 1)
        await self.client.aclose()
        return self.figures

    async def judge(self) -> None:
        events = [fields for _, fields in await self.client.xrange(KEYS("q", "audit"))]
        audit = invariants.replay(events)
        logs = invariants.read_logs(self.logs)
        figures = self.figures
        figures.max_global = max(figures.max_global, audit.max_global)
        figures.max_repo = max(figures.max_repo, audit.max_repo)
        figures.done = len(audit.done)
        double_done = sum(count - 1 for count in audit.done.values())
        figures.double_runs = audit.double_claims + double_done + invariants.live_overlaps(logs)
        accepted, rejected = invariants.stale_writes(logs, audit)
        figures.stale_writes_accepted, figures.stale_writes_rejected = accepted, rejected
        figures.dead = int(await self.client.zcard(KEYS("q", "dead")))
        queued = await self.remaining() or 0
        figures.lost = figures.jobs - figures.done - figures.dead - queued

    async def judge_budget(self) -> None:
        """Spenders done, every reservation left by a killed worker reaped, the counters read once more."""
        assert self.spent is not None
        outcomes = await self.spent
        logs = invariants.read_logs(self.logs)
        await asyncio.sleep(self.options.reservation_ttl_s)
        reaped = await redis_budget.RedisBudgetLedger(self.client, KEYS).reap_expired()
        await self.watch.sample()
        figures = self.figures
        figures.budget_overshoot_micro = self.watch.overshoot_micro
        figures.budget_samples = self.watch.samples
        refused = sum(1 for e in logs if e["ev"] == "spend" and e["result"] == "refused")
        figures.budget_refusals = refused + outcomes["refused"]
        figures.budget_reaped = reaped + sum(e["n"] for e in logs if e["ev"] == "reap")


async def run(options: Options) -> Figures:
    """Start a server in a temporary directory, run the chaos, stop everything."""
    with tempfile.TemporaryDirectory(prefix="quorum-chaos-") as tmp:
        data, logs = Path(tmp, "redis"), Path(tmp, "logs")
        data.mkdir()
        logs.mkdir()
        server = RedisServer(data, appendonly=True)
        server.start()
        try:
            return await Chaos(options, server, logs).run()
        finally:
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("workers", 4), ("jobs", 300), ("repos", 30), ("kills", 20), ("slots", 3)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--lease-s", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout-s", type=float, default=300.0)
    ns = parser.parse_args(argv)
    options = Options(ns.workers, ns.jobs, ns.repos, ns.kills, ns.slots, ns.lease_s, seed=ns.seed,
                      timeout_s=ns.timeout_s)  # fmt: skip
    # The final reap warns once per reservation a killed worker left; the figures line says how many.
    logging.basicConfig(level=logging.ERROR)
    figures = asyncio.run(run(options))
    print(figures.line())
    broken = figures.broken(options)
    if broken:
        print("broken: " + ", ".join(broken), file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
