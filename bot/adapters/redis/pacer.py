"""GitHub write pacing on Redis, shared by every replica using one credential: Lua scripts, server time.

Keys (one hash tag): `{quorum}:pace:<digest>` is a hash (`next`: server time in µs when the next write may
start, `holder`: the claim in flight), `{quorum}:pace:<digest>:claims` a sorted set of the last hour's
claims, `{quorum}:pace:<digest>:limit` exists while a rate limit GitHub answered lasts (its TTL is the
limit). The digest is a SHA-256 of the credential, so no token ever appears in a key. The rule is
`guardrails.pacing`'s; the contract suite runs the same tests over this and the in-memory pacer. Every key
expires once idle.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from bot.adapters.redis import conn as redis_conn
from guardrails import pacing

# KEYS: hash, claims. ARGV: op (claim|release), token, interval_us, per_minute, hold_us, per_hour (µs: exact,
# and below 2^53 as Lua numbers). Reply: 0 when claimed (or released), else µs to wait.
_PACE = """
local h, z, op, token = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
local interval, per_minute, hold = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local per_hour = tonumber(ARGV[6])
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
redis.call('ZREMRANGEBYSCORE', z, '-inf', fmt(now - 3600000000))
if now < next_at then return next_at - now end
local minute = redis.call('ZCOUNT', z, '(' .. fmt(now - 60000000), '+inf')
if minute >= per_minute then
  local at = redis.call('ZRANGEBYSCORE', z, '(' .. fmt(now - 60000000), '+inf', 'WITHSCORES',
    'LIMIT', minute - per_minute, 1)
  return tonumber(at[2]) + 60000000 - now
end
local hour = redis.call('ZCARD', z)
if hour >= per_hour then
  local at = redis.call('ZRANGE', z, hour - per_hour, hour - per_hour, 'WITHSCORES')
  return tonumber(at[2]) + 3600000000 - now
end
redis.call('HSET', h, 'next', fmt(now + hold), 'holder', token)
redis.call('ZADD', z, fmt(now), token)
redis.call('PEXPIRE', h, fmt(ttl_ms))
redis.call('PEXPIRE', z, fmt(3600000 + math.floor(interval / 1000) + 1000))
return 0
"""

# KEYS: limit. ARGV: ms the limit lasts. A shorter limit never shortens a longer one.
_BLOCK = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
"""


def digest(credential: str) -> str:
    """The name of a credential in key names: never the credential itself."""
    return hashlib.sha256(credential.encode()).hexdigest()[:32]


class RedisWritePacer:
    """A `WritePacer` every replica using `credential` shares; fails closed (`CoordinationUnavailable`), and
    the rate gate falls back to its own spacing and its own record of limits then."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: redis_conn.Keys,
        credential: str,
        policy: pacing.PacingPolicy | None = None,
    ) -> None:
        self._policy = policy or pacing.PacingPolicy()
        name = digest(credential)
        self._redis = redis
        self._keys = [keys("pace", name), keys("pace", name, "claims")]
        self._limit = keys("pace", name, "limit")
        self._script = redis.register_script(_PACE)
        self._block = redis.register_script(_BLOCK)

    async def claim(self, token: str) -> float:
        return await self._run("claim", token) / 1e6

    async def release(self, token: str) -> None:
        await self._run("release", token)

    async def block(self, seconds: float) -> None:
        ms = max(1, round(seconds * 1000))
        async with redis_conn.guarded("GitHub rate limit"):
            await self._block(keys=[self._limit], args=[str(ms)])

    async def blocked(self) -> float:
        async with redis_conn.guarded("GitHub rate limit"):
            ms = int(await self._redis.pttl(self._limit))
        return max(ms, 0) / 1000

    async def _run(self, op: str, token: str) -> int:
        p = self._policy
        args = [op, token, _us(p.interval_s), p.per_minute, _us(p.hold_s), p.per_hour]
        async with redis_conn.guarded("GitHub write pacing"):
            return int(await self._script(keys=self._keys, args=[redis_conn.text(a) for a in args]))


def _us(seconds: float) -> int:
    return max(0, round(seconds * 1e6))
