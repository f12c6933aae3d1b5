"""What only the Redis ledger must do: reaping, re-sent scripts, counter expiry, restarts, failing closed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot import errors
from bot.adapters.redis import budget as redis_budget
from bot.adapters.redis import conn as redis_conn
from guardrails import budget
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis

KEYS = redis_conn.Keys("quorum")
BIG = 10**12
# Holds the server for ARGV[1] µs, so a client with a shorter socket timeout gives up and re-sends.
BUSY = """
local s = redis.call('TIME')
local start = s[1] * 1000000 + s[2]
repeat
  local n = redis.call('TIME')
until n[1] * 1000000 + n[2] - start >= tonumber(ARGV[1])
return 1
"""


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = redis_conn.client(redis_url)
    yield redis
    await redis.aclose()


@pytest.fixture
def ledger(client: aioredis.Redis) -> redis_budget.RedisBudgetLedger:
    return redis_budget.RedisBudgetLedger(client, KEYS)


def caps(day: str = "2024-05-01", limit: int = BIG) -> tuple[budget.Cap, ...]:
    scope = budget.BudgetScope("acme/app", "acme/app#7", 0)
    return budget.caps_for(scope, budget.BudgetLimits(limit, limit, limit, limit), day)


async def counters(ledger: redis_budget.RedisBudgetLedger, of: tuple[budget.Cap, ...]) -> list[int]:
    return [await ledger.used(cap.key) for cap in of]


async def evalsha_calls(redis: aioredis.Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_another_replica_settles_on_the_counters_the_reservation_charged(
    client: aioredis.Redis, ledger: redis_budget.RedisBudgetLedger
) -> None:
    before_midnight, after_midnight = caps("2024-05-01"), caps("2024-05-02")
    await ledger.reserve(budget.Reservation("r-1", 900, before_midnight, ttl_s=60))
    other = redis_budget.RedisBudgetLedger(client, KEYS)

    settled = await other.settle("r-1", 250)

    assert settled
    assert await counters(ledger, before_midnight) == [250] * 4
    assert await counters(ledger, after_midnight) == [250, 250, 0, 0]


async def test_expiry_is_refreshed_on_every_charge_and_a_pr_counter_lives_thirty_days(
    client: aioredis.Redis, ledger: redis_budget.RedisBudgetLedger
) -> None:
    charged = caps()
    names = [KEYS("budget", cap.key) for cap in charged]
    await ledger.reserve(budget.Reservation("r-1", 10, charged, ttl_s=60))
    first = [await client.ttl(name) for name in names]
    for name in names:
        await client.expire(name, 100)  # as if the PR had been idle for a long time

    await ledger.reserve(budget.Reservation("r-2", 10, charged, ttl_s=60))
    await ledger.settle("r-2", 5)

    expected = [3 * 86_400, 30 * 86_400, 3 * 86_400, 3 * 86_400]  # round, pr, repo_day, day
    assert [cap.name for cap in charged] == ["round", "pr", "repo_day", "day"]
    assert all(want - 5 <= ttl <= want for ttl, want in zip(first, expected, strict=True))
    after = [await client.ttl(name) for name in names]
    assert all(want - 5 <= ttl <= want for ttl, want in zip(after, expected, strict=True))
    assert await counters(ledger, charged) == [15] * 4


async def test_every_key_carries_the_hash_tag(
    client: aioredis.Redis, ledger: redis_budget.RedisBudgetLedger
) -> None:
    await ledger.reserve(budget.Reservation("r-1", 10, caps(), ttl_s=60))
    await ledger.reserve(budget.Reservation("r-2", 10, caps(), ttl_s=60))
    await ledger.settle("r-2", 1)

    names = [name async for name in client.scan_iter()]

    assert len(names) == 6
    assert all(name.startswith("{quorum}:budget:") for name in names)


async def test_settle_after_reaping_returns_false_and_is_logged_loudly(
    ledger: redis_budget.RedisBudgetLedger, caplog: pytest.LogCaptureFixture
) -> None:
    charged = caps()
    await ledger.reserve(budget.Reservation("r-dead", 400, charged, ttl_s=0.02))
    await asyncio.sleep(0.05)

    with caplog.at_level(logging.WARNING, logger=redis_budget.__name__):
        reaped = await ledger.reap_expired()
        late = await ledger.settle("r-dead", 1)

    assert (reaped, late) == (1, False)
    assert await counters(ledger, charged) == [400] * 4
    logged = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in logged] == [logging.WARNING, logging.ERROR]
    assert "expired unsettled: charged in full (400 micro-USD)" in logged[0][1]
    assert "after the reaper charged it in full" in logged[1][1]


async def test_reaper_purges_tombstones_once_their_time_is_up(
    client: aioredis.Redis, ledger: redis_budget.RedisBudgetLedger
) -> None:
    await ledger.reserve(budget.Reservation("r-1", 10, caps(), ttl_s=60))
    await ledger.settle("r-1", 10)
    await client.zadd(KEYS("budget", "res_exp"), {"r-1": 0})

    reaped = await ledger.reap_expired()

    assert reaped == 0
    assert await client.hlen(KEYS("budget", "res")) == 0
    assert await client.zcard(KEYS("budget", "res_exp")) == 0


async def hold(redis: aioredis.Redis, seconds: float) -> None:
    await redis.eval(BUSY, 0, round(seconds * 1_000_000))


@contextlib.asynccontextmanager
async def server_held_busy(redis_url: str, seconds: float) -> AsyncIterator[None]:
    """Keep the server inside a slow script while the body runs, so short socket timeouts fire."""
    blocker = redis_conn.client(redis_url)
    await blocker.ping()  # connected beforehand, so the script starts within the sleep below
    busy = asyncio.create_task(hold(blocker, seconds))
    await asyncio.sleep(0.05)
    try:
        yield
    finally:
        await busy
        await blocker.aclose()


@pytest.fixture
async def impatient(redis_url: str) -> AsyncIterator[redis_budget.RedisBudgetLedger]:
    """A ledger whose client gives up after 0.4 s and re-sends (redis_conn.client's retry policy).

    Held busy for 0.7 s, its first attempt times out at ~0.45 s and the re-send, sent at >= 0.5 s, gets
    its answer when the hold ends: the script runs twice and the call succeeds.
    """
    redis = redis_conn.client(redis_url, socket_timeout=0.4)
    yield redis_budget.RedisBudgetLedger(redis, KEYS)
    await redis.aclose()


async def test_reserve_resent_after_a_socket_timeout_charges_once(
    redis_url: str, client: aioredis.Redis, impatient: redis_budget.RedisBudgetLedger
) -> None:
    await impatient.reserve(budget.Reservation("warm-up", 1, (), ttl_s=60))  # loads the script
    await client.config_resetstat()

    async with server_held_busy(redis_url, 0.7):
        decision = await impatient.reserve(budget.Reservation("r-slow", 77, caps(), ttl_s=60))

    assert decision.allowed
    assert await evalsha_calls(client) >= 2, "the reserve was not re-sent: the test proves nothing"
    assert await counters(impatient, caps()) == [77] * 4


async def test_settle_resent_after_a_socket_timeout_applies_once_and_succeeds(
    redis_url: str, client: aioredis.Redis, impatient: redis_budget.RedisBudgetLedger
) -> None:
    await impatient.reserve(budget.Reservation("r-slow", 500, caps(), ttl_s=60))
    await client.config_resetstat()

    async with server_held_busy(redis_url, 0.7):
        settled = await impatient.settle("r-slow", 120)

    assert settled
    assert await evalsha_calls(client) >= 2, "the settle was not re-sent: the test proves nothing"
    assert await counters(impatient, caps()) == [120] * 4


async def test_reservations_survive_a_redis_restart(
    redis_server: RedisServer, ledger: redis_budget.RedisBudgetLedger
) -> None:
    await ledger.reserve(budget.Reservation("r-1", 300, caps(), ttl_s=60))

    redis_server.stop()
    redis_server.start()
    settled = await ledger.settle("r-1", 100)

    assert settled
    assert await counters(ledger, caps()) == [100] * 4


async def test_redis_down_fails_closed(
    redis_server: RedisServer, ledger: redis_budget.RedisBudgetLedger
) -> None:
    await ledger.reserve(budget.Reservation("r-1", 300, caps(), ttl_s=60))
    redis_server.stop(kill=True)

    try:
        with pytest.raises(errors.CoordinationUnavailable) as reserving:
            await ledger.reserve(budget.Reservation("r-2", 1, caps(), ttl_s=60))
        with pytest.raises(errors.CoordinationUnavailable):
            await ledger.settle("r-1", 0)
        with pytest.raises(errors.CoordinationUnavailable):
            await ledger.used(caps()[0].key)
        with pytest.raises(errors.CoordinationUnavailable):
            await ledger.reap_expired()
    finally:
        redis_server.start()

    assert reserving.value.retryable
    assert isinstance(reserving.value.__cause__, Exception)
