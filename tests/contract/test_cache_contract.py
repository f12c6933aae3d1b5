"""One suite for every `QueryCache`: in memory and on a real redis-server, plus a Redis outage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot import ports
from bot.adapters.memory import review_ports as memory
from bot.adapters.redis import cache as redis_cache
from bot.adapters.redis import conn as redis_conn
from tests.support.redis_server import RedisServer

IMPLS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
KEY = "review-v3:some-model:3f9a0c"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = redis_conn.client(redis_url)
    yield redis
    await redis.aclose()


@pytest.fixture(params=IMPLS)
def cache(request: pytest.FixtureRequest) -> ports.QueryCache:
    """A fresh cache of each implementation; the Redis one on a flushed server."""
    if request.param == "memory":
        return memory.InMemoryQueryCache()
    return redis_cache.RedisQueryCache(request.getfixturevalue("client"), "quorum")


async def test_a_missing_key_is_a_miss(cache: ports.QueryCache) -> None:
    assert await cache.get(KEY) is None


async def test_put_then_get_returns_the_value(cache: ports.QueryCache) -> None:
    value = '{"verdict": "approve", "note": "ünïcode ✓"}'

    await cache.put(KEY, value, ttl_s=60)

    assert await cache.get(KEY) == value


async def test_put_replaces_an_earlier_value(cache: ports.QueryCache) -> None:
    await cache.put(KEY, "old", ttl_s=60)

    await cache.put(KEY, "new", ttl_s=60)

    assert await cache.get(KEY) == "new"
    assert await cache.get(KEY + "-other") is None


async def test_an_entry_expires_after_its_ttl(cache: ports.QueryCache) -> None:
    await cache.put(KEY, "short-lived", ttl_s=1)
    await cache.put(KEY + ":long", "long-lived", ttl_s=60)

    await asyncio.sleep(1.1)

    assert await cache.get(KEY) is None
    assert await cache.get(KEY + ":long") == "long-lived"


async def test_a_ttl_of_zero_leaves_nothing_cached(cache: ports.QueryCache) -> None:
    await cache.put(KEY, "kept", ttl_s=60)

    await cache.put(KEY, "gone", ttl_s=0)

    assert await cache.get(KEY) is None


@pytest.mark.redis
async def test_redis_entries_live_under_the_prefix_with_a_ttl(client: aioredis.Redis) -> None:
    cache = redis_cache.RedisQueryCache(client, "quorum")

    await cache.put(KEY, "value", ttl_s=300)

    assert await client.get(f"quorum:cache:{KEY}") == "value"
    assert 295 <= await client.ttl(f"quorum:cache:{KEY}") <= 300


@pytest.mark.redis
async def test_redis_down_is_a_miss_logged_once_per_outage(
    redis_server: RedisServer, client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    cache = redis_cache.RedisQueryCache(client, "quorum")
    await cache.put(KEY, "before", ttl_s=300)

    with caplog.at_level(logging.INFO, logger=redis_cache.__name__):
        redis_server.stop(kill=True)
        try:
            during = [await cache.get(KEY), await cache.get(KEY)]
            await cache.put(KEY, "lost", ttl_s=300)
        finally:
            redis_server.start()
        await cache.put(KEY, "after", ttl_s=300)
        after = await cache.get(KEY)
        redis_server.stop(kill=True)
        try:
            second_outage = await cache.get(KEY)
        finally:
            redis_server.start()

    assert during == [None, None]
    assert after == "after"
    assert second_outage is None
    levels = [record.levelno for record in caplog.records]
    assert levels == [logging.WARNING, logging.INFO, logging.WARNING]
