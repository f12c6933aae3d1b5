"""The PR `Inbox` on Redis: a list per PR and a set of PRs with something waiting."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from bot.adapters import redis_conn, redis_lua
from bot.daemon.inbox import InboxItem
from bot.errors import InputError

log = logging.getLogger(__name__)

# Items older than this are stale news: the reconciler has looked at the PR many times since.
_TTL_S = 7 * 24 * 3600

# KEYS: list, index set. ARGV: job
_DRAIN = r"""
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return items
"""


class RedisInbox:
    def __init__(self, redis: aioredis.Redis, keys: redis_conn.Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._index = keys("inbox")
        self._drain = redis.register_script(_DRAIN)

    async def push(self, job_id: str, item: InboxItem) -> None:
        key = self._keys("inbox", job_id)
        async with redis_conn.guarded("inbox_push"), self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, item.to_json())
            pipe.expire(key, _TTL_S)
            pipe.sadd(self._index, job_id)
            await pipe.execute()

    async def drain(self, job_id: str) -> list[InboxItem]:
        raw = await redis_lua.run(
            self._drain, "inbox_drain", [self._keys("inbox", job_id), self._index], [job_id]
        )
        items: list[InboxItem] = []
        for entry in raw:
            try:
                items.append(InboxItem.from_json(redis_conn.text(entry)))
            except InputError:
                log.warning("dropped an unreadable inbox item of %s", job_id)
        return items

    async def waiting(self) -> list[str]:
        async with redis_conn.guarded("inbox_waiting"):
            members = await self._redis.smembers(self._index)
        return sorted(redis_conn.text(m) for m in members)
