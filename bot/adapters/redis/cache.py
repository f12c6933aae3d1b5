"""The query cache on Redis: `SET … EX` per answer; an unreachable cache is a miss, never a failure."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class RedisQueryCache:
    """A `QueryCache` under `<prefix>:cache:<key>`; single-key commands, so no hash tag is needed."""

    def __init__(self, redis: aioredis.Redis, prefix: str = "quorum") -> None:
        self._redis = redis
        self._prefix = prefix
        self._outage = False

    async def get(self, key: str) -> str | None:
        """The cached answer, or None when absent, expired or the cache cannot be reached."""
        try:
            value = await self._redis.get(self._name(key))
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None
        self._reachable()
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else value

    async def put(self, key: str, value: str, ttl_s: int) -> None:
        """Store an answer for `ttl_s` seconds; a ttl of zero or less removes it. Failures are dropped."""
        try:
            if ttl_s > 0:
                await self._redis.set(self._name(key), value, ex=ttl_s)
            else:
                await self._redis.delete(self._name(key))
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._reachable()

    def _name(self, key: str) -> str:
        return f"{self._prefix}:cache:{key}"

    def _failed(self, exc: Exception) -> None:
        # One warning per outage: a review makes many cache calls and each would repeat the same news.
        if not self._outage:
            self._outage = True
            log.warning("query cache unavailable, answers are recomputed until it returns: %s", exc)

    def _reachable(self) -> None:
        if self._outage:
            self._outage = False
            log.info("query cache reachable again")
