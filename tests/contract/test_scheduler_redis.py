"""What only the Redis scheduler must survive: rewound fences, kill -9, outages, re-sent scripts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot import errors
from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import lua as redis_lua
from guardrails import admission, lease
from statemachine import records
from tests.contract.conftest import Coordination
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis
Outcome = admission.FinishOutcome


async def snapshot(client: aioredis.Redis) -> dict[str, Any]:
    """Every key and its whole value, to compare states."""
    state: dict[str, Any] = {}
    async for key in client.scan_iter("*"):
        kind = await client.type(key)
        if kind == "string":
            state[key] = await client.get(key)
        elif kind == "hash":
            state[key] = await client.hgetall(key)
        elif kind == "zset":
            state[key] = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "list":
            state[key] = await client.lrange(key, 0, -1)
        elif kind == "stream":
            state[key] = await client.xrange(key)
    return state


async def test_fence_grows_after_the_stored_fence_was_rewound(redis_coord: Coordination) -> None:
    scheduler = redis_coord.scheduler()
    await scheduler.enqueue("o/x#1", "a1")
    first = await scheduler.claim("c1")
    assert first is not None and redis_coord.redis is not None
    await scheduler.finish(first, Outcome.DONE)

    await redis_coord.redis.hset(redis_conn.Keys("quorum")("fence"), "o/x#1", "1")
    await scheduler.enqueue("o/x#1", "b2")
    second = await scheduler.claim("c2")

    assert second is not None and second.fence > first.fence


async def test_fences_leases_and_queue_survive_kill_9_and_restart(
    redis_coord: Coordination, redis_server: RedisServer
) -> None:
    scheduler = redis_coord.scheduler()
    await scheduler.enqueue("o/x#1", "a1")
    await scheduler.enqueue("o/y#1", "a1")
    first = await scheduler.claim("c1")
    assert first is not None

    redis_server.stop(kill=True)
    redis_server.start()
    waiting = await scheduler.claim("c2")
    finished = await scheduler.finish(first, Outcome.DONE)
    await scheduler.enqueue("o/x#1", "b2")
    again = await scheduler.claim("c3")

    assert waiting is not None and waiting.job.id == "o/y#1"
    assert finished is admission.FinishResult.DONE
    assert again is not None and again.fence > first.fence


async def test_every_operation_fails_closed_while_redis_is_down_and_works_after(
    redis_coord: Coordination, redis_server: RedisServer
) -> None:
    scheduler, store = redis_coord.scheduler(), redis_coord.state()
    await scheduler.enqueue("o/x#1", "a1")
    held = await scheduler.claim("c1")
    await scheduler.enqueue("o/y#1", "a1")
    assert held is not None

    redis_server.stop(kill=True)
    operations = [
        scheduler.enqueue("o/z#1", "a1", "d1"),
        scheduler.claim("c2"),
        scheduler.wait_for_work(0.1),
        scheduler.renew(held),
        scheduler.finish(held, Outcome.DONE),
        scheduler.leases.check_publish(held.lease, "a1"),
        scheduler.running(),
        scheduler.reap_expired(),
        store.save(
            records.PullRequestRecord("o/x", 1, "in_review", "a1"), expected_version=0, fence=held.fence
        ),
        redis_coord.dedupe().first_seen("d2"),
    ]
    for operation in operations:
        with pytest.raises(errors.CoordinationUnavailable):
            await operation
    redis_server.start()

    assert await scheduler.renew(held)
    waiting = await scheduler.claim("c3")
    assert waiting is not None and waiting.job.id == "o/y#1"
    assert await scheduler.finish(held, Outcome.DONE) is admission.FinishResult.DONE


async def test_every_script_run_twice_with_the_same_id_leaves_the_same_state(
    redis_coord: Coordination,
) -> None:
    client = redis_coord.redis
    assert client is not None
    scheduler, store = redis_coord.scheduler(), redis_coord.state()
    short = redis_coord.scheduler(policy=lease.LeasePolicy(ttl_s=0.1, max_hold_s=60.0))
    await scheduler.enqueue("o/dead#1", "a1")
    doomed = await scheduler.claim("c-dead")
    assert doomed is not None
    await scheduler.finish(doomed, Outcome.FAILED, "bad")
    await scheduler.enqueue("o/late#1", "a1")
    assert await short.claim("c-late") is not None
    await asyncio.sleep(0.15)

    held: admission.Claim | None = None

    async def claim() -> None:
        nonlocal held
        held = await scheduler.claim("c1")

    record = records.PullRequestRecord("o/x", 1, "in_review", "a1")
    note = records.AuditEntry(1.0, "q", "open", "in_review", "t")
    steps = [
        lambda: scheduler.enqueue("o/x#1", "a1", "d1"),
        lambda: scheduler.enqueue("o/x#1", "a1"),
        lambda: scheduler.reap_expired(),
        claim,
        lambda: scheduler.leases.check_publish(held.lease, "a1"),
        lambda: scheduler.leases.mark_published(held.lease, lease.marker("o/x#1", held.fence, "a1", 1)),
        lambda: store.save(record, expected_version=0, fence=held.fence),
        lambda: store.append_audit("o/x#1", note, held.fence),
        lambda: scheduler.finish(held, Outcome.RETRY, "flaky"),
        lambda: scheduler.requeue_dead("o/dead#1"),
    ]
    for step in steps:
        await step()
        once = await snapshot(client)
        await step()
        assert await snapshot(client) == once


BUSY = """local t = redis.call('TIME')
repeat local n = redis.call('TIME') until (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > tonumber(ARGV[1])
return 1"""


async def evalsha_calls(client: aioredis.Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_scripts_re_sent_after_a_socket_timeout_act_once(
    redis_coord: Coordination, redis_url: str
) -> None:
    admin = redis_coord.redis
    assert admin is not None
    impatient = redis_conn.client(redis_url, socket_timeout=0.2)
    scheduler = redis_coord.scheduler()
    hasty = Coordination("redis", redis=impatient).scheduler()
    for job_id in ("o/x#1", "o/y#1"):
        await scheduler.enqueue(job_id, "a1")
    await hasty.running()  # connect before the server gets busy
    for body in (redis_lua.CLAIM, redis_lua.FINISH):  # so no NOSCRIPT round trip counts as a re-send
        await admin.script_load(redis_lua.PRELUDE + body)
    await admin.config_resetstat()
    busy = admin.register_script(BUSY)

    async def stall_then(operation: Any) -> Any:
        stall = asyncio.create_task(busy(args=[500_000]))
        await asyncio.sleep(0.05)
        try:
            return await operation()
        finally:
            await stall

    held = await stall_then(lambda: hasty.claim("c1"))
    finished = await stall_then(lambda: hasty.finish(held, Outcome.DONE))

    assert (
        await evalsha_calls(admin) >= 2 + 2 + 2
    )  # BUSY twice, then claim and finish each sent at least twice
    assert held is not None and held.job.id == "o/x#1"
    assert finished is admission.FinishResult.DONE
    assert [r.job_id for r in await scheduler.running()] == []
    events = [fields["event"] for _, fields in await admin.xrange(redis_conn.Keys("quorum")("q", "audit"))]
    assert events == ["claim", "finish"]
    await impatient.aclose()


async def test_idle_wait_returns_before_the_socket_times_out(
    redis_coord: Coordination, redis_url: str
) -> None:
    brisk = redis_conn.client(redis_url, socket_timeout=1.0)
    scheduler = Coordination("redis", redis=brisk).scheduler(max_block_s=4.0)
    started = asyncio.get_running_loop().time()

    woken = await scheduler.wait_for_work(10.0)  # a BLPOP past the socket timeout would raise

    assert not woken and asyncio.get_running_loop().time() - started < 1.5
    await brisk.aclose()
