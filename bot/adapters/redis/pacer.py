"""GitHub write pacing on Redis, shared by every replica using one credential: one Lua script, server time.

Keys (one hash tag): `{quorum}:pace:<digest>` is a hash (`next`: server time in µs when the next write may
start, `holder`: the claim in flight), `{quorum}:pace:<digest>:claims` a sorted set of the last minute's
claims. The digest is a SHA-256 of the credential, so no token ever appears in a key. The rule is
`guardrails.pacing`'s; the contract suite runs the same tests over this and the in-memory pacer. Both keys
expire once idle.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from bot.adapters.redis import conn as redis_conn
from guardrails import pacing

# KEYS: hash, claims. ARGV: op (claim|release), token, interval_us, per_minute, hold_us (µs: exact, and
# below 2^53 as Lua numbers). Reply: 0 when claimed (or released), else µs to wait.
_PACE = """
local h, z, op, token = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local interval, per_minute, hold = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function fmt(x) return string.format('%d', x) end
local ttl_ms = math.floor((math.max(hold, 60000000) + interval) / 1000) + 1000
local next_at = tonumber(redis.call('HGET', h, 'next') or '0')
if op == 'release' then
  if redis.call('HGET', h, 'holder') == token then
    next_at = now + interval
    redis.call('HSET', h, 'holder', '')
  else
    next_at = math.max(next_at, now + interval)
  end
  redis.call('HSET', h, 'next', fmt(next_at))
  redis.call('PEXPIRE', h, fmt(ttl_ms))
  return 0
end
redis.call('ZREMRANGEBYSCORE', z, '-inf', fmt(now - 60000000))
if now < next_at then return next_at - now end
if redis.call('ZCARD', z) >= per_minute then
  local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  return tonumber(first[2]) + 60000000 - now
end
redis.call('HSET', h, 'next', fmt(now + hold), 'holder', token)
redis.call('ZADD', z, fmt(now), token)
redis.call('PEXPIRE', h, fmt(ttl_ms))
redis.call('PEXPIRE', z, fmt(ttl_ms))
return 0
"""


def digest(credential: str) -> str:
    """The name of a credential in key names: never the credential itself."""
    return hashlib.sha256(credential.encode()).hexdigest()[:32]


class RedisWritePacer:
    """A `WritePacer` every replica using `credential` shares; fails closed (`CoordinationUnavailable`), and
    the rate gate falls back to its own spacing then."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: redis_conn.Keys,
        credential: str,
        policy: pacing.PacingPolicy | None = None,
    ) -> None:
        self._policy = policy or pacing.PacingPolicy()
        name = digest(credential)
        self._keys = [keys("pace", name), keys("pace", name, "claims")]
        self._script = redis.register_script(_PACE)

    async def claim(self, token: str) -> float:
        return await self._run("claim", token) / 1e6

    async def release(self, token: str) -> None:
        await self._run("release", token)

    async def _run(self, op: str, token: str) -> int:
        p = self._policy
        args = [op, token, _us(p.interval_s), p.per_minute, _us(p.hold_s)]
        async with redis_conn.guarded("GitHub write pacing"):
            return int(await self._script(keys=self._keys, args=[redis_conn.text(a) for a in args]))


def _us(seconds: float) -> int:
    return max(0, round(seconds * 1e6))
