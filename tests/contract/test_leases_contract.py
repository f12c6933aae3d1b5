"""One suite for every lease manager and publish gate, in memory and on Redis (invariants 3–5, 10)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot import errors
from guardrails import admission, lease
from tests.contract.conftest import Coordination
from tests.support.redis_server import RedisServer

SHORT = lease.LeasePolicy(ttl_s=0.2, max_hold_s=600.0)
Refusal = lease.GateRefusal


async def claimed(
    scheduler: admission.Scheduler, job_id: str = "o/x#1", claim_id: str = "c1"
) -> admission.Claim:
    await scheduler.enqueue(job_id, "a1")
    held = await scheduler.claim(claim_id)
    assert held is not None
    return held


async def test_gate_passes_a_live_current_lease_and_records_publishing(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    held = await claimed(scheduler)

    decision = await scheduler.leases.check_publish(held.lease, "a1")
    again = await scheduler.leases.check_publish(held.lease, "a1")

    assert decision == again == lease.GateDecision(True, None, held.fence, "a1")
    assert (await scheduler.leases.publication("o/x#1")).publishing_fence == held.fence


async def test_gate_refuses_a_stale_fence(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=SHORT)
    old = await claimed(scheduler)
    await asyncio.sleep(0.3)
    new = await scheduler.claim("c2")
    assert new is not None

    decision = await scheduler.leases.check_publish(old.lease, "a1")

    assert (decision.allowed, decision.reason, decision.current_fence) == (
        False,
        Refusal.STALE_FENCE,
        new.fence,
    )
    assert (await scheduler.leases.check_publish(new.lease, "a1")).allowed


async def test_gate_refuses_an_expired_lease_nobody_took_yet(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=SHORT)
    held = await claimed(scheduler)

    await asyncio.sleep(0.3)
    decision = await scheduler.leases.check_publish(held.lease, "a1")

    assert (decision.allowed, decision.reason) == (False, Refusal.EXPIRED)
    assert (await scheduler.leases.publication("o/x#1")).publishing_fence is None


async def test_gate_refuses_past_the_hard_deadline(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=lease.LeasePolicy(ttl_s=5.0, max_hold_s=0.2))
    held = await claimed(scheduler)

    await asyncio.sleep(0.3)

    assert (await scheduler.leases.check_publish(held.lease, "a1")).reason is Refusal.DEADLINE


async def test_gate_refuses_a_moved_head(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    held = await claimed(scheduler)

    await scheduler.enqueue("o/x#1", "b2")
    decision = await scheduler.leases.check_publish(held.lease, "a1")

    assert (decision.allowed, decision.reason, decision.current_head) == (False, Refusal.HEAD_MOVED, "b2")


async def test_gate_refuses_after_the_job_finished(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    held = await claimed(scheduler)

    await scheduler.finish(held, admission.FinishOutcome.DONE)

    assert (await scheduler.leases.check_publish(held.lease, "a1")).reason is Refusal.NOT_HELD


async def test_published_marker_is_recorded_only_under_the_current_fence(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=SHORT)
    old = await claimed(scheduler)
    tag = lease.marker("o/x#1", old.fence, "a1", 1)
    assert await scheduler.leases.mark_published(old.lease, tag)
    await asyncio.sleep(0.3)
    new = await scheduler.claim("c2")
    assert new is not None

    stale = await scheduler.leases.mark_published(old.lease, lease.marker("o/x#1", old.fence, "a1", 2))

    assert not stale
    assert (await scheduler.leases.publication("o/x#1")).published_marker == tag


async def test_hold_keeps_the_lease_alive_past_its_ttl(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=lease.LeasePolicy(ttl_s=0.45, max_hold_s=600.0))
    held = await claimed(scheduler)

    async with lease.hold(scheduler.leases, held.lease):
        await asyncio.sleep(1.0)
        other = await scheduler.claim("c2")

    assert other is None
    assert (await scheduler.leases.check_publish(held.lease, "a1")).allowed


async def test_hold_cancels_the_job_when_the_lease_is_lost(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=lease.LeasePolicy(ttl_s=0.3, max_hold_s=600.0))
    held = await claimed(scheduler)
    reached_the_end = False
    started = time.monotonic()

    with pytest.raises(errors.LeaseLost) as lost:
        async with lease.hold(scheduler.leases, held.lease):
            await scheduler.finish(held, admission.FinishOutcome.DONE)  # someone ended it under our feet
            await asyncio.sleep(5)
            reached_the_end = True

    assert not reached_the_end and time.monotonic() - started < 1.0
    assert lost.value.job_id == "o/x#1"


async def test_hold_lets_an_outside_cancellation_through(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=lease.LeasePolicy(ttl_s=0.3, max_hold_s=600.0))
    held = await claimed(scheduler)

    async def job() -> None:
        async with lease.hold(scheduler.leases, held.lease):
            await asyncio.sleep(5)

    task = asyncio.create_task(job())
    await asyncio.sleep(0.15)
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.redis
async def test_hold_cancels_the_job_when_redis_stays_down(
    redis_coord: Coordination, redis_server: RedisServer
) -> None:
    scheduler = redis_coord.scheduler(policy=lease.LeasePolicy(ttl_s=0.6, max_hold_s=600.0))
    held = await claimed(scheduler)
    started = time.monotonic()

    with pytest.raises(errors.LeaseLost):
        async with lease.hold(scheduler.leases, held.lease):
            redis_server.stop(kill=True)
            await asyncio.sleep(5)

    assert time.monotonic() - started < 2.0
    with pytest.raises(errors.CoordinationUnavailable):
        await scheduler.leases.check_publish(held.lease, "a1")


async def test_a_write_is_confirmed_while_the_fence_is_ours_even_past_expiry(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=SHORT)
    held = await claimed(scheduler)

    live = await scheduler.leases.confirm_write(held.lease)
    await asyncio.sleep(0.3)  # expired, but nobody claimed: no other holder can have written
    expired = await scheduler.leases.confirm_write(held.lease)

    assert (live.allowed, expired.allowed) == (True, True)


async def test_a_write_that_landed_after_another_claim_is_not_confirmed(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=SHORT)
    old = await claimed(scheduler)
    await asyncio.sleep(0.3)
    new = await scheduler.claim("c2")
    assert new is not None

    stale = await scheduler.leases.confirm_write(old.lease)

    assert (stale.allowed, stale.reason, stale.current_fence) == (False, Refusal.STALE_FENCE, new.fence)
    assert (await scheduler.leases.confirm_write(new.lease)).allowed


async def test_a_review_is_settled_once_adopted_or_withdrawn(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=SHORT)
    old = await claimed(scheduler)
    await asyncio.sleep(0.3)
    new = await scheduler.claim("c2")
    assert new is not None
    gate, adopted, withdrawn = scheduler.leases, lease.ReviewClaim.ADOPTED, lease.ReviewClaim.WITHDRAWN

    first = await gate.settle_review(new.lease, 7, adopted)
    late = await gate.settle_review(old.lease, 7, withdrawn)
    other = await gate.settle_review(old.lease, 8, withdrawn)
    after = await gate.settle_review(new.lease, 8, adopted)
    stale_adoption = await gate.settle_review(old.lease, 9, adopted)

    assert (first, late, other, after, stale_adoption) == (adopted, adopted, withdrawn, withdrawn, None)
