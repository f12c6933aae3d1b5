"""A job that gives its slot back keeps its lease: the limits count slots, the PR stays locked and fenced
(same suite in memory and on a real redis-server)."""

from __future__ import annotations

import asyncio

from guardrails import admission, lease
from tests.contract.conftest import Coordination
from tests.contract.test_scheduler_contract import SHORT, enqueue_all

Outcome = admission.FinishOutcome
ONE = admission.Limits(max_concurrent_agents=1, max_per_repo=1)
TWO = admission.Limits(max_concurrent_agents=2, max_per_repo=2)


async def test_a_yielded_slot_admits_the_next_review_and_the_lease_still_holds(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=ONE)
    await enqueue_all(scheduler, "o/a#1", "o/b#1", "o/c#1")
    first = await scheduler.claim("c1")
    assert first is not None and await scheduler.claim("c2") is None

    yielded = await scheduler.yield_slot(first)
    second = await scheduler.claim("c3")

    assert yielded and second is not None and second.job.id == "o/b#1"
    assert (await scheduler.leases.check_publish(first.lease, "a1")).allowed
    assert await scheduler.renew(first)
    assert await scheduler.finish(first, Outcome.DONE) is admission.FinishResult.DONE
    # The yielded job's finish frees no second slot: o/b#1 still holds the only one.
    assert await scheduler.claim("c4") is None


async def test_yielding_frees_the_repository_slot_once(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=admission.Limits(max_concurrent_agents=10, max_per_repo=1))
    await enqueue_all(scheduler, "o/a#1", "o/a#2", "o/a#3")
    first = await scheduler.claim("c1")
    assert first is not None and await scheduler.claim("c2") is None

    assert await scheduler.yield_slot(first) and await scheduler.yield_slot(first)
    second = await scheduler.claim("c3")
    await scheduler.finish(first, Outcome.DONE)

    assert second is not None and second.job.id == "o/a#2"
    assert await scheduler.claim("c4") is None
    assert (await scheduler.counts()).running_per_repo == (("o/a", 1),)


async def test_a_yielded_job_still_locks_its_pr(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=admission.Limits(max_concurrent_agents=10, max_per_repo=10))
    await enqueue_all(scheduler, "o/a#1")
    first = await scheduler.claim("c1")
    assert first is not None and await scheduler.yield_slot(first)

    pushed = await scheduler.enqueue("o/a#1", "b2")

    assert pushed is admission.EnqueueResult.RERUN_MARKED
    assert await scheduler.claim("c2") is None
    gate = await scheduler.leases.check_publish(first.lease, "a1")
    assert not gate.allowed and gate.reason is lease.GateRefusal.HEAD_MOVED
    assert await scheduler.finish(first, Outcome.DONE) is admission.FinishResult.REQUEUED
    again = await scheduler.claim("c3")
    assert again is not None and again.job.head_sha == "b2" and again.fence > first.fence


async def test_a_lost_lease_cannot_yield(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=ONE, policy=SHORT)
    await enqueue_all(scheduler, "o/a#1", "o/b#1")
    expired = await scheduler.claim("c1")
    assert expired is not None
    await asyncio.sleep(0.3)

    refused = await scheduler.yield_slot(expired)
    cancelled_holder = await scheduler.claim("c2")  # reaps o/a#1 and takes the oldest again
    assert cancelled_holder is not None and cancelled_holder.job.id == "o/a#1"
    await scheduler.cancel("o/a#1", actor="ops")

    assert not refused
    assert not await scheduler.yield_slot(cancelled_holder)


async def test_an_expired_yielded_lease_is_reaped_without_freeing_a_slot_twice(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=TWO, policy=SHORT)
    await enqueue_all(scheduler, "o/a#1", "o/b#1", "o/c#1")
    first = await scheduler.claim("c1")
    assert first is not None and await scheduler.yield_slot(first)
    assert await scheduler.claim("c2") is not None
    await asyncio.sleep(0.3)

    reaped = await scheduler.reap_expired()
    claimed = [await scheduler.claim(f"d{i}") for i in range(3)]

    assert sorted(reaped) == ["o/a#1", "o/b#1"]
    assert [c.job.id if c else None for c in claimed] == ["o/a#1", "o/b#1", None]
