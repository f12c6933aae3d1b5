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
from bot.adapters.redis.scripts import budget as budget_scripts
from guardrails import budget

log = logging.getLogger(__name__)

COUNTER_TTL_S = 3 * 86_400
# A PR's counter lives this long after its last charge: an idle PR's spend is forgotten after 30 days.
PR_TTL_S = 30 * 86_400
TOMBSTONE_MS = 3_600_000
REAP_BATCH = 256
_REAP_ROUNDS = 16
_REMEMBERED_MAX = 4096


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
        self._reserve = redis.register_script(budget_scripts.RESERVE)
        self._settle = redis.register_script(budget_scripts.SETTLE)
        self._reap = redis.register_script(budget_scripts.REAP)
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
