"""One suite for every `WritePacer`: in memory and on a real redis-server, two handles acting as two
replicas using one credential (for Redis: two clients with their own connections)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from bot.adapters.memory import pacer as memory_pacer
from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import pacer as redis_pacer
from guardrails import pacing

IMPLS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
POLICY = pacing.PacingPolicy(interval_s=0.3, per_minute=3, hold_s=0.6)
CREDENTIAL = "token|https://api.github.com|ghp_secret_token_value"
Pair = tuple[pacing.WritePacer, pacing.WritePacer]


Make = Callable[[pacing.PacingPolicy], Pair]


@pytest.fixture(params=IMPLS)
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Make]:
    """Builds two handles on one credential's pace under a policy."""
    clients: list[aioredis.Redis] = []

    def pair(policy: pacing.PacingPolicy) -> Pair:
        if request.param == "memory":
            shared = memory_pacer.InMemoryWritePacer(policy)
            return shared, shared
        url = request.getfixturevalue("redis_url")
        clients[:] = [redis_conn.client(url), redis_conn.client(url)]
        keys = redis_conn.Keys("quorum")
        a, b = (redis_pacer.RedisWritePacer(c, keys, CREDENTIAL, policy) for c in clients)
        return a, b

    yield pair
    for client in clients:
        await client.aclose()


@pytest.fixture
def replicas(make: Make) -> Pair:
    """Two handles on one credential's pace."""
    return make(POLICY)


async def test_a_claim_holds_every_replica_until_released_and_then_for_the_interval(replicas: Pair) -> None:
    a, b = replicas

    first = await a.claim("w1")
    while_held = await b.claim("w2")
    await a.release("w1")
    after_release = await b.claim("w2")

    assert first == 0
    assert 0 < while_held <= POLICY.hold_s
    assert 0 < after_release <= POLICY.interval_s
    await asyncio.sleep(after_release)
    assert await b.claim("w2") == 0


async def test_a_holder_that_never_releases_holds_the_others_back_only_for_the_hold(replicas: Pair) -> None:
    a, b = replicas
    assert await a.claim("crashed") == 0
    started = time.monotonic()

    while (wait := await b.claim("next")) > 0:
        await asyncio.sleep(wait)

    assert POLICY.hold_s - 0.05 <= time.monotonic() - started < POLICY.hold_s + 0.5


async def test_a_late_release_of_a_lost_hold_never_frees_the_current_holder(replicas: Pair) -> None:
    a, b = replicas
    assert await a.claim("slow") == 0
    await asyncio.sleep(POLICY.hold_s)
    assert await b.claim("current") == 0

    await a.release("slow")

    assert await a.claim("third") > POLICY.interval_s


async def test_no_more_than_per_minute_claims_in_sixty_seconds(replicas: Pair) -> None:
    a, b = replicas
    for i in range(POLICY.per_minute):
        pacer = (a, b)[i % 2]
        while (wait := await pacer.claim(f"w{i}")) > 0:
            await asyncio.sleep(wait)
        await pacer.release(f"w{i}")
    await asyncio.sleep(POLICY.interval_s)

    wait = await a.claim("one too many")

    assert pacing.WINDOW_S - 2 < wait <= pacing.WINDOW_S


async def test_no_more_than_per_hour_claims_in_an_hour(make: Make) -> None:
    a, b = make(pacing.PacingPolicy(interval_s=0.05, per_minute=3, hold_s=0.6, per_hour=2))
    for i, pacer in enumerate((a, b)):
        assert await pacer.claim(f"w{i}") == 0
        await pacer.release(f"w{i}")
        await asyncio.sleep(0.05)

    wait = await a.claim("one too many")

    assert pacing.HOUR_S - 2 < wait <= pacing.HOUR_S


async def test_a_limit_blocked_by_one_replica_holds_the_others_until_it_ends(replicas: Pair) -> None:
    a, b = replicas
    assert await b.blocked() == 0

    await a.block(0.5)
    await b.block(0.1)  # a shorter limit never shortens a longer one
    held = await b.blocked()
    await asyncio.sleep(held)

    assert 0.3 < held <= 0.5
    assert await a.blocked() == 0


@pytest.mark.redis
async def test_the_key_names_the_credential_by_a_hash_only_and_expires(redis_url: str) -> None:
    client = redis_conn.client(redis_url)
    pacer = redis_pacer.RedisWritePacer(client, redis_conn.Keys("quorum"), CREDENTIAL, POLICY)

    await pacer.claim("w1")
    await pacer.block(5)
    names = [redis_conn.text(k) async for k in client.scan_iter("*")]
    ttls = [await client.pttl(n) for n in names]
    await client.aclose()

    assert len(names) == 3 and all(n.startswith("{quorum}:pace:") for n in names)
    assert not any("ghp_secret" in n or "api.github.com" in n for n in names)
    assert all(ttl > 0 for ttl in ttls)
