"""The `Scheduler` on Redis: one script per operation, a doorbell list for wake-ups, server time for leases.

Admission (reap expired leases, promote due retries, take the next eligible job: backlogs first, then by
age) is one script, so the global and per-repo limits hold across replicas. Waiting workers `BLPOP` the
doorbell for at most `max_block_s` (below the client's socket timeout) or the nearest lease expiry /
retry, whichever is first.
"""

from __future__ import annotations

import logging
import math
import random as stdlib_random
import secrets
from collections.abc import Callable, Sequence

import redis.asyncio as aioredis

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import leases as redis_leases
from bot.adapters.redis import lua as redis_lua
from guardrails import admission, lease

log = logging.getLogger(__name__)

# ARGV: job, token, fence, audit_cap. Gives the slot back and keeps the lease (`Scheduler.yield_slot`).
_YIELD = r"""
local job, token, fence, cap = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local us, ms = clock()
if not holds(job, token, fence) then return 'not_held' end
if tonumber(redis.call('ZSCORE', K_RUNNING, job) or '0') <= ms then return 'not_held' end
if lget(job, 'yielded') then return 'yielded' end
redis.call('HSET', K_LEASE, job .. '|yielded', '1')
free_slot(job)
ring(1)
audit(us, cap, 'event', 'yield', 'job', job, 'token', token)
return 'yielded'
"""


class RedisScheduler:
    """A `Scheduler` shared by every replica through one Redis."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: redis_conn.Keys,
        *,
        limits: admission.Limits | None = None,
        policy: lease.LeasePolicy | None = None,
        backoff: admission.Backoff | None = None,
        random: Callable[[], float] | None = None,
        max_block_s: float = 4.0,
        scan_n: int = 1000,
        audit_cap: int = 10_000,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._queue = redis_lua.queue_keys(keys)
        self._key = dict(zip(redis_lua.QUEUE_PARTS, self._queue, strict=True))
        self._limits = limits or admission.Limits()
        self._policy = policy or lease.LeasePolicy()
        self._backoff = backoff or admission.Backoff()
        self._random = random or stdlib_random.random
        # BLPOP must return before the socket times out, or the client re-sends it blindly.
        socket_timeout = redis.connection_pool.connection_kwargs.get("socket_timeout") or math.inf
        self._max_block_s = max(0.01, min(max_block_s, float(socket_timeout) * 0.8))
        self._scan_n = scan_n
        self._audit_cap = audit_cap
        self._wake_s: float | None = None
        self._leases = redis_leases.RedisLeases(redis, keys, policy=self._policy)
        self._enqueue = redis_lua.register(redis, redis_lua.ENQUEUE)
        self._claim = redis_lua.register(redis, redis_lua.CLAIM)
        self._finish = redis_lua.register(redis, redis_lua.FINISH)
        self._reap = redis_lua.register(redis, redis_lua.REAP)
        self._requeue = redis_lua.register(redis, redis_lua.REQUEUE_DEAD)
        self._cancel = redis_lua.register(redis, redis_lua.CANCEL)
        self._yield = redis_lua.register(redis, _YIELD)

    @property
    def leases(self) -> redis_leases.RedisLeases:
        """The lease manager and publish gate over the same keys."""
        return self._leases

    async def enqueue(
        self, job_id: str, head_sha: str, delivery_id: str | None = None
    ) -> admission.EnqueueResult:
        admission.parse_job_id(job_id)
        keys = [*self._queue, *([self._keys("delivery", delivery_id)] if delivery_id else [])]
        args = [job_id, head_sha, admission.DELIVERY_TTL_S]
        reply = await redis_lua.run(self._enqueue, "enqueue", keys, args)
        return admission.EnqueueResult(redis_lua.text(reply))

    async def claim(self, claim_id: str) -> admission.Claim | None:
        policy, limits = self._policy, self._limits
        args: list[str | int] = [
            claim_id,
            secrets.token_hex(16),
            round(policy.ttl_s * 1000),
            round(policy.max_hold_s * 1000),
            limits.max_concurrent_agents,
            limits.max_per_repo,
            self._scan_n,
            self._backoff.max_attempts,
            self._audit_cap,
            round(limits.oldest_first_after_s * 1000),
            admission.PICK_WINDOW,
        ]
        keys = [*self._queue, self._keys("q", "claim", claim_id)]
        reply = await redis_lua.run(self._claim, "claim", keys, args)
        if int(reply[0]) == 0:
            wake_ms = int(reply[1])
            self._wake_s = None if wake_ms < 0 else wake_ms / 1000
            return None
        self._wake_s = None
        return self._parse_claim(claim_id, [redis_lua.text(v) for v in reply[1:]])

    def _parse_claim(self, claim_id: str, fields: Sequence[str]) -> admission.Claim:
        job_id, head, attempts, ticket, token, fence, expiry_ms, deadline_ms, waited_ms = fields
        ref = admission.parse_job_id(job_id)
        job = admission.Job(job_id, ref.repo, ref.number, head, int(attempts), int(float(ticket)))
        held = lease.Lease(
            job_id, token, int(fence), float(expiry_ms) / 1000, float(deadline_ms) / 1000, self._policy.ttl_s
        )
        return admission.Claim(job, claim_id, held, queued_s=int(waited_ms) / 1000)

    async def wait_for_work(self, timeout_s: float) -> bool:
        hint = self._wake_s if self._wake_s is not None else math.inf
        # BLPOP's timeout 0 means forever.
        wait = max(0.01, min(timeout_s, self._max_block_s, hint))
        async with redis_lua.guarded("wait_for_work"):
            popped = await self._redis.blpop([self._key["q:doorbell"]], timeout=wait)
        return popped is not None

    async def renew(self, claim: admission.Claim) -> bool:
        return await self._leases.renew(claim.lease)

    async def yield_slot(self, claim: admission.Claim) -> bool:
        args = [claim.job.id, claim.token, claim.fence, self._audit_cap]
        reply = await redis_lua.run(self._yield, "yield_slot", self._queue, args)
        return redis_lua.text(reply) == "yielded"

    async def finish(
        self,
        claim: admission.Claim,
        outcome: admission.FinishOutcome,
        error: str | None = None,
        *,
        defer_s: float = 0.0,
    ) -> admission.FinishResult:
        backoff_s = self._backoff.delay_s(claim.job.attempts + 1, self._random)
        delay_ms = round((defer_s if outcome is admission.FinishOutcome.DEFER else backoff_s) * 1000)
        args = [
            claim.job.id,
            claim.token,
            claim.fence,
            outcome.value,
            error or "",
            delay_ms,
            self._backoff.max_attempts,
            self._scan_n,
            self._audit_cap,
        ]
        keys = [*self._queue, self._keys("q", "fin", claim.token)]
        reply = await redis_lua.run(self._finish, "finish", keys, args)
        result = admission.FinishResult(redis_lua.text(reply))
        log.info("job %s finished (%s): %s", claim.job.id, outcome.value, result.value)
        return result

    async def dead_letters(self) -> list[admission.DeadLetter]:
        async with redis_lua.guarded("dead_letters"):
            dead = await self._scored(self._key["q:dead"])
            values = await self._fields(
                self._key["q:job"], [job for job, _ in dead], ("head", "attempts", "error")
            )
        return [
            admission.DeadLetter(job, head, int(attempts or 0), error, died_ms / 1000)
            for (job, died_ms), (head, attempts, error) in zip(dead, values, strict=True)
        ]

    async def requeue_dead(self, job_id: str) -> bool:
        reply = await redis_lua.run(self._requeue, "requeue_dead", self._queue, [job_id])
        return int(reply) == 1

    async def running(self) -> list[admission.RunningJob]:
        names = ("fence", "deadline", "claim", "token", "head")
        async with redis_lua.guarded("running"):
            held = await self._scored(self._key["q:running"])
            values = await self._fields(self._key["q:lease"], [job for job, _ in held], names)
        hold_s = self._policy.max_hold_s
        return [
            admission.RunningJob(
                job, int(fence or 0), expiry_ms / 1000, int(deadline or 0) / 1000, claim, token,
                int(deadline or 0) / 1000 - hold_s, head,
            )
            for (job, expiry_ms), (fence, deadline, claim, token, head) in zip(held, values, strict=True)
        ]  # fmt: skip

    async def queued(self, limit: int = 1000) -> list[admission.QueuedJob]:
        names = ("head", "attempts", "since", "error")
        async with redis_lua.guarded("queued"):
            waiting = await self._scored(self._key["q:pending"], limit)
            delayed = await self._scored(self._key["q:delayed"], limit)
            jobs = [job for job, _ in waiting] + [job for job, _ in delayed]
            values = await self._fields(self._key["q:job"], jobs, names)
        due = [0.0] * len(waiting) + [at_ms / 1000 for _, at_ms in delayed]
        return [
            admission.QueuedJob(
                job, head, int(attempts or 0), int(since or 0) / 1000, i >= len(waiting), due[i], error
            )
            for i, (job, (head, attempts, since, error)) in enumerate(zip(jobs, values, strict=True))
        ]

    async def counts(self) -> admission.QueueCounts:
        key = self._key
        # One MULTI: the four sizes and the per-repository slots are read at one instant.
        async with redis_lua.guarded("counts"), self._redis.pipeline(transaction=True) as pipe:
            for part in ("q:pending", "q:delayed", "q:running", "q:dead"):
                pipe.zcard(key[part])
            pipe.hgetall(key["q:repo_running"])
            waiting, delayed, running, dead, per_repo = await pipe.execute()
        repos = sorted((redis_lua.text(k), int(v)) for k, v in per_repo.items())
        return admission.QueueCounts(int(waiting), int(delayed), int(running), int(dead), tuple(repos))

    async def cancel(self, job_id: str, actor: str = "") -> admission.CancelResult:
        admission.parse_job_id(job_id)
        reply = await redis_lua.run(self._cancel, "cancel", self._queue, [job_id, actor, self._audit_cap])
        result = admission.CancelResult(redis_lua.text(reply))
        log.warning("job %s cancelled by %s: %s", job_id, actor or "-", result.value)
        return result

    async def _scored(self, key: str, limit: int = 0) -> list[tuple[str, float]]:
        entries = await self._redis.zrange(key, 0, limit - 1, withscores=True)
        return [(redis_lua.text(entry[0]), float(entry[1])) for entry in entries]

    async def _fields(self, key: str, jobs: list[str], names: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Per job, the named `job|name` fields of one hash ("" where missing)."""
        if not jobs:
            return []
        values = await self._redis.hmget(key, [f"{job}|{name}" for job in jobs for name in names])
        texts = ["" if v is None else redis_lua.text(v) for v in values]
        width = len(names)
        return [tuple(texts[i : i + width]) for i in range(0, len(texts), width)]

    async def reap_expired(self) -> list[str]:
        args = [self._scan_n, self._backoff.max_attempts, self._audit_cap]
        reply = await redis_lua.run(self._reap, "reap_expired", self._queue, args)
        reaped = [redis_lua.text(job) for job in reply]
        if reaped:
            log.warning("leases expired, jobs returned: %s", ", ".join(reaped))
        return reaped
