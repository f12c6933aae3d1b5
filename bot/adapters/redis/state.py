"""The PR `StateStore` on Redis: a hash per PR with a version, written only under the PR's current fence."""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import lua as redis_lua
from bot.adapters.redis.scripts import state as record_scripts
from statemachine import records


class RedisStateStore:
    """Fenced compare-and-set of `PullRequestRecord`s and their audit trail."""

    def __init__(self, redis: aioredis.Redis, keys: redis_conn.Keys, *, audit_cap: int = 1000) -> None:
        self._redis = redis
        self._keys = keys
        self._fence = keys("fence")
        self._audit_cap = audit_cap
        self._save = redis.register_script(record_scripts.SAVE_RECORD)
        self._append = redis.register_script(record_scripts.APPEND_AUDIT)
        self._note = redis.register_script(record_scripts.APPEND_NOTE)

    async def load(self, job_id: str) -> records.PullRequestRecord | None:
        async with redis_lua.guarded("load_record"):
            raw = await self._redis.hgetall(self._keys("pr", job_id))
        if not raw:
            return None
        data = {redis_lua.text(k): redis_lua.text(v) for k, v in raw.items()}
        return records.PullRequestRecord.from_fields(data)

    async def save(self, record: records.PullRequestRecord, *, expected_version: int, fence: int) -> bool:
        pairs = [item for pair in record.to_fields().items() for item in pair]
        keys = [self._fence, self._keys("pr", record.job_id)]
        reply = await redis_lua.run(
            self._save, "save_record", keys, [record.job_id, expected_version, fence, *pairs]
        )
        return int(reply) == 1

    async def append_audit(self, job_id: str, entry: records.AuditEntry, fence: int) -> bool:
        keys = [self._fence, self._keys("pr", job_id, "audit")]
        args = [job_id, fence, entry.to_json(), self._audit_cap]
        reply = await redis_lua.run(self._append, "append_audit", keys, args)
        return int(reply) == 1

    async def append_note(self, job_id: str, entry: records.AuditEntry) -> None:
        keys = [self._keys("pr", job_id, "audit")]
        await redis_lua.run(self._note, "append_note", keys, [entry.to_json(), self._audit_cap])

    async def audit(self, job_id: str) -> list[records.AuditEntry]:
        async with redis_lua.guarded("audit"):
            entries = await self._redis.lrange(self._keys("pr", job_id, "audit"), 0, -1)
        return [records.AuditEntry.from_json(redis_lua.text(entry)) for entry in entries]
