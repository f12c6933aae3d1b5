"""One suite for every `Scheduler`, in memory and on a real redis-server (invariants 1–4, 8, 10, 11)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot import errors
from guardrails import admission, lease
from statemachine import records
from tests.contract.conftest import POLICY, Coordination

SHORT = lease.LeasePolicy(ttl_s=0.2, max_hold_s=600.0)
WIDE = admission.Limits(max_concurrent_agents=10, max_per_repo=10)
Outcome = admission.FinishOutcome


async def enqueue_all(scheduler: admission.Scheduler, *job_ids: str, sha: str = "a1") -> None:
    for job_id in job_ids:
        assert await scheduler.enqueue(job_id, sha) is admission.EnqueueResult.QUEUED


async def claim_ids(scheduler: admission.Scheduler, n: int, prefix: str = "c") -> list[str | None]:
    claims = [await scheduler.claim(f"{prefix}{i}") for i in range(n)]
    return [c.job.id if c else None for c in claims]


async def test_eligible_jobs_are_claimed_oldest_first(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=WIDE)
    await enqueue_all(scheduler, "o/c#1", "o/a#7", "o/b#2")

    claimed = await claim_ids(scheduler, 4)

    assert claimed == ["o/c#1", "o/a#7", "o/b#2", None]


async def test_saturated_repo_does_not_block_another_repo(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=admission.Limits(max_concurrent_agents=10, max_per_repo=2))
    await enqueue_all(scheduler, "o/a#1", "o/a#2", "o/a#3", "o/b#1")

    claimed = await claim_ids(scheduler, 4)

    assert claimed == ["o/a#1", "o/a#2", "o/b#1", None]


async def test_the_longest_backlog_starts_first(coord: Coordination) -> None:
    # Queued repository by repository, as a reconcile finds them: the last repository's backlog is the
    # longest chain of work (two at a time), so its jobs start before the single ones queued earlier.
    scheduler = coord.scheduler(limits=admission.Limits(max_concurrent_agents=4, max_per_repo=2))
    await enqueue_all(scheduler, "o/a#1", "o/b#1", "o/c#1", "o/c#2", "o/c#3")

    claimed = await claim_ids(scheduler, 5)

    assert claimed == ["o/c#1", "o/c#2", "o/a#1", "o/b#1", None]


async def test_the_backlog_is_weighed_in_the_oldest_window_of_waiting_jobs(coord: Coordination) -> None:
    # A whole window of older single jobs: the younger backlog behind it is not weighed yet.
    scheduler = coord.scheduler(limits=admission.Limits(max_concurrent_agents=10, max_per_repo=1))
    singles = [f"o/s{i}#1" for i in range(admission.PICK_WINDOW)]
    await enqueue_all(scheduler, *singles, "o/big#1", "o/big#2", "o/big#3")

    claimed = await claim_ids(scheduler, 2)

    assert claimed == ["o/s0#1", "o/s1#1"]


async def test_a_job_that_waited_long_enough_starts_before_any_backlog(coord: Coordination) -> None:
    limits = admission.Limits(max_concurrent_agents=10, max_per_repo=2, oldest_first_after_s=0.3)
    scheduler = coord.scheduler(limits=limits)
    await enqueue_all(scheduler, "o/lone#1")
    await asyncio.sleep(0.4)
    await enqueue_all(scheduler, "o/busy#1", "o/busy#2")

    claimed = await claim_ids(scheduler, 3)

    assert claimed == ["o/lone#1", "o/busy#1", "o/busy#2"]


async def test_repo_slot_freed_by_finish_goes_to_its_next_job(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=admission.Limits(max_concurrent_agents=10, max_per_repo=2))
    await enqueue_all(scheduler, "o/a#1", "o/a#2", "o/a#3")
    first = await scheduler.claim("c1")
    await scheduler.claim("c2")
    assert first is not None
    assert await scheduler.claim("c3") is None

    await scheduler.finish(first, Outcome.DONE)
    third = await scheduler.claim("c4")

    assert third is not None and third.job.id == "o/a#3"


async def test_global_limit_holds_across_replicas(coord: Coordination) -> None:
    one, two = coord.scheduler(), coord.scheduler()
    await enqueue_all(one, "o/a#1", "o/b#1", "o/c#1", "o/d#1")

    claimed = [await one.claim("c1"), await two.claim("c2"), await one.claim("c3"), await two.claim("c4")]

    assert [c.job.id if c else None for c in claimed] == ["o/a#1", "o/b#1", "o/c#1", None]
    assert len(await one.running()) == 3
    assert claimed[0] is not None
    await two.finish(claimed[0], Outcome.DONE)
    fourth = await two.claim("c5")
    assert fourth is not None and fourth.job.id == "o/d#1"


async def test_one_job_per_pr(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=WIDE)
    await enqueue_all(scheduler, "o/a#1")

    again = await scheduler.enqueue("o/a#1", "a1")
    claimed = await claim_ids(scheduler, 2)

    assert again is admission.EnqueueResult.UNCHANGED
    assert claimed == ["o/a#1", None]


async def test_new_head_for_waiting_job_updates_it_in_place(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=WIDE)
    await enqueue_all(scheduler, "o/x#1", "o/y#1")

    result = await scheduler.enqueue("o/x#1", "b2")
    first = await scheduler.claim("c1")

    assert result is admission.EnqueueResult.UPDATED_IN_PLACE
    assert first is not None and (first.job.id, first.job.head_sha) == ("o/x#1", "b2")


async def test_new_head_for_running_job_reruns_it_after_finish(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=WIDE)
    await enqueue_all(scheduler, "o/x#1")
    first = await scheduler.claim("c1")
    assert first is not None

    marked = await scheduler.enqueue("o/x#1", "b2")
    while_running = await scheduler.claim("c2")
    finished = await scheduler.finish(first, Outcome.DONE)
    second = await scheduler.claim("c3")

    assert marked is admission.EnqueueResult.RERUN_MARKED
    assert while_running is None
    assert finished is admission.FinishResult.REQUEUED
    assert second is not None and second.job.head_sha == "b2" and second.fence > first.fence


async def test_same_head_for_running_job_is_not_rerun(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    await enqueue_all(scheduler, "o/x#1")
    first = await scheduler.claim("c1")
    assert first is not None

    result = await scheduler.enqueue("o/x#1", "a1")
    finished = await scheduler.finish(first, Outcome.DONE)

    assert result is admission.EnqueueResult.UNCHANGED
    assert finished is admission.FinishResult.DONE
    assert await scheduler.claim("c2") is None


async def test_expired_lease_returns_the_job_with_a_higher_fence(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=SHORT)
    await enqueue_all(scheduler, "o/x#1")
    first = await scheduler.claim("c1")
    assert first is not None

    await asyncio.sleep(0.3)
    second = await scheduler.claim("c2")

    assert second is not None and second.job.id == "o/x#1"
    assert second.job.attempts == 1 and second.fence > first.fence
    assert not await scheduler.renew(first)
    assert await scheduler.finish(first, Outcome.DONE) is admission.FinishResult.NOT_HELD
    assert await scheduler.finish(second, Outcome.DONE) is admission.FinishResult.DONE


async def test_reap_expired_names_the_jobs_it_returned(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=SHORT)
    await enqueue_all(scheduler, "o/x#1", "o/y#1")
    await claim_ids(scheduler, 1)

    await asyncio.sleep(0.3)
    reaped = await scheduler.reap_expired()

    assert reaped == ["o/x#1"]
    assert await scheduler.running() == []


async def test_renewal_keeps_the_lease_past_its_ttl(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=lease.LeasePolicy(ttl_s=0.5, max_hold_s=600.0))
    await enqueue_all(scheduler, "o/x#1")
    held = await scheduler.claim("c1")
    assert held is not None

    renewed = []
    for _ in range(5):
        await asyncio.sleep(0.15)
        renewed.append(await scheduler.renew(held))

    assert renewed == [True] * 5
    assert await scheduler.claim("c2") is None
    assert [r.job_id for r in await scheduler.running()] == ["o/x#1"]


async def test_renewal_is_refused_past_the_hard_deadline(coord: Coordination) -> None:
    scheduler = coord.scheduler(policy=lease.LeasePolicy(ttl_s=5.0, max_hold_s=0.3))
    await enqueue_all(scheduler, "o/x#1")
    held = await scheduler.claim("c1")
    assert held is not None and held.lease.expires_at <= held.lease.deadline

    await asyncio.sleep(0.35)

    assert not await scheduler.renew(held)


async def test_retries_back_off_then_land_in_dead_letters(coord: Coordination) -> None:
    scheduler = coord.scheduler(backoff=admission.Backoff(max_attempts=2, base_s=0.6, cap_s=0.6))
    await enqueue_all(scheduler, "o/x#1")
    first = await scheduler.claim("c1")
    assert first is not None

    assert await scheduler.finish(first, Outcome.RETRY, "flaky") is admission.FinishResult.DELAYED
    assert await scheduler.claim("c2") is None  # not before its delay of 0.45 s
    await asyncio.sleep(0.5)
    second = await scheduler.claim("c3")
    assert second is not None and second.job.attempts == 1
    assert await scheduler.finish(second, Outcome.RETRY, "still flaky") is admission.FinishResult.DEAD

    dead = await scheduler.dead_letters()
    assert [(d.job_id, d.head_sha, d.attempts, d.error) for d in dead] == [("o/x#1", "a1", 2, "still flaky")]
    assert await scheduler.claim("c4") is None


async def test_operator_requeues_a_dead_job_once(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    await enqueue_all(scheduler, "o/x#1")
    held = await scheduler.claim("c1")
    assert held is not None
    assert await scheduler.finish(held, Outcome.FAILED, "bad config") is admission.FinishResult.DEAD

    assert await scheduler.requeue_dead("o/x#1")
    assert not await scheduler.requeue_dead("o/x#1")
    again = await scheduler.claim("c2")

    assert await scheduler.dead_letters() == []
    assert again is not None and again.job.attempts == 0


async def test_dead_job_is_not_revived_by_its_old_head_but_by_a_new_one(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    await enqueue_all(scheduler, "o/x#1")
    held = await scheduler.claim("c1")
    assert held is not None
    await scheduler.finish(held, Outcome.FAILED, "bad")

    same = await scheduler.enqueue("o/x#1", "a1")
    newer = await scheduler.enqueue("o/x#1", "b2")

    assert (same, newer) == (admission.EnqueueResult.UNCHANGED, admission.EnqueueResult.QUEUED)
    assert await scheduler.dead_letters() == []


async def test_waiter_is_woken_by_an_enqueue(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    assert await scheduler.claim("c0") is None

    async def ring_soon() -> None:
        await asyncio.sleep(0.1)
        await scheduler.enqueue("o/x#1", "a1")

    started = time.monotonic()
    async with asyncio.TaskGroup() as group:
        group.create_task(ring_soon())
        woken = await scheduler.wait_for_work(3.0)

    assert woken and time.monotonic() - started < 1.0
    assert await scheduler.claim("c1") is not None


async def test_idle_wait_is_bounded_without_any_ring(coord: Coordination) -> None:
    scheduler = coord.scheduler(max_block_s=0.2)

    started = time.monotonic()
    woken = await scheduler.wait_for_work(10.0)

    assert not woken and time.monotonic() - started < 1.0


async def test_claim_replayed_with_the_same_id_returns_the_same_lease(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=WIDE)
    await enqueue_all(scheduler, "o/x#1", "o/y#1")

    first = await scheduler.claim("same")
    again = await scheduler.claim("same")

    assert first is not None and again == first
    assert [r.job_id for r in await scheduler.running()] == ["o/x#1"]


async def test_finish_replayed_changes_nothing(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    await enqueue_all(scheduler, "o/x#1")
    held = await scheduler.claim("c1")
    assert held is not None

    results = [
        await scheduler.finish(held, Outcome.RETRY, "e"),
        await scheduler.finish(held, Outcome.RETRY, "e"),
    ]

    assert results == [admission.FinishResult.DELAYED] * 2
    await asyncio.sleep(0.1)
    again = await scheduler.claim("c2")
    assert again is not None and again.job.attempts == 1


async def test_a_delivery_seen_twice_enqueues_once(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=WIDE)

    first = await scheduler.enqueue("o/x#1", "a1", "delivery-1")
    second = await scheduler.enqueue("o/x#1", "b2", "delivery-1")
    claimed = await scheduler.claim("c1")

    assert (first, second) == (admission.EnqueueResult.QUEUED, admission.EnqueueResult.DUPLICATE_DELIVERY)
    assert claimed is not None and claimed.job.head_sha == "a1"


async def test_dedupe_shares_deliveries_with_enqueue(coord: Coordination) -> None:
    scheduler, dedupe = coord.scheduler(), coord.dedupe()

    seen = [await dedupe.first_seen("d-1"), await dedupe.first_seen("d-1")]
    enqueued = await scheduler.enqueue("o/x#1", "a1", "d-1")

    assert seen == [True, False]
    assert enqueued is admission.EnqueueResult.DUPLICATE_DELIVERY


async def test_fences_strictly_increase_per_pr(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    fences = []
    for i in range(5):
        await scheduler.enqueue("o/x#1", f"sha{i}")
        held = await scheduler.claim(f"c{i}")
        assert held is not None
        fences.append(held.fence)
        await scheduler.finish(held, Outcome.DONE)

    assert fences == sorted(set(fences)) and len(fences) == 5


async def test_malformed_job_id_is_refused(coord: Coordination) -> None:
    scheduler = coord.scheduler()

    with pytest.raises(errors.InputError):
        await scheduler.enqueue("not a job", "a1")


async def test_a_nudge_reruns_a_running_job_without_moving_its_head(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    await scheduler.enqueue("o/x#1", "a1")
    claim = await scheduler.claim("w1")
    assert claim is not None

    assert await scheduler.enqueue("o/x#1", "") is admission.EnqueueResult.RERUN_MARKED
    gate = await scheduler.leases.check_publish(claim.lease, "a1")
    assert gate.allowed, gate  # the head the publish gate compares with did not move

    assert await scheduler.finish(claim, admission.FinishOutcome.DONE) is admission.FinishResult.REQUEUED
    again = await scheduler.claim("w2")
    assert again is not None and again.job.head_sha == "a1"


async def test_a_nudge_leaves_a_waiting_job_alone_and_queues_an_absent_one(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    await scheduler.enqueue("o/x#1", "a1")

    assert await scheduler.enqueue("o/x#1", "") is admission.EnqueueResult.UNCHANGED
    assert await scheduler.enqueue("o/x#2", "") is admission.EnqueueResult.QUEUED
    first, second = await scheduler.claim("w1"), await scheduler.claim("w2")
    assert first is not None and second is not None
    assert (first.job.id, first.job.head_sha) == ("o/x#1", "a1")
    assert (second.job.id, second.job.head_sha) == ("o/x#2", "")


async def test_a_cancelled_running_holder_cannot_renew_publish_finish_or_save(coord: Coordination) -> None:
    scheduler, state = coord.scheduler(), coord.state()
    await enqueue_all(scheduler, "o/x#1")
    held = await scheduler.claim("c1")
    assert held is not None

    cancelled = await scheduler.cancel("o/x#1", actor="ops")

    assert cancelled is admission.CancelResult.REVOKED
    gate = await scheduler.leases.check_publish(held.lease, "a1")
    assert not gate.allowed and gate.reason is lease.GateRefusal.STALE_FENCE
    assert not await scheduler.renew(held)
    assert await scheduler.finish(held, Outcome.DONE) is admission.FinishResult.NOT_HELD
    record = records.PullRequestRecord("o/x", 1, "in_review", "a1")
    assert not await state.save(record, expected_version=0, fence=held.fence)
    assert await scheduler.running() == [] and await scheduler.queued() == []


async def test_a_cancelled_job_leaves_room_and_a_later_head_gets_a_higher_fence(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=admission.Limits(max_concurrent_agents=1, max_per_repo=1))
    await enqueue_all(scheduler, "o/x#1", "o/y#1")
    first = await scheduler.claim("c1")
    assert first is not None and await scheduler.claim("c2") is None

    await scheduler.cancel("o/x#1")
    second = await scheduler.claim("c3")
    await scheduler.enqueue("o/x#1", "b2")
    assert second is not None and second.job.id == "o/y#1"
    await scheduler.finish(second, Outcome.DONE)
    third = await scheduler.claim("c4")

    assert third is not None and third.job.id == "o/x#1" and third.fence > first.fence
    assert third.job.head_sha == "b2" and third.job.attempts == 0


async def test_cancel_removes_a_queued_job_and_refuses_an_unknown_one(coord: Coordination) -> None:
    scheduler = coord.scheduler(backoff=admission.Backoff(max_attempts=3, base_s=60.0, cap_s=60.0))
    await enqueue_all(scheduler, "o/x#1", "o/y#1")
    held = await scheduler.claim("c1")
    assert held is not None
    await scheduler.finish(held, Outcome.RETRY, "flaky")

    results = [await scheduler.cancel(job) for job in ("o/y#1", "o/x#1", "o/x#1", "o/z#9")]

    removed, missing = admission.CancelResult.REMOVED, admission.CancelResult.NOT_FOUND
    assert results == [removed, removed, missing, missing]
    assert await scheduler.queued() == [] and await scheduler.claim("c2") is None
    assert await scheduler.enqueue("o/y#1", "a1") is admission.EnqueueResult.QUEUED


async def test_queued_lists_waiting_then_delayed_jobs_with_their_heads(coord: Coordination) -> None:
    scheduler = coord.scheduler(
        limits=WIDE, backoff=admission.Backoff(max_attempts=3, base_s=60.0, cap_s=60.0)
    )
    await enqueue_all(scheduler, "o/x#1")
    await enqueue_all(scheduler, "o/y#2", "o/z#3", sha="b2")
    held = await scheduler.claim("c1")
    assert held is not None
    await scheduler.finish(held, Outcome.RETRY, "flaky")

    queued = await scheduler.queued()
    counts = await scheduler.counts()

    assert [(q.job_id, q.head_sha, q.delayed) for q in queued] == [
        ("o/y#2", "b2", False), ("o/z#3", "b2", False), ("o/x#1", "a1", True),
    ]  # fmt: skip
    assert queued[2].attempts == 1 and queued[2].error == "flaky"
    assert queued[0].since > 0 and queued[2].due_at > queued[0].since
    assert (counts.waiting, counts.delayed, counts.running, counts.dead) == (2, 1, 0, 0)


async def test_running_names_the_holder_and_when_it_claimed(coord: Coordination) -> None:
    scheduler = coord.scheduler(limits=WIDE)
    await enqueue_all(scheduler, "o/x#1", "o/y#1")
    held = await scheduler.claim("worker-1:abc")
    assert held is not None

    running = await scheduler.running()
    counts = await scheduler.counts()

    assert [(r.job_id, r.claim_id, r.token, r.fence) for r in running] == [
        ("o/x#1", "worker-1:abc", held.token, held.fence)
    ]
    assert abs(running[0].claimed_at - (held.lease.deadline - POLICY.max_hold_s)) < 0.01
    assert (counts.waiting, counts.running, dict(counts.running_per_repo)) == (1, 1, {"o/x": 1})


async def test_a_deferred_job_waits_its_delay_and_uses_up_no_attempt(coord: Coordination) -> None:
    scheduler = coord.scheduler(backoff=admission.Backoff(max_attempts=2, base_s=60.0, cap_s=60.0))
    await enqueue_all(scheduler, "o/x#1")

    for round_no in range(4):  # twice the attempts a retry would have: a rate limit is not a failure
        held = await scheduler.claim(f"c{round_no}")
        assert held is not None and held.job.attempts == 0
        result = await scheduler.finish(held, Outcome.DEFER, "RateLimited: wait", defer_s=0.3)
        assert result is admission.FinishResult.DELAYED
        assert await scheduler.claim(f"early{round_no}") is None  # not before its delay
        await asyncio.sleep(0.35)

    assert await scheduler.dead_letters() == []
    assert [q.job_id for q in await scheduler.queued()] == ["o/x#1"]
