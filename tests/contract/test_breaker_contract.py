"""One suite for every `CircuitBreakers`: in memory and on a real redis-server, two handles acting as two
replicas (for Redis: two clients with their own connections)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.adapters.memory import breakers as memory_breakers
from bot.adapters.redis import breakers as redis_breakers
from bot.adapters.redis import conn as redis_conn
from guardrails import breaker

IMPLS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
POLICY = breaker.BreakerPolicy(failure_threshold=3, cooldown_s=0.3, probe_ttl_s=0.3)
NAME = "openai/gpt-4o"
Pair = tuple[breaker.CircuitBreakers, breaker.CircuitBreakers]


@pytest.fixture(params=IMPLS)
async def replicas(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    """Two handles on one shared breaker store."""
    if request.param == "memory":
        shared = memory_breakers.InMemoryCircuitBreakers(POLICY)
        yield shared, shared
        return
    url = request.getfixturevalue("redis_url")
    clients = [redis_conn.client(url), redis_conn.client(url)]
    keys = redis_conn.Keys("quorum")
    yield tuple(redis_breakers.RedisCircuitBreakers(c, keys, POLICY) for c in clients)  # type: ignore[misc]
    for client in clients:
        await client.aclose()


async def fail(b: breaker.CircuitBreakers, times: int, token: str = "t") -> list[breaker.Change]:
    return [await b.observe(NAME, f"{token}{i}", breaker.Event.FAILURE, "HTTP 503") for i in range(times)]


async def test_an_unknown_model_is_closed_and_leaves_no_record(replicas: Pair) -> None:
    a, _ = replicas

    permit = await a.admit(NAME, "x")
    await a.observe(NAME, "x", breaker.Event.SUCCESS)

    assert (permit.allowed, permit.state) == (True, breaker.State.CLOSED)
    assert await a.states() == []


async def test_threshold_consecutive_failures_open_it_for_every_replica(replicas: Pair) -> None:
    a, b = replicas

    opened = await fail(a, 3)
    permit = await b.admit(NAME, "other")

    assert opened == [breaker.Change.NONE, breaker.Change.NONE, breaker.Change.OPENED]
    assert (permit.allowed, permit.state) == (False, breaker.State.OPEN)
    assert permit.retry_at > 0
    [status] = await b.states()
    assert (status.state, status.failures, status.reason, status.opened) == (
        breaker.State.OPEN, 3, "HTTP 503", 1,
    )  # fmt: skip


async def test_a_success_in_between_resets_the_count(replicas: Pair) -> None:
    a, b = replicas

    await fail(a, 2)
    await b.observe(NAME, "ok", breaker.Event.SUCCESS)
    opened = await fail(a, 2)

    assert opened == [breaker.Change.NONE, breaker.Change.NONE]
    assert (await b.admit(NAME, "next")).allowed


async def test_a_trip_opens_at_once_and_a_late_success_does_not_close_it(replicas: Pair) -> None:
    a, b = replicas

    opened = await a.observe(NAME, "over", breaker.Event.TRIP, "usage_over_reservation")
    await b.observe(NAME, "in-flight", breaker.Event.SUCCESS)
    again = await b.observe(NAME, "another", breaker.Event.TRIP, "usage_over_reservation")

    assert (opened, again) == (breaker.Change.OPENED, breaker.Change.NONE)
    assert not (await b.admit(NAME, "next")).allowed
    [status] = await a.states()
    assert (status.state, status.reason, status.opened) == (breaker.State.OPEN, "usage_over_reservation", 1)


async def test_after_the_cooldown_exactly_one_caller_across_replicas_gets_the_probe(replicas: Pair) -> None:
    a, b = replicas
    await fail(a, 3)
    await asyncio.sleep(POLICY.cooldown_s + 0.05)

    permits = await asyncio.gather(*((a if i % 2 else b).admit(NAME, f"c{i}") for i in range(20)))

    probes = [i for i, p in enumerate(permits) if p.allowed]
    assert len(probes) == 1
    assert permits[probes[0]].probe and permits[probes[0]].state is breaker.State.HALF_OPEN
    assert all(p.state is breaker.State.HALF_OPEN for p in permits)


async def test_a_successful_probe_closes_it_for_every_replica(replicas: Pair) -> None:
    a, b = replicas
    await fail(a, 3)
    await asyncio.sleep(POLICY.cooldown_s + 0.05)
    assert (await a.admit(NAME, "probe")).probe

    closed = await a.observe(NAME, "probe", breaker.Event.SUCCESS)

    assert closed is breaker.Change.CLOSED
    permit = await b.admit(NAME, "after")
    assert (permit.allowed, permit.state) == (True, breaker.State.CLOSED)
    [status] = await b.states()
    assert (status.state, status.failures) == (breaker.State.CLOSED, 0)


async def test_a_failed_probe_opens_it_for_a_new_cooldown(replicas: Pair) -> None:
    a, b = replicas
    await fail(a, 3)
    await asyncio.sleep(POLICY.cooldown_s + 0.05)
    assert (await a.admit(NAME, "probe")).probe

    reopened = await a.observe(NAME, "probe", breaker.Event.FAILURE, "timeout")

    assert reopened is breaker.Change.OPENED
    assert not (await b.admit(NAME, "after")).allowed
    [status] = await b.states()
    assert (status.state, status.reason, status.opened) == (breaker.State.OPEN, "timeout", 2)


async def test_a_failure_of_a_caller_that_is_not_the_probe_changes_nothing(replicas: Pair) -> None:
    a, b = replicas
    await fail(a, 3)
    await asyncio.sleep(POLICY.cooldown_s + 0.05)
    assert (await a.admit(NAME, "probe")).probe

    changes = [
        await b.observe(NAME, "old-call", breaker.Event.FAILURE, "late"),
        await b.observe(NAME, "old-call", breaker.Event.SUCCESS),
    ]

    assert changes == [breaker.Change.NONE, breaker.Change.NONE]

    [status] = await b.states()
    assert status.state is breaker.State.HALF_OPEN
    assert not (await b.admit(NAME, "other")).allowed


async def test_a_probe_whose_caller_vanished_lapses_and_the_next_caller_probes(replicas: Pair) -> None:
    a, b = replicas
    await fail(a, 3)
    await asyncio.sleep(POLICY.cooldown_s + 0.05)
    assert (await a.admit(NAME, "dies")).probe

    await asyncio.sleep(POLICY.probe_ttl_s + 0.05)
    permit = await b.admit(NAME, "next")

    assert permit.allowed and permit.probe


async def test_an_unsent_probe_gives_its_turn_back_without_closing_it(replicas: Pair) -> None:
    a, b = replicas
    await fail(a, 3)
    await asyncio.sleep(POLICY.cooldown_s + 0.05)
    assert (await a.admit(NAME, "held-back")).probe
    bystander = await a.observe(NAME, "not-the-probe", breaker.Event.UNSENT)

    change = await a.observe(NAME, "held-back", breaker.Event.UNSENT)
    permit = await b.admit(NAME, "next")  # at once, not after the probe's time to live

    assert (bystander, change) == (breaker.Change.NONE, breaker.Change.NONE)
    assert permit.allowed and permit.probe and permit.state is breaker.State.HALF_OPEN
    assert (await b.observe(NAME, "next", breaker.Event.SUCCESS)) is breaker.Change.CLOSED
    assert await a.observe("ollama/never-seen", "x", breaker.Event.UNSENT) is breaker.Change.NONE
    assert [s.name for s in await a.states()] == [NAME]


async def test_an_operator_reset_closes_it(replicas: Pair) -> None:
    a, b = replicas
    await a.observe(NAME, "over", breaker.Event.TRIP, "usage_over_reservation")

    reset, again = await b.reset(NAME), await b.reset(NAME)

    assert (reset, again) == (True, False)
    assert (await a.admit(NAME, "after")).allowed
    assert await a.reset("ollama/never-seen") is False
