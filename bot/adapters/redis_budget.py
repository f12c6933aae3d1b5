"""The budget ledger on Redis: one Lua script each to reserve, settle and reap, integer micro-USD.

Keys (one hash tag, so every script stays in one Cluster slot; every key is passed in KEYS):
    {quorum}:budget:<cap key>   spent + reserved micro-USD of one cap (INCRBY); expires ~3 days after creation
    {quorum}:budget:res         hash id -> record: open {a, k} (amount, counter names), or a tombstone
    {quorum}:budget:res_exp     zset id -> server-TIME ms when an open record is reaped or a tombstone purged

A record keeps the counter names it charged, so a settle after midnight corrects the day it reserved.
Settled and reaped records stay as tombstones for an hour: a re-sent reserve or settle (redis-py re-sends
after a socket timeout) then changes nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from bot import errors
from bot.adapters import redis_conn
from guardrails import budget

log = logging.getLogger(__name__)

COUNTER_TTL_S = 3 * 86_400
TOMBSTONE_MS = 3_600_000
REAP_BATCH = 256
_REAP_ROUNDS = 16
_REMEMBERED_MAX = 4096

# Redis 6.2 has no EXPIRE NX: "TTL < 0 then EXPIRE" is the same inside a script.
_RESERVE = """
local res, exp, id = KEYS[1], KEYS[2], ARGV[1]
if redis.call('HEXISTS', res, id) == 1 then return {1} end
local amount = tonumber(ARGV[2])
for i = 3, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + amount > tonumber(ARGV[i + 2]) then return {0, i - 2, used} end
end
local names = {}
for i = 3, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[2])
  if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[4]) end
  names[i - 2] = KEYS[i]
end
local t = redis.call('TIME')
local now_ms = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', res, id, cjson.encode({s = 'open', a = ARGV[2], k = names}))
redis.call('ZADD', exp, now_ms + tonumber(ARGV[3]), id)
return {1}
"""

# The amount stays a string in the record: cjson prints numbers with 14 digits only.
_SETTLE = """
local res, exp, id = KEYS[1], KEYS[2], ARGV[1]
local rec = redis.call('HGET', res, id)
if not rec then return {'unknown'} end
local r = cjson.decode(rec)
if r.s == 'settled' then
  if r.n == ARGV[3] then return {'ok'} end
  return {'settled'}
end
if r.s ~= 'open' then return {r.s} end
if #r.k ~= #KEYS - 2 then return {'keys', rec} end
for i = 1, #r.k do
  if r.k[i] ~= KEYS[i + 2] then return {'keys', rec} end
end
local delta = tonumber(ARGV[2]) - tonumber(r.a)
for i = 3, #KEYS do
  if delta > 0 or (delta < 0 and redis.call('EXISTS', KEYS[i]) == 1) then
    redis.call('INCRBY', KEYS[i], delta)
    if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], ARGV[5]) end
  end
end
local t = redis.call('TIME')
local now_ms = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', res, id, cjson.encode({s = 'settled', n = ARGV[3]}))
redis.call('ZADD', exp, now_ms + tonumber(ARGV[4]), id)
return {'ok'}
"""

_REAP = """
local res, exp = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now_ms = t[1] * 1000 + math.floor(t[2] / 1000)
local due = redis.call('ZRANGEBYSCORE', exp, '-inf', now_ms, 'LIMIT', 0, tonumber(ARGV[1]))
local charged = {}
for _, id in ipairs(due) do
  local rec = redis.call('HGET', res, id)
  local r = rec and cjson.decode(rec)
  if r and r.s == 'open' then
    redis.call('HSET', res, id, cjson.encode({s = 'reaped', a = r.a}))
    redis.call('ZADD', exp, now_ms + tonumber(ARGV[2]), id)
    charged[#charged + 1] = id
    charged[#charged + 1] = r.a
  else
    redis.call('HDEL', res, id)
    redis.call('ZREM', exp, id)
  end
end
return {#due, charged}
"""


class RedisBudgetLedger:
    """A `BudgetLedger` shared by every replica; fails closed with `CoordinationUnavailable`."""

    def __init__(
        self, redis: aioredis.Redis, keys: redis_conn.Keys, *, counter_ttl_s: int = COUNTER_TTL_S
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._counter_ttl_s = counter_ttl_s
        self._res = keys("budget", "res")
        self._exp = keys("budget", "res_exp")
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)
        self._reap = redis.register_script(_REAP)
        # Counter names of this process's open reservations, so settle passes them in KEYS in one
        # round trip; a miss (another replica reserved) costs one more.
        self._names: dict[str, tuple[str, ...]] = {}

    async def reserve(self, reservation: budget.Reservation) -> budget.BudgetDecision:
        """Add the amount to every cap's counter if all fit, else to none. Idempotent by id."""
        counters = [self._keys("budget", cap.key) for cap in reservation.caps]
        ttl_ms = max(1, round(reservation.ttl_s * 1000))
        args: list[str | int] = [reservation.id, reservation.amount_micro, ttl_ms, self._counter_ttl_s]
        args += [cap.limit_micro for cap in reservation.caps]
        reply = await self._run(self._reserve, [self._res, self._exp, *counters], args)
        if int(reply[0]) == 1:
            self._remember(reservation.id, tuple(counters))
            return budget.BudgetDecision(True)
        cap = reservation.caps[int(reply[1]) - 1]
        return budget.BudgetDecision(False, cap.name, int(reply[2]), cap.limit_micro)

    async def settle(self, reservation_id: str, actual_micro: int) -> bool:
        """Replace the reserved amount by the actual cost; False if unknown, settled or reaped."""
        names = self._names.pop(reservation_id, ())
        # One id per call: a re-send of this very call finds its own tombstone and reports success.
        args: list[str | int] = [
            reservation_id,
            actual_micro,
            uuid.uuid4().hex,
            TOMBSTONE_MS,
            self._counter_ttl_s,
        ]
        for _ in range(2):
            reply = await self._run(self._settle, [self._res, self._exp, *names], args)
            status = redis_conn.text(reply[0])
            if status != "keys":
                return self._outcome(reservation_id, status)
            names = tuple(json.loads(redis_conn.text(reply[1])).get("k") or ())
        raise errors.CoordinationUnavailable(
            f"budget record {reservation_id!r} changed while it was settled", retryable=False
        )

    async def used(self, key: str) -> int:
        """Spent plus still-reserved micro-USD on one counter."""
        async with redis_conn.guarded("budget ledger"):
            value = await self._redis.get(self._keys("budget", key))
        return 0 if value is None else int(value)

    async def reap_expired(self) -> int:
        """Charge every reservation past its ttl in full (it keeps its estimate); return how many."""
        charged = 0
        for _ in range(_REAP_ROUNDS):
            due, reaped = await self._run(self._reap, [self._res, self._exp], [REAP_BATCH, TOMBSTONE_MS])
            for i in range(0, len(reaped), 2):
                log.warning(
                    "budget reservation %s expired unsettled: charged in full (%s micro-USD)",
                    redis_conn.text(reaped[i]),
                    redis_conn.text(reaped[i + 1]),
                )
                self._names.pop(redis_conn.text(reaped[i]), None)
            charged += len(reaped) // 2
            if int(due) < REAP_BATCH:
                break
        return charged

    def _remember(self, reservation_id: str, names: tuple[str, ...]) -> None:
        if len(self._names) >= _REMEMBERED_MAX:
            self._names.pop(next(iter(self._names)))
        self._names[reservation_id] = names

    @staticmethod
    def _outcome(reservation_id: str, status: str) -> bool:
        if status == "ok":
            return True
        if status == "settled":
            log.warning(
                "budget reservation %s settled twice: the second settle changed nothing", reservation_id
            )
        elif status == "reaped":
            log.error(
                "budget reservation %s settled after the reaper charged it in full: its call outlived "
                "the reservation ttl; the actual cost was not applied",
                reservation_id,
            )
        else:
            log.error("budget reservation %s is unknown: settle changed nothing", reservation_id)
        return False

    async def _run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        # Fail closed: no LLM call without a reservation, whatever went wrong with Redis.
        async with redis_conn.guarded("budget ledger"):
            return await script(keys=keys, args=args)
