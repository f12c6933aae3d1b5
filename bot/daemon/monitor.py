"""The timeout monitor: every interval, reap dead leases and reservations, stop overdue work, drop orphans.

It runs on every replica; the reap scripts are idempotent and use server time, so no leader is needed.
Jobs whose lease ended go back to the queue or to the dead letters (by attempts) inside the reap script;
local tasks past their deadline are cancelled here, and their own handler escalates or retries them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from bot.errors import QuorumError
from guardrails import admission
from guardrails.clock import Clock, SystemClock

log = logging.getLogger(__name__)

BudgetReaper = Callable[[], Awaitable[int]]
T = TypeVar("T")


class LeaseReaper(Protocol):
    """The scheduler's side the monitor needs."""

    async def reap_expired(self) -> list[str]: ...

    async def running(self) -> list[admission.RunningJob]: ...


class OrphanRemover(Protocol):
    """The workspace's side the monitor needs: remove worktrees of jobs not in `live_jobs`."""

    async def remove_orphans(self, live_jobs: Collection[str]) -> list[Path]: ...


@dataclass(slots=True)
class _Local:
    task: asyncio.Task[object]
    deadline: float


class LocalJobs:
    """The jobs this process runs: job id → task and hard deadline (epoch seconds)."""

    def __init__(self) -> None:
        self._jobs: dict[str, _Local] = {}

    def add(self, job_id: str, task: asyncio.Task[object], deadline: float) -> None:
        """Track `task` as the local run of `job_id`, to be cancelled at `deadline`."""
        self._jobs[job_id] = _Local(task, deadline)

    def discard(self, job_id: str) -> None:
        """Stop tracking `job_id`."""
        self._jobs.pop(job_id, None)

    @contextmanager
    def running(self, job_id: str, deadline: float) -> Iterator[None]:
        """Register the current task for `job_id` while the block runs."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("LocalJobs.running() must be used inside a task")
        self.add(job_id, task, deadline)
        try:
            yield
        finally:
            self.discard(job_id)

    def live(self) -> set[str]:
        """Jobs whose local task is still running."""
        return {job_id for job_id, local in self._jobs.items() if not local.task.done()}

    def cancel_overdue(self, now: float) -> list[str]:
        """Cancel every unfinished task past its deadline; forget finished ones."""
        cancelled = []
        for job_id, local in list(self._jobs.items()):
            if local.task.done():
                del self._jobs[job_id]
            elif local.deadline <= now:
                local.task.cancel(f"{job_id} passed its deadline")
                cancelled.append(job_id)
        return cancelled


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one pass of the monitor did, and which steps could not run."""

    reaped: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    removed: tuple[Path, ...] = ()
    reservations_reaped: int = 0
    failures: tuple[str, ...] = field(default=())


class Monitor:
    """The periodic sweep; `run` forever, or `tick` once."""

    def __init__(
        self,
        scheduler: LeaseReaper,
        jobs: LocalJobs,
        *,
        workspace: OrphanRemover | None = None,
        budget_reaper: BudgetReaper | None = None,
        clock: Clock | None = None,
        interval_s: float = 15.0,
    ) -> None:
        self._scheduler = scheduler
        self._jobs = jobs
        self._workspace = workspace
        self._budget_reaper = budget_reaper
        self._clock = clock or SystemClock()
        self._interval_s = interval_s

    async def tick(self) -> TickReport:
        """One sweep. A step that fails (Redis down) is reported and skipped; the others still run."""
        failures: list[str] = []
        cancelled = self._jobs.cancel_overdue(self._clock.now())
        reaped = await self._step("reap leases", self._scheduler.reap_expired(), failures) or []
        removed = await self._remove_orphans(failures)
        spent = 0
        if self._budget_reaper is not None:
            spent = await self._step("reap reservations", self._budget_reaper(), failures) or 0
        report = TickReport(tuple(reaped), tuple(cancelled), tuple(removed), spent, tuple(failures))
        if reaped or cancelled or removed or spent:
            log.warning("monitor: %s", report)
        return report

    async def _remove_orphans(self, failures: list[str]) -> list[Path]:
        if self._workspace is None:
            return []
        running = await self._step("list running jobs", self._scheduler.running(), failures)
        if running is None:
            return []  # without the global view a worktree in use elsewhere could look orphaned
        live = self._jobs.live() | {job.job_id for job in running}
        return await self._step("remove orphans", self._workspace.remove_orphans(live), failures) or []

    @staticmethod
    async def _step(name: str, work: Awaitable[T], failures: list[str]) -> T | None:
        try:
            return await work
        except QuorumError as exc:
            log.warning("monitor could not %s: %s", name, exc.message)
            failures.append(f"{name}: {exc.message}")
            return None

    async def run(self) -> None:
        """Sweep every `interval_s` until cancelled."""
        while True:
            try:
                await self.tick()
            except Exception:  # the loop's boundary: a bug in one sweep must not stop the next
                log.exception("monitor sweep failed")
            await self._clock.sleep(self._interval_s)
