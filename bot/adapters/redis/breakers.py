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
from guardrails import breaker

_NOW = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function fmt(x) return string.format('%d', x) end
"""

# ARGV: token, probe_ttl_ms. Reply: {allowed, state, probe, retry_at_ms}
_ADMIT = (
    _NOW
    + """
local h, token = KEYS[1], ARGV[1]
local state = redis.call('HGET', h, 'state')
if not state or state == 'closed' then return {1, 'closed', 0, 0} end
if state == 'half_open' and redis.call('HGET', h, 'probe') == token then return {1, state, 1, 0} end
local now, untl = now_ms(), tonumber(redis.call('HGET', h, 'until') or '0')
if now < untl then return {0, state, 0, untl} end
redis.call('HSET', h, 'state', 'half_open', 'probe', token, 'until', fmt(now + tonumber(ARGV[2])))
return {1, 'half_open', 1, 0}
"""
)

# KEYS: hash, registry. ARGV: token, event, reason, threshold, cooldown_ms, name.
# Reply: 1 when it opened the breaker, 2 when it (the probe's success) closed it, else 0.
_OBSERVE = (
    _NOW
    + """
local h, token, event, reason = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if event == 'success' and redis.call('EXISTS', h) == 0 then return 0 end
local state = redis.call('HGET', h, 'state') or 'closed'
redis.call('SADD', KEYS[2], ARGV[6])
local probing = state == 'half_open' and redis.call('HGET', h, 'probe') == token
local function open()
  redis.call('HSET', h, 'state', 'open', 'until', fmt(now_ms() + tonumber(ARGV[5])), 'probe', '',
             'reason', reason)
  if state == 'open' then return 0 end
  redis.call('HINCRBY', h, 'opened', 1)
  return 1
end
if event == 'trip' or (event == 'failure' and probing) then return open() end
if event == 'failure' then
  if state ~= 'closed' then return 0 end
  if redis.call('HINCRBY', h, 'failures', 1) >= tonumber(ARGV[4]) then return open() end
  return 0
end
if probing or state == 'closed' then
  redis.call('HSET', h, 'state', 'closed', 'failures', 0, 'until', 0, 'probe', '', 'reason', '')
  if probing then return 2 end
end
return 0
"""
)

_RESET = """
local h = KEYS[1]
if redis.call('EXISTS', h) == 0 then return 0 end
local state = redis.call('HGET', h, 'state') or 'closed'
if state == 'closed' and tonumber(redis.call('HGET', h, 'failures') or '0') == 0 then return 0 end
redis.call('HSET', h, 'state', 'closed', 'failures', 0, 'until', 0, 'probe', '', 'reason', '')
return 1
"""


class RedisCircuitBreakers:
    """A `CircuitBreakers` every replica shares; fails closed (`CoordinationUnavailable`) like the ledger."""

    def __init__(
        self, redis: aioredis.Redis, keys: redis_conn.Keys, policy: breaker.BreakerPolicy | None = None
    ) -> None:
        self._redis, self._keys = redis, keys
        self._policy = policy or breaker.BreakerPolicy()
        self._registry = keys("breakers")
        self._admit = redis.register_script(_ADMIT)
        self._observe = redis.register_script(_OBSERVE)
        self._reset = redis.register_script(_RESET)

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
