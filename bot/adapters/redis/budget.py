"""The budget ledger on Redis: one Lua script each to reserve, settle and reap, integer micro-USD.

Keys (one hash tag, so every script stays in one Cluster slot; every key is passed in KEYS):
    {quorum}:budget:<cap key>   spent + reserved micro-USD of one cap (INCRBY); its expiry is refreshed on
                                every charge: 30 days for a PR's counter, 3 days for the others
    {quorum}:budget_alert:<cap key>  hash percent -> used when that alert fired; lives as long as the counter
    {quorum}:budget:res         hash id -> record: open {a, k} (amount, counter names), or a tombstone
    {quorum}:budget:res_exp     zset id -> server-TIME ms when an open record is reaped or a tombstone purged

A record keeps the counter names it charged, so a settle after midnight corrects the day it reserved.
Settled and reaped records stay as tombstones for an hour: a re-sent reserve or settle (redis-py re-sends
after a socket timeout) then changes nothing.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from bot import errors
from bot.adapters.redis import conn as redis_conn
from guardrails import budget

log = logging.getLogger(__name__)

COUNTER_TTL_S = 3 * 86_400
# A PR's counter lives this long after its last charge: an idle PR's spend is forgotten after 30 days.
PR_TTL_S = 30 * 86_400
TOMBSTONE_MS = 3_600_000
REAP_BATCH = 256
_REAP_ROUNDS = 16
_REMEMBERED_MAX = 4096

# Shared by reserve and settle. KEYS: res, exp, n counters, n alert hashes. A cap's settings travel per
# counter (limit, ttl seconds, alerts on); `alert` marks each crossed threshold once in the cap's alert hash
# (HSETNX), which lives exactly as long as its counter: one notification per threshold and period.
_COMMON = """
local function pcts(csv)
  local out = {}
  for p in string.gmatch(csv, '%d+') do out[#out + 1] = tonumber(p) end
  return out
end
local function charge(i, n, delta, ttl)
  local used = redis.call('INCRBY', KEYS[2 + i], delta)
  -- Refreshed on every charge: a counter (the PR's above all) lives `ttl` past its last charge.
  redis.call('EXPIRE', KEYS[2 + i], ttl)
  if redis.call('EXISTS', KEYS[2 + n + i]) == 1 then redis.call('EXPIRE', KEYS[2 + n + i], ttl) end
  return used
end
local function alert(i, n, used, limit, ttl, thresholds, fired)
  local cap = tonumber(limit)
  if cap <= 0 then return end
  for _, p in ipairs(thresholds) do
    if used >= p * cap / 100 and redis.call('HSETNX', KEYS[2 + n + i], p, used) == 1 then
      redis.call('EXPIRE', KEYS[2 + n + i], ttl)
      for _, v in ipairs({i, p, used, limit}) do fired[#fired + 1] = v end
    end
  end
end
"""

# ARGV: id, amount, reservation ttl ms, thresholds csv, then per cap: limit, counter ttl s, alerts (0/1).
_RESERVE = (
    _COMMON
    + """
local res, exp, id = KEYS[1], KEYS[2], ARGV[1]
if redis.call('HEXISTS', res, id) == 1 then return {1} end
local n, amount, thresholds = (#KEYS - 2) / 2, tonumber(ARGV[2]), pcts(ARGV[4])
local function arg(i, j) return ARGV[4 + 3 * (i - 1) + j] end
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[2 + i]) or '0')
  if used + amount > tonumber(arg(i, 1)) then return {0, i, used} end
end
local names, limits, ttls, flags, fired = {}, {}, {}, {}, {}
for i = 1, n do
  local used = charge(i, n, ARGV[2], arg(i, 2))
  if arg(i, 3) == '1' then alert(i, n, used, arg(i, 1), arg(i, 2), thresholds, fired) end
  names[i], limits[i], ttls[i], flags[i] = KEYS[2 + i], arg(i, 1), arg(i, 2), arg(i, 3)
end
local t = redis.call('TIME')
local now_ms = t[1] * 1000 + math.floor(t[2] / 1000)
local record = {s = 'open', a = ARGV[2], k = names, l = limits, t = ttls, f = flags}
redis.call('HSET', res, id, cjson.encode(record))
redis.call('ZADD', exp, now_ms + tonumber(ARGV[3]), id)
return {1, unpack(fired)}
"""
)

# ARGV: id, actual, settle id, tombstone ms, default counter ttl s, thresholds csv. Amounts, limits and
# ttls stay strings in the record: cjson prints numbers with 14 digits only.
_SETTLE = (
    _COMMON
    + """
local res, exp, id = KEYS[1], KEYS[2], ARGV[1]
local rec = redis.call('HGET', res, id)
if not rec then return {'unknown'} end
local r = cjson.decode(rec)
if r.s == 'settled' then
  if r.n == ARGV[3] then return {'ok'} end
  return {'settled'}
end
if r.s ~= 'open' then return {r.s} end
local n = (#KEYS - 2) / 2
if #r.k ~= n then return {'keys', rec} end
for i = 1, n do
  if r.k[i] ~= KEYS[i + 2] then return {'keys', rec} end
end
local delta, thresholds, fired = tonumber(ARGV[2]) - tonumber(r.a), pcts(ARGV[6]), {}
for i = 1, n do
  local ttl = (r.t and r.t[i]) or ARGV[5]
  if delta > 0 or (delta < 0 and redis.call('EXISTS', KEYS[i + 2]) == 1) then
    local used = charge(i, n, delta, ttl)
    if delta > 0 and r.f and r.f[i] == '1' then alert(i, n, used, r.l[i], ttl, thresholds, fired) end
  end
end
local t = redis.call('TIME')
local now_ms = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('HSET', res, id, cjson.encode({s = 'settled', n = ARGV[3]}))
redis.call('ZADD', exp, now_ms + tonumber(ARGV[4]), id)
return {'ok', unpack(fired)}
"""
)

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
    """A `BudgetLedger` shared by every replica; fails closed with `CoordinationUnavailable`.

    `alert_percents` (e.g. 50, 80, 100) of the caps in `budget.ALERT_CAPS` fire `on_alert` once per
    threshold and period across all replicas: the script that crosses a threshold marks it atomically.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: redis_conn.Keys,
        *,
        counter_ttl_s: int = COUNTER_TTL_S,
        pr_ttl_s: int = PR_TTL_S,
        alert_percents: Sequence[int] = (),
        on_alert: Callable[[budget.BudgetAlert], None] = lambda alert: None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._counter_ttl_s, self._pr_ttl_s = counter_ttl_s, pr_ttl_s
        self._percents = ",".join(str(p) for p in sorted(set(alert_percents)))
        self._on_alert = on_alert
        self._res = keys("budget", "res")
        self._exp = keys("budget", "res_exp")
        self._counter_prefix = keys("budget", "")
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
        args: list[str | int] = [reservation.id, reservation.amount_micro, ttl_ms, self._percents]
        for cap in reservation.caps:
            ttl = self._pr_ttl_s if cap.name == "pr" else self._counter_ttl_s
            args += [cap.limit_micro, ttl, int(bool(self._percents) and cap.name in budget.ALERT_CAPS)]
        reply = await self._run(
            self._reserve, [self._res, self._exp, *counters, *self._alerts(counters)], args
        )
        if int(reply[0]) == 1:
            self._remember(reservation.id, tuple(counters))
            self._fire(counters, reply[1:])
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
            self._percents,
        ]
        for _ in range(2):
            keys = [self._res, self._exp, *names, *self._alerts(names)]
            reply = await self._run(self._settle, keys, args)
            status = redis_conn.text(reply[0])
            if status == "ok":
                self._fire(names, reply[1:])
            if status != "keys":
                return self._outcome(reservation_id, status)
            names = tuple(json.loads(redis_conn.text(reply[1])).get("k") or ())
        raise errors.CoordinationUnavailable(
            f"budget record {reservation_id!r} changed while it was settled", retryable=False
        )

    def _alerts(self, counters: Sequence[str]) -> list[str]:
        """The alert hash of each counter (`{quorum}:budget_alert:<cap key>`), in the same order."""
        return [self._keys("budget_alert", name[len(self._counter_prefix) :]) for name in counters]

    def _fire(self, counters: Sequence[str], fired: Sequence[Any]) -> None:
        for i in range(0, len(fired), 4):
            key = counters[int(fired[i]) - 1][len(self._counter_prefix) :]
            alert = budget.BudgetAlert(
                key.split(":", 1)[0], key, int(fired[i + 1]), int(fired[i + 2]), int(fired[i + 3])
            )
            log.warning("budget alert: %s", alert.text())
            self._on_alert(alert)

    async def used(self, key: str) -> int:
        """Spent plus still-reserved micro-USD on one counter."""
        async with redis_conn.guarded("budget ledger"):
            value = await self._redis.get(self._keys("budget", key))
        return 0 if value is None else int(value)

    async def counters(self, prefix: str, limit: int = 1000) -> dict[str, int]:
        """Counters under `prefix`, found by SCAN (so never blocking the server), read with one MGET."""
        start = self._keys("budget", "")
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", start + prefix) + "*"
        names: list[str] = []
        async with redis_conn.guarded("budget ledger"):
            async for name in self._redis.scan_iter(match=pattern, count=500):
                names.append(redis_conn.text(name))
                if len(names) >= limit:
                    break
            values = await self._redis.mget(names) if names else []
        found = {n[len(start) :]: int(v) for n, v in zip(names, values, strict=True) if v is not None}
        return dict(sorted(found.items()))

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
