"""One chaos worker process: claim → hold the lease → simulated LLM calls → fenced write → finish.

Each job makes `--calls` concurrent simulated LLM calls, each reserving and settling budget on Redis; a
refused call is skipped and the job goes on. A task reaps expired reservations, as the monitor would.
Every claim, spend, write and end is logged as a JSON line (local wall time) for the observer. A holder
that loses its lease still tries one write with its old fence, as a zombie would: that write must be
refused.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import time
import uuid
from typing import IO, Any

from bot import errors
from bot.adapters.redis import budget as redis_budget
from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import scheduler as redis_scheduler
from bot.adapters.redis import state as redis_state
from guardrails import admission, budget, lease
from statemachine import records
from tests.chaos import scheduler_budget as spending


class Worker:
    """`slots` concurrent job loops sharing one client."""

    def __init__(self, args: argparse.Namespace, log: IO[str]) -> None:
        self.args = args
        self.log = log
        self.rng = random.Random()
        self.client = redis_conn.client(args.url, socket_timeout=2.0)
        keys = redis_conn.Keys("quorum")
        self.scheduler = redis_scheduler.RedisScheduler(
            self.client,
            keys,
            limits=admission.Limits(args.max_global, args.max_repo),
            policy=lease.LeasePolicy(ttl_s=args.lease_s, max_hold_s=600.0),
            backoff=admission.Backoff(max_attempts=50, base_s=0.05, cap_s=0.2),
            max_block_s=1.0,
            audit_cap=1_000_000,
        )
        self.store = redis_state.RedisStateStore(self.client, keys)
        self.ledger = redis_budget.RedisBudgetLedger(self.client, keys)
        self.limits = budget.BudgetLimits(*args.caps)

    def emit(self, event: str, **fields: Any) -> None:
        self.log.write(json.dumps({"ev": event, "t": time.time(), **fields}) + "\n")

    async def slot(self) -> None:
        while True:
            try:
                claim = await self.scheduler.claim(uuid.uuid4().hex)
                if claim is None:
                    await self.scheduler.wait_for_work(1.0)
                    continue
            except errors.CoordinationUnavailable:
                await asyncio.sleep(0.05)
                continue
            self.emit("claim", job=claim.job.id, token=claim.token, fence=claim.fence)
            await self.run(claim)

    async def reap(self) -> None:
        """Charge reservations left by killed workers, every half second."""
        while True:
            await asyncio.sleep(0.5)
            try:
                reaped = await self.ledger.reap_expired()
            except errors.CoordinationUnavailable:
                continue
            if reaped:
                self.emit("reap", n=reaped)

    async def call(self, claim: admission.Claim, index: int) -> None:
        # Two calls share round 0, the third is round 1: the round cap refuses some pairs.
        scope = budget.BudgetScope(claim.job.repo, claim.job.id, index // 2)
        spend = spending.Spend(scope, self.limits, self.args.day, self.args.reservation_ttl_s)
        latency = (self.args.latency_min, self.args.latency_max)
        outcome = await spending.spend_once(self.ledger, spend, self.rng, latency)
        self.emit("spend", job=claim.job.id, result=outcome)

    async def run(self, claim: admission.Claim) -> None:
        result = "unavailable"
        try:
            async with lease.hold(self.scheduler.leases, claim.lease):
                async with asyncio.TaskGroup() as calls:
                    for index in range(self.args.calls):
                        calls.create_task(self.call(claim, index))
                await self.write(claim, zombie=False)
                result = (await self.scheduler.finish(claim, admission.FinishOutcome.DONE)).value
        except errors.LeaseLost:
            result = "lost"
            await self.write(claim, zombie=True)
        except errors.CoordinationUnavailable:
            pass  # the lease runs out and the job comes back; nothing else to do
        self.emit("end", job=claim.job.id, token=claim.token, result=result)

    async def write(self, claim: admission.Claim, *, zombie: bool) -> None:
        started = time.time()
        try:
            current = await self.store.load(claim.job.id)
            record = records.PullRequestRecord(
                claim.job.repo, claim.job.number, "reviewed", claim.job.head_sha, updated_at=started
            )
            version = current.version if current else 0
            accepted = await self.store.save(record, expected_version=version, fence=claim.fence)
        except errors.CoordinationUnavailable:
            return
        self.emit("write", job=claim.job.id, fence=claim.fence, t0=started, ok=accepted, zombie=zombie)


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(filename=args.log + ".err", level=logging.INFO)
    with open(args.log, "w", buffering=1, encoding="utf-8") as log:
        worker = Worker(args, log)
        async with asyncio.TaskGroup() as group:
            for _ in range(args.slots):
                group.create_task(worker.slot())
            group.create_task(worker.reap())


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("log")
    parser.add_argument("--slots", type=int, default=3)
    parser.add_argument("--lease-s", type=float, default=1.0)
    parser.add_argument("--latency-min", type=float, default=0.1)
    parser.add_argument("--latency-max", type=float, default=0.4)
    parser.add_argument("--max-global", type=int, default=6)
    parser.add_argument("--max-repo", type=int, default=2)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--day", default="1970-01-01")
    parser.add_argument("--reservation-ttl-s", type=float, default=2.0)
    parser.add_argument("--caps", type=int, nargs=4, required=True, help="round pr repo_day day, micro-USD")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
