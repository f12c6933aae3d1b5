"""The timeout monitor with in-memory coordination and a fake workspace."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from pathlib import Path

import pytest

from bot import errors
from bot.adapters.memory import board as memory_board
from bot.adapters.memory import coordination as memory_coordination
from bot.daemon import monitor
from guardrails import admission, lease
from tests.support.clock import FakeClock


class FakeWorkspace:
    """Worktrees by job id; removes those whose job is not live."""

    def __init__(self, *jobs: str) -> None:
        self.jobs = set(jobs)
        self.seen_live: list[set[str]] = []

    async def remove_orphans(self, live_jobs: Collection[str]) -> list[Path]:
        self.seen_live.append(set(live_jobs))
        orphans = sorted(self.jobs - set(live_jobs))
        self.jobs -= set(orphans)
        return [Path("/worktrees") / job for job in orphans]


class DownScheduler:
    """A scheduler whose Redis is unreachable."""

    async def reap_expired(self) -> list[str]:
        raise errors.CoordinationUnavailable("reap: Redis unavailable")

    async def running(self) -> list[admission.RunningJob]:
        raise errors.CoordinationUnavailable("running: Redis unavailable")


class Budget:
    def __init__(self) -> None:
        self.calls = 0

    async def reap_expired(self) -> int:
        self.calls += 1
        return 2


def scheduler(ttl_s: float = 30.0, clock: FakeClock | None = None) -> memory_coordination.InMemoryScheduler:
    board = memory_board.Board(clock)
    return memory_coordination.InMemoryScheduler(board, policy=lease.LeasePolicy(ttl_s=ttl_s))


async def test_tick_returns_jobs_whose_lease_expired() -> None:
    clock = FakeClock()
    jobs = scheduler(ttl_s=0.1, clock=clock)
    await jobs.enqueue("o/x#1", "a1")
    assert await jobs.claim("c1") is not None
    clock.advance(0.15)

    report = await monitor.Monitor(jobs, monitor.LocalJobs()).tick()

    assert report.reaped == ("o/x#1",)
    assert (await jobs.claim("c2")) is not None


async def test_tick_cancels_local_work_past_its_deadline_only() -> None:
    local = monitor.LocalJobs()
    overdue = asyncio.create_task(asyncio.sleep(5))
    on_time = asyncio.create_task(asyncio.sleep(5))
    local.add("o/late#1", overdue, time.time() - 1)
    local.add("o/fine#1", on_time, time.time() + 60)

    report = await monitor.Monitor(scheduler(), local).tick()
    await asyncio.sleep(0)

    assert report.cancelled == ("o/late#1",)
    assert overdue.cancelled() and not on_time.done()
    on_time.cancel()


async def test_worktrees_of_jobs_neither_local_nor_running_anywhere_are_removed() -> None:
    jobs, local = scheduler(), monitor.LocalJobs()
    await jobs.enqueue("o/remote#1", "a1")
    assert await jobs.claim("c1") is not None
    workspace = FakeWorkspace("o/remote#1", "o/here#1", "o/gone#1")

    async def work() -> monitor.TickReport:
        with local.running("o/here#1", time.time() + 60):
            return await monitor.Monitor(jobs, local, workspace=workspace).tick()

    report = await asyncio.create_task(work())

    assert report.removed == (Path("/worktrees/o/gone#1"),)
    assert workspace.seen_live == [{"o/remote#1", "o/here#1"}]


async def test_budget_reservations_are_reaped_each_tick() -> None:
    budget = Budget()

    report = await monitor.Monitor(scheduler(), monitor.LocalJobs(), budget_reaper=budget.reap_expired).tick()

    assert (report.reservations_reaped, budget.calls) == (2, 1)


async def test_redis_outage_skips_orphan_removal_but_still_cancels_overdue_work() -> None:
    local = monitor.LocalJobs()
    overdue = asyncio.create_task(asyncio.sleep(5))
    local.add("o/late#1", overdue, time.time() - 1)
    workspace = FakeWorkspace("o/anything#1")

    report = await monitor.Monitor(DownScheduler(), local, workspace=workspace).tick()

    assert report.cancelled == ("o/late#1",)
    assert workspace.jobs == {"o/anything#1"} and workspace.seen_live == []
    assert [f.split(":")[0] for f in report.failures] == ["reap leases", "list running jobs"]


async def test_run_sweeps_every_interval_until_cancelled() -> None:
    budget, clock = Budget(), FakeClock()
    sweeper = monitor.Monitor(
        scheduler(), monitor.LocalJobs(), budget_reaper=budget.reap_expired, interval_s=0.05, clock=clock
    )

    task = asyncio.create_task(sweeper.run())
    await clock.run_for(0.28)
    task.cancel()

    assert budget.calls == 6  # at 0, 0.05, 0.10, 0.15, 0.20 and 0.25 s
    with pytest.raises(asyncio.CancelledError):
        await task
