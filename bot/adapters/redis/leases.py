"""Leases on Redis: compare-and-renew, and the publish gate (lease ours, fence current, head unchanged).

The lease itself is granted by the scheduler's claim script; these scripts read the same keys. Use
`guardrails.lease.hold(leases, claim.lease)` around a job so a lost lease cancels it at once.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import lua as redis_lua
from bot.adapters.redis.scripts import leases as lease_scripts
from guardrails import lease

log = logging.getLogger(__name__)


class RedisLeases:
    """A `LeaseManager` and `PublishGate` over the scheduler's keys."""

    def __init__(
        self, redis: aioredis.Redis, keys: redis_conn.Keys, *, policy: lease.LeasePolicy | None = None
    ) -> None:
        self._redis = redis
        self._queue = redis_lua.queue_keys(keys)
        self._publish_key = self._queue[redis_lua.QUEUE_PARTS.index("q:publish")]
        self._policy = policy or lease.LeasePolicy()
        self._renew = redis_lua.register(redis, lease_scripts.RENEW)
        self._gate = redis_lua.register(redis, lease_scripts.GATE)
        self._mark = redis_lua.register(redis, lease_scripts.MARK_PUBLISHED)
        self._confirm = redis_lua.register(redis, lease_scripts.CONFIRM_WRITE)
        self._settle = redis_lua.register(redis, lease_scripts.SETTLE_REVIEW)

    async def renew(self, held: lease.Lease) -> bool:
        args = [held.job_id, held.token, held.fence, round(self._policy.ttl_s * 1000)]
        reply = await redis_lua.run(self._renew, "renew", self._queue, args)
        if int(reply[0]) != 1:
            log.warning("lease of %s (fence %d) not renewed: %s", held.job_id, held.fence, reply[1])
            return False
        return True

    async def check_publish(self, held: lease.Lease, head_sha: str) -> lease.GateDecision:
        args = [held.job_id, held.token, held.fence, head_sha]
        reply = await redis_lua.run(self._gate, "check_publish", self._queue, args)
        allowed, reason = int(reply[0]) == 1, redis_lua.text(reply[1])
        fence, head = int(reply[2]), redis_lua.text(reply[3])
        if allowed:
            return lease.GateDecision(True, None, fence, head)
        log.warning("publish gate refused %s (fence %d): %s", held.job_id, held.fence, reason)
        return lease.GateDecision(False, lease.GateRefusal(reason), fence, head)

    async def mark_published(self, held: lease.Lease, marker: str) -> bool:
        reply = await redis_lua.run(
            self._mark, "mark_published", self._queue, [held.job_id, held.fence, marker]
        )
        return int(reply) == 1

    async def publication(self, job_id: str) -> lease.Publication:
        async with redis_lua.guarded("publication"):
            fence, marker = await self._redis.hmget(
                self._publish_key, [f"{job_id}|publishing", f"{job_id}|published"]
            )
        return lease.Publication(
            int(fence) if fence else None, None if marker is None else redis_lua.text(marker)
        )

    async def confirm_write(self, held: lease.Lease) -> lease.GateDecision:
        args = [held.job_id, held.token, held.fence]
        reply = await redis_lua.run(self._confirm, "confirm_write", self._queue, args)
        fence = int(reply[2])
        if int(reply[0]) == 1:
            return lease.GateDecision(True, None, fence)
        reason = lease.GateRefusal(redis_lua.text(reply[1]))
        log.warning("a write of %s (fence %d) outlived its lease: %s", held.job_id, held.fence, reason)
        return lease.GateDecision(False, reason, fence)

    async def settle_review(
        self, held: lease.Lease, review_id: int, claim: lease.ReviewClaim
    ) -> lease.ReviewClaim | None:
        args = [held.job_id, review_id, claim.value, held.fence]
        reply = redis_lua.text(await redis_lua.run(self._settle, "settle_review", self._queue, args))
        return lease.ReviewClaim(reply) if reply else None
