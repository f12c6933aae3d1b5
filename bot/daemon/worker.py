"""A worker: claim a job, hold its lease while the handler works, finish it; until told to stop.

Failures map to the scheduler's outcomes: a lost lease finishes nothing (the job is someone else's now);
a retryable failure goes back with backoff; the last attempt of a failing job escalates the PR (under the
lease, so a human hears of it) before it goes to the dead letters. While GitHub is unreachable a worker
claims nothing (it waits on the link), and while Redis is, it retries with a bounded exponential backoff.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from bot import health
from bot.daemon import job_context
from bot.daemon.context import log
from bot.daemon.github_link import CodeHostLink
from bot.daemon.handler import JobHandler
from bot.daemon.monitor import LocalJobs
from bot.errors import ConfigError, CoordinationUnavailable, LeaseLost, QuorumError, RateLimited
from guardrails import admission, lease

Escalate = Callable[[admission.Claim, str], Awaitable[None]]


class Worker:
    """Runs jobs one at a time; several workers run in one process."""

    def __init__(
        self,
        name: str,
        scheduler: admission.Scheduler,
        leases: lease.LeaseManager,
        handler: JobHandler,
        jobs: LocalJobs,
        *,
        max_attempts: int,
        escalate: Escalate,
        idle_wait_s: float = 5.0,
        link: CodeHostLink | None = None,
        backoff: health.Backoff | None = None,
    ) -> None:
        self.name = name
        self._scheduler = scheduler
        self._leases = leases
        self._handler = handler
        self._jobs = jobs
        self._max_attempts = max_attempts
        self._escalate = escalate
        self._idle_wait_s = idle_wait_s
        self._link = link
        self._backoff = backoff or health.Backoff(0.5, idle_wait_s)
        self.busy = False

    async def run(self, stopping: asyncio.Event) -> None:
        """Claim and run jobs until `stopping` is set; a running job is not interrupted by it."""
        while not stopping.is_set():
            if self._link is not None and not await self._link.wait_up(stopping):
                break
            try:
                claim = await self._scheduler.claim(f"{self.name}:{uuid.uuid4().hex}")
            except CoordinationUnavailable as exc:
                delay = self._backoff.next_delay()
                log.warning("%s: cannot claim (%s); next try in %.1f s", self.name, exc.message, delay)
                await _sleep_or_stop(stopping, delay)
                continue
            self._backoff.reset()
            if claim is None:
                await self._wait(stopping)
                continue
            self.busy = True
            try:
                await self.run_claim(claim)
            finally:
                self.busy = False

    async def _wait(self, stopping: asyncio.Event) -> None:
        waiter = asyncio.create_task(self._scheduler.wait_for_work(self._idle_wait_s))
        stopper = asyncio.create_task(stopping.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, stopper):
                task.cancel()
            await asyncio.gather(waiter, stopper, return_exceptions=True)

    async def run_claim(self, claim: admission.Claim) -> admission.FinishResult | None:
        """Run one claimed job to its finish; None when the lease was lost (nothing to finish)."""
        job = claim.job.id
        outcome, error, defer_s = admission.FinishOutcome.DONE, "", 0.0
        try:
            context = job_context.scoped(repo=claim.job.repo, pr=claim.job.number, job_id=job)
            with context, self._jobs.running(job, claim.lease.deadline):
                async with lease.hold(self._leases, claim.lease):
                    outcome = await self._handler.handle(claim)
        except LeaseLost as exc:
            log.warning("%s: %s; leaving the job to its new holder", job, exc.message)
            return None
        except asyncio.CancelledError:
            # Shutdown past its grace period, or the monitor at the job's deadline: hand the job back.
            await asyncio.shield(self._finish(claim, admission.FinishOutcome.RETRY, "cancelled"))
            raise
        except QuorumError as exc:
            if self._link is not None:
                self._link.failed(exc)
            outcome, error = self._failed(exc), f"{type(exc).__name__}: {exc.message}"
            if isinstance(exc, RateLimited):
                # GitHub said when to come back: wait that long, and a wait is not a failed attempt.
                outcome, defer_s = admission.FinishOutcome.DEFER, max(exc.retry_after or 0.0, 1.0)
        except Exception as exc:  # the job's boundary: a bug in one job must not stop the worker
            log.exception("%s: job failed", job)
            outcome, error = admission.FinishOutcome.RETRY, f"{type(exc).__name__}: {exc}"
        counted = outcome not in (admission.FinishOutcome.DONE, admission.FinishOutcome.DEFER)
        if counted and claim.job.attempts + 1 >= self._max_attempts:
            await self._last_attempt(claim, error)
            outcome = admission.FinishOutcome.FAILED
        return await self._finish(claim, outcome, error, defer_s)

    @staticmethod
    def _failed(exc: QuorumError) -> admission.FinishOutcome:
        # A job re-reads the PR and is idempotent (outbox, markers, a merge pinned to the SHA), so even an
        # ambiguous write failure is safe to retry; only a broken configuration never heals by itself.
        return (
            admission.FinishOutcome.FAILED if isinstance(exc, ConfigError) else admission.FinishOutcome.RETRY
        )

    async def _last_attempt(self, claim: admission.Claim, error: str) -> None:
        try:
            async with lease.hold(self._leases, claim.lease):
                await self._escalate(claim, error)
        except QuorumError as exc:
            log.error("%s: could not escalate after its last attempt: %s", claim.job.id, exc.message)

    async def _finish(
        self, claim: admission.Claim, outcome: admission.FinishOutcome, error: str, defer_s: float = 0.0
    ) -> admission.FinishResult | None:
        try:
            result = await self._scheduler.finish(claim, outcome, error or None, defer_s=defer_s)
        except CoordinationUnavailable as exc:
            # The lease runs out and the reaper returns the job to the queue.
            log.warning("%s: could not finish: %s", claim.job.id, exc.message)
            return None
        log.info("%s: %s -> %s", claim.job.id, outcome.value, result.value)
        return result


async def _sleep_or_stop(stopping: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except TimeoutError:
        return
