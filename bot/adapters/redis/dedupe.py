"""Webhook delivery dedupe on Redis: `SET NX EX` on the key the scheduler's enqueue script also sets."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import lua as redis_lua
from guardrails import admission


class RedisDeliveryDedupe:
    """A `DeliveryDedupe` for deliveries that enqueue nothing (enqueue dedupes its own)."""

    def __init__(self, redis: aioredis.Redis, keys: redis_conn.Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def first_seen(self, delivery_id: str) -> bool:
        async with redis_lua.guarded("first_seen"):
            created = await self._redis.set(
                self._keys("delivery", delivery_id), "1", nx=True, ex=admission.DELIVERY_TTL_S
            )
        return bool(created)
