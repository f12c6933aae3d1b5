"""In-memory coordination for one process: the shared `Board`, the scheduler and delivery dedupe.

For `quorum action` without Redis (`bot/bootstrap/action.py`) and for tests, with the semantics of the Redis
scripts; the leases, publish gate and PR state (`leases`, `state`) work on the same board. Each operation
runs without awaiting in between, so it is atomic within the event loop, as a script is within Redis.
"""

from __future__ import annotations

import asyncio
import math
import random as stdlib_random
import secrets
from collections.abc import Callable

from bot.adapters.memory import leases as memory_leases
from bot.adapters.memory import queue_views as memory_queue_views
from bot.adapters.memory import state as memory_state
from bot.adapters.memory.board import Board, Held, JobState
from guardrails import admission, lease


class InMemoryScheduler(memory_queue_views.QueueViews):
    """A `Scheduler` for one process."""

    def __init__(
        self,
        board: Board,
        *,
        limits: admission.Limits | None = None,
        policy: lease.LeasePolicy | None = None,
        backoff: admission.Backoff | None = None,
        random: Callable[[], float] | None = None,
        max_block_s: float = 4.0,
    ) -> None:
        self._board = board
        self._limits = limits or admission.Limits()
        self._policy = policy or lease.LeasePolicy()
        self._backoff = backoff or admission.Backoff()
        self._random = random or stdlib_random.random
        self._max_block_s = max_block_s
        self._leases = memory_leases.InMemoryLeases(board, policy=self._policy)

    @property
    def leases(self) -> memory_leases.InMemoryLeases:
        """The lease manager and publish gate over the same board."""
        return self._leases

    async def enqueue(
        self, job_id: str, head_sha: str, delivery_id: str | None = None
    ) -> admission.EnqueueResult:
        admission.parse_job_id(job_id)
        board = self._board
        if delivery_id is not None and not board.first_delivery(delivery_id):
            return admission.EnqueueResult.DUPLICATE_DELIVERY
        state = board.jobs.get(job_id)
        if not head_sha:  # a nudge: keep the known head
            if job_id in board.running and state is not None:
                state.rerun = True
                return admission.EnqueueResult.RERUN_MARKED
            if job_id in board.pending or job_id in board.delayed or job_id in board.dead:
                return admission.EnqueueResult.UNCHANGED
            head_sha = state.head if state is not None else ""
        if state is not None and state.head == head_sha:
            return admission.EnqueueResult.UNCHANGED
        if job_id in board.running:
            assert state is not None
            state.head, state.rerun = head_sha, True
            return admission.EnqueueResult.RERUN_MARKED
        if job_id in board.pending or job_id in board.delayed:
            assert state is not None
            state.head = head_sha
            return admission.EnqueueResult.UPDATED_IN_PLACE
        board.dead.pop(job_id, None)
        board.jobs[job_id] = JobState(head_sha)
        board.queue(job_id, board.ticket())
        board.bell.set()
        return admission.EnqueueResult.QUEUED

    async def claim(self, claim_id: str) -> admission.Claim | None:
        board = self._board
        served = board.claims.get(claim_id)
        if served is not None:
            held = board.running.get(served)
            return self._claim_of(served, held) if held and held.claim_id == claim_id else None
        self._reap()
        self._promote()
        per_repo = board.slots()
        ordered = sorted(board.pending, key=board.pending.__getitem__)
        now = board.clock.now()
        waited = {job_id: now - board.since.get(job_id, now) for job_id in ordered}
        chosen = admission.pick_next(
            ordered, board.running, sum(per_repo.values()), per_repo, self._limits, waited
        )
        return None if chosen is None else self._grant(chosen, claim_id)

    def _grant(self, job_id: str, claim_id: str) -> admission.Claim:
        board, now = self._board, self._board.clock.now()
        fence = admission.next_fence(board.fences.get(job_id, 0), math.floor(now * 1_000_000))
        board.fences[job_id] = fence
        deadline = now + self._policy.max_hold_s
        state = board.jobs[job_id]
        state.rerun = False
        held = Held(
            claim_id,
            secrets.token_hex(16),
            fence,
            min(now + self._policy.ttl_s, deadline),
            deadline,
            board.pending.pop(job_id),
            state.head,
            max(0.0, now - board.since.pop(job_id, now)),
        )
        board.running[job_id] = held
        board.claims[claim_id] = job_id
        return self._claim_of(job_id, held)

    def _claim_of(self, job_id: str, held: Held) -> admission.Claim:
        ref = admission.parse_job_id(job_id)
        attempts = self._board.jobs[job_id].attempts
        job = admission.Job(job_id, ref.repo, ref.number, held.head, attempts, held.ticket)
        token = lease.Lease(
            job_id, held.token, held.fence, held.expires_at, held.deadline, self._policy.ttl_s
        )
        return admission.Claim(job, held.claim_id, token, queued_s=held.waited)

    def _reap(self) -> list[str]:
        board, now = self._board, self._board.clock.now()
        expired = [job_id for job_id, held in board.running.items() if held.expires_at <= now]
        for job_id in expired:
            held = board.release(job_id)
            state = board.jobs[job_id]
            state.attempts += 1
            if board.rerun(job_id):
                continue
            if state.attempts >= self._backoff.max_attempts:
                board.bury(job_id, now, "lease expired")
            else:
                board.queue(job_id, held.ticket)
        if expired:
            board.bell.set()
        return expired

    def _promote(self) -> int:
        board, now = self._board, self._board.clock.now()
        due = sorted((at, job_id) for job_id, at in board.delayed.items() if at <= now)
        for _, job_id in due:
            del board.delayed[job_id]
            board.queue(job_id, board.ticket())
        return len(due)

    def _next_wake_s(self) -> float:
        board, now = self._board, self._board.clock.now()
        times = [*board.delayed.values(), *(held.expires_at for held in board.running.values())]
        return max(0.0, min(times) - now) if times else math.inf

    async def wait_for_work(self, timeout_s: float) -> bool:
        wait = max(0.01, min(timeout_s, self._max_block_s, self._next_wake_s()))
        try:
            async with asyncio.timeout(wait):
                await self._board.bell.wait()
        except TimeoutError:
            return False
        self._board.bell.clear()
        return True

    async def renew(self, claim: admission.Claim) -> bool:
        return await self._leases.renew(claim.lease)

    async def yield_slot(self, claim: admission.Claim) -> bool:
        board = self._board
        held = board.running.get(claim.job.id)
        if held is None or held.token != claim.token or board.fences.get(claim.job.id) != claim.fence:
            return False
        if held.expires_at <= board.clock.now():
            return False
        if not held.yielded:
            held.yielded = True
            board.bell.set()
        return True

    async def finish(
        self,
        claim: admission.Claim,
        outcome: admission.FinishOutcome,
        error: str | None = None,
        *,
        defer_s: float = 0.0,
    ) -> admission.FinishResult:
        board = self._board
        if claim.token in board.finished:
            return board.finished[claim.token]
        self._reap()
        held = board.running.get(claim.job.id)
        if held is None or held.token != claim.token or board.fences.get(claim.job.id) != claim.fence:
            return admission.FinishResult.NOT_HELD
        board.release(claim.job.id)
        result = self._route(claim, outcome, error or "", defer_s)
        board.finished[claim.token] = result
        board.bell.set()
        return result

    def _route(
        self, claim: admission.Claim, outcome: admission.FinishOutcome, error: str, defer_s: float
    ) -> admission.FinishResult:
        board, job_id, now = self._board, claim.job.id, self._board.clock.now()
        if board.rerun(job_id):
            return admission.FinishResult.REQUEUED
        if outcome is admission.FinishOutcome.DONE:
            del board.jobs[job_id]
            return admission.FinishResult.DONE
        state = board.jobs[job_id]
        if outcome is admission.FinishOutcome.DEFER:
            board.delayed[job_id] = now + defer_s
            state.error = error or state.error
            return admission.FinishResult.DELAYED
        state.attempts += 1
        if outcome is admission.FinishOutcome.RETRY and state.attempts < self._backoff.max_attempts:
            board.delayed[job_id] = now + self._backoff.delay_s(claim.job.attempts + 1, self._random)
            state.error = error or state.error
            return admission.FinishResult.DELAYED
        board.bury(job_id, now, error)
        return admission.FinishResult.DEAD

    async def dead_letters(self) -> list[admission.DeadLetter]:
        board = self._board
        return [
            admission.DeadLetter(job_id, board.jobs[job_id].head, board.jobs[job_id].attempts,
                                 board.jobs[job_id].error, died_at)
            for job_id, died_at in sorted(board.dead.items(), key=lambda item: (item[1], item[0]))
        ]  # fmt: skip

    async def requeue_dead(self, job_id: str) -> bool:
        board = self._board
        if board.dead.pop(job_id, None) is None:
            return False
        state = board.jobs[job_id]
        state.attempts, state.error = 0, ""
        board.queue(job_id, board.ticket())
        board.bell.set()
        return True

    async def reap_expired(self) -> list[str]:
        expired = self._reap()
        if self._promote():
            self._board.bell.set()
        return expired


# Kept here under its old name; it lives in its own module.
InMemoryStateStore = memory_state.InMemoryStateStore


class InMemoryDeliveryDedupe:
    """A `DeliveryDedupe` over a `Board` (shared with the scheduler's enqueue)."""

    def __init__(self, board: Board) -> None:
        self._board = board

    async def first_seen(self, delivery_id: str) -> bool:
        return self._board.first_delivery(delivery_id)
