"""The PR `Inbox` on Redis: a list per PR and a set of PRs with something waiting."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis.asyncio as aioredis

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import lua as redis_lua
from bot.errors import InputError
from bot.ports import InboxItem
from guardrails import admission

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


# KEYS: delivery, index set, then one list per item. ARGV: delivery ttl, list ttl, then job, item per list.
# The delivery is marked last: a command that fails (a wrong type, OOM) leaves it unmarked, so a
# redelivery of it is taken; a script's writes are never half-seen by others.
_PUSH_DELIVERY = r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 3, #KEYS do
  redis.call('RPUSH', KEYS[i], ARGV[2 * i - 2])
  redis.call('EXPIRE', KEYS[i], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[2 * i - 3])
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return 1
"""


class RedisInbox:
    def __init__(self, redis: aioredis.Redis, keys: redis_conn.Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._index = keys("inbox")
        self._drain = redis.register_script(_DRAIN)
        self._push_delivery = redis.register_script(_PUSH_DELIVERY)

    async def push(self, job_id: str, item: InboxItem) -> None:
        key = self._keys("inbox", job_id)
        async with redis_conn.guarded("inbox_push"), self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, item.to_json())
            pipe.expire(key, _TTL_S)
            pipe.sadd(self._index, job_id)
            await pipe.execute()

    async def push_delivery(self, delivery_id: str, items: Sequence[tuple[str, InboxItem]]) -> bool:
        keys = [self._keys("delivery", delivery_id), self._index]
        args: list[object] = [admission.DELIVERY_TTL_S, _TTL_S]
        for job_id, item in items:
            keys.append(self._keys("inbox", job_id))
            args += [job_id, item.to_json()]
        return bool(await redis_lua.run(self._push_delivery, "inbox_push_delivery", keys, args))

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
