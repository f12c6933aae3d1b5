"""The lease policy: markers, the gate rule, and `hold` (renewals, loss, cancellation) with a fake manager."""

from __future__ import annotations

import asyncio

import pytest

from bot import errors
from guardrails import lease
from tests.support.clock import FakeClock

HELD = lease.Lease("o/x#1", "tok", 1_795_478_155_664_213, 100.0, 200.0, ttl_s=0.3)


class FakeManager:
    """Answers renewals from a script of results (True, False, or an exception to raise)."""

    def __init__(self, *answers: bool | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def renew(self, held: lease.Lease) -> bool:
        self.calls += 1
        answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_marker_round_trips_a_microsecond_fence() -> None:
    text = "Looks good.\n\n" + lease.marker("o/x#1", HELD.fence, "abc123", 2)

    parsed = lease.parse_marker(text)

    assert parsed == lease.Marker("o/x#1", 1_795_478_155_664_213, "abc123", 2)
    assert lease.marker("o/x#1", 7, "abc", 1) == "<!-- quorum:job=o/x#1;fence=7;sha=abc;round=1 -->"


def test_body_without_marker_parses_to_none() -> None:
    assert lease.parse_marker("<!-- quorum:job=o/x#1;fence=;sha=abc;round=1 -->") is None


@pytest.mark.parametrize(
    ("fence", "held", "now", "head", "reason"),
    [
        (2, lease.HeldState("tok", 150.0, 200.0), 120.0, "a1", lease.GateRefusal.STALE_FENCE),
        (HELD.fence, lease.HeldState("other", 150.0, 200.0), 120.0, "a1", lease.GateRefusal.NOT_HELD),
        (HELD.fence, None, 120.0, "a1", lease.GateRefusal.NOT_HELD),
        (HELD.fence, lease.HeldState("tok", 200.0, 200.0), 200.0, "a1", lease.GateRefusal.DEADLINE),
        (HELD.fence, lease.HeldState("tok", 150.0, 200.0), 150.0, "a1", lease.GateRefusal.EXPIRED),
        (HELD.fence, lease.HeldState("tok", 150.0, 200.0), 120.0, "b2", lease.GateRefusal.HEAD_MOVED),
        (HELD.fence, lease.HeldState("tok", 150.0, 200.0), 120.0, "a1", None),
    ],
)
def test_gate_rule(
    fence: int, held: lease.HeldState | None, now: float, head: str, reason: lease.GateRefusal | None
) -> None:
    decision = lease.decide_publish(HELD, "a1", held, fence, head, now)

    assert (decision.allowed, decision.reason) == (reason is None, reason)


async def test_hold_renews_every_third_of_the_ttl() -> None:
    manager, clock = FakeManager(), FakeClock()

    async with lease.hold(manager, HELD, clock=clock):
        await clock.run_for(0.45)

    assert manager.calls == 4  # at 0.1, 0.2, 0.3 and 0.4 s


async def test_hold_rides_out_a_brief_outage() -> None:
    unavailable = errors.CoordinationUnavailable("down")
    manager, clock = FakeManager(unavailable, True, True), FakeClock()

    async with lease.hold(manager, HELD, clock=clock):
        await clock.run_for(0.5)

    assert manager.calls == 5  # 0.1 (down), 0.2 (retried), 0.3, 0.4, 0.5


async def test_hold_gives_up_when_the_outage_outlasts_the_lease() -> None:
    manager, clock = FakeManager(*[errors.CoordinationUnavailable("down")] * 20), FakeClock()

    with pytest.raises(errors.LeaseLost) as lost:
        async with lease.hold(manager, HELD, clock=clock):
            await clock.run_for(5)

    assert "renewal failed" in lost.value.reason
    assert manager.calls == 3  # 0.1, 0.2: ridden out; 0.3: the lease would end unrenewed


async def test_hold_gives_up_at_once_on_a_retryable_error_that_is_not_an_outage() -> None:
    manager = FakeManager(errors.ProviderError("odd", provider="fake", retryable=True), True, True)

    with pytest.raises(errors.LeaseLost) as lost:
        async with lease.hold(manager, HELD):
            await asyncio.sleep(5)

    assert manager.calls == 1
    assert lost.value.reason == "renewal failed: odd"


async def test_hold_cancels_on_a_refused_renewal_even_if_the_body_swallows_it() -> None:
    manager = FakeManager(False)
    swallowed = False

    with pytest.raises(errors.LeaseLost):
        async with lease.hold(manager, HELD):
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                swallowed = True

    assert swallowed
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_hold_treats_a_crashing_renewal_as_lost() -> None:
    manager = FakeManager(RuntimeError("bug"))

    with pytest.raises(errors.LeaseLost) as lost:
        async with lease.hold(manager, HELD):
            await asyncio.sleep(5)

    assert "crashed" in lost.value.reason


async def test_lease_lost_surfaces_through_a_task_group_as_itself() -> None:
    manager = FakeManager(False)
    other_finished = False

    async def job() -> None:
        async with lease.hold(manager, HELD):
            await asyncio.sleep(5)

    async def other() -> None:
        nonlocal other_finished
        await asyncio.sleep(0.3)
        other_finished = True

    with pytest.raises(ExceptionGroup) as group:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(other())
            tasks.create_task(job())

    assert group.value.subgroup(errors.LeaseLost) is not None
    assert not other_finished  # the group then cancels its siblings, as it does for any failure
