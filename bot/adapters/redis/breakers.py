"""Circuit breakers on Redis, shared by every replica: one Lua script per step, times from server `TIME`.

Keys (one hash tag): `{quorum}:breaker:<provider/model>` is a hash (state, failures, until ms, probe token,
reason, opened), `{quorum}:breakers` the set of names that ever recorded a failure. The rule is the one of
`guardrails.breaker`; the contract suite runs the same tests over this and the in-memory breakers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis.scripts import breakers as breaker_scripts
from guardrails import breaker


class RedisCircuitBreakers:
    """A `CircuitBreakers` every replica shares; fails closed (`CoordinationUnavailable`) like the ledger."""

    def __init__(
        self, redis: aioredis.Redis, keys: redis_conn.Keys, policy: breaker.BreakerPolicy | None = None
    ) -> None:
        self._redis, self._keys = redis, keys
        self._policy = policy or breaker.BreakerPolicy()
        self._registry = keys("breakers")
        self._admit = redis.register_script(breaker_scripts.ADMIT)
        self._observe = redis.register_script(breaker_scripts.OBSERVE)
        self._reset = redis.register_script(breaker_scripts.RESET)

    async def admit(self, name: str, token: str) -> breaker.Permit:
        ttl_ms = max(1, round(self._policy.probe_ttl_s * 1000))
        allowed, state, probe, retry_at = await self._run(self._admit, [self._key(name)], [token, ttl_ms])
        return breaker.Permit(
            bool(int(allowed)), breaker.State(redis_conn.text(state)), bool(int(probe)), int(retry_at) / 1000
        )

    async def observe(self, name: str, token: str, event: breaker.Event, reason: str = "") -> breaker.Change:
        cooldown_ms = max(1, round(self._policy.cooldown_s * 1000))
        args = [token, event.value, reason[:300], self._policy.failure_threshold, cooldown_ms, name]
        reply = int(await self._run(self._observe, [self._key(name), self._registry], args))
        return _CHANGES[reply]

    async def reset(self, name: str) -> bool:
        return bool(int(await self._run(self._reset, [self._key(name)], [])))

    async def states(self) -> list[breaker.BreakerStatus]:
        async with redis_conn.guarded("circuit breakers"):
            names = sorted(redis_conn.text(n) for n in await self._redis.smembers(self._registry))
            async with self._redis.pipeline(transaction=False) as pipe:
                for name in names:
                    pipe.hgetall(self._key(name))
                rows = await pipe.execute()
        return [_status(name, row) for name, row in zip(names, rows, strict=True) if row]

    def _key(self, name: str) -> str:
        return self._keys("breaker", name)

    async def _run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[object]) -> Any:
        async with redis_conn.guarded("circuit breaker"):
            return await script(keys=list(keys), args=[redis_conn.text(a) for a in args])


_CHANGES = {0: breaker.Change.NONE, 1: breaker.Change.OPENED, 2: breaker.Change.CLOSED}


def _status(name: str, row: dict[str, str]) -> breaker.BreakerStatus:
    return breaker.BreakerStatus(
        name,
        breaker.State(row.get("state", "closed")),
        int(row.get("failures") or 0),
        int(row.get("until") or 0) / 1000,
        row.get("reason", ""),
        int(row.get("opened") or 0),
    )
