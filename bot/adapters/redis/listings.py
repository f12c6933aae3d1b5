"""The reconciler's memory of the last open-PR listing per repository, on Redis (a set per repository)."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.adapters.redis import conn as redis_conn

# A repository no replica has listed for this long has left the installation; its memory goes too.
_TTL_S = 30 * 24 * 3600


class RedisListingMemory:
    """A `ListingMemory` that outlives the process, so closes made while no replica ran are noticed."""

    def __init__(self, redis: aioredis.Redis, keys: redis_conn.Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def recall(self, repo: str) -> set[str]:
        async with redis_conn.guarded("listing_recall"):
            members = await self._redis.smembers(self._keys("reconciler", "open", repo))
        return {redis_conn.text(m) for m in members}

    async def remember(self, repo: str, jobs: set[str]) -> None:
        key = self._keys("reconciler", "open", repo)
        async with redis_conn.guarded("listing_remember"), self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if jobs:
                pipe.sadd(key, *sorted(jobs))
                pipe.expire(key, _TTL_S)
            await pipe.execute()
