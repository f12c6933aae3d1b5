"""What an operator sees and does to the in-memory queue: the listing, the counts, and cancel."""

from __future__ import annotations

import logging
import math

from bot.adapters.memory.board import Board
from guardrails import admission, lease

log = logging.getLogger(__name__)


class QueueViews:
    """The operator's methods of `InMemoryScheduler`, over its board."""

    _board: Board
    _policy: lease.LeasePolicy

    async def queued(self, limit: int = 1000) -> list[admission.QueuedJob]:
        board = self._board
        waiting = sorted(board.pending, key=board.pending.__getitem__)[:limit]
        delayed = sorted(board.delayed, key=lambda job: (board.delayed[job], job))[:limit]
        return [
            *(self._queued(job, board.since.get(job, 0.0), 0.0) for job in waiting),
            *(self._queued(job, 0.0, board.delayed[job]) for job in delayed),
        ]

    def _queued(self, job_id: str, since: float, due_at: float) -> admission.QueuedJob:
        state = self._board.jobs[job_id]
        return admission.QueuedJob(job_id, state.head, state.attempts, since, due_at > 0, due_at, state.error)

    async def counts(self) -> admission.QueueCounts:
        board = self._board
        per_repo = board.slots()  # as Redis counts them: slots, not leases
        return admission.QueueCounts(
            len(board.pending), len(board.delayed), len(board.running), len(board.dead),
            tuple(sorted(per_repo.items())),
        )  # fmt: skip

    async def running(self) -> list[admission.RunningJob]:
        hold_s = self._policy.max_hold_s
        return [
            admission.RunningJob(
                job_id, held.fence, held.expires_at, held.deadline, held.claim_id, held.token,
                held.deadline - hold_s, held.head,
            )
            for job_id, held in sorted(self._board.running.items(), key=lambda item: item[1].expires_at)
        ]  # fmt: skip

    async def cancel(self, job_id: str, actor: str = "") -> admission.CancelResult:
        admission.parse_job_id(job_id)
        board = self._board
        if job_id in board.running:
            # The fence moves on with the release, so the holder is refused everywhere it is checked.
            board.release(job_id)
            now_us = math.floor(board.clock.now() * 1_000_000)
            board.fences[job_id] = admission.next_fence(board.fences.get(job_id, 0), now_us)
            result = admission.CancelResult.REVOKED
        elif any(job_id in where for where in (board.pending, board.delayed, board.dead)):
            for where in (board.pending, board.delayed, board.dead):
                where.pop(job_id, None)
            result = admission.CancelResult.REMOVED
        else:
            return admission.CancelResult.NOT_FOUND
        board.jobs.pop(job_id, None)
        board.since.pop(job_id, None)
        board.bell.set()
        log.warning("job %s cancelled by %s: %s", job_id, actor or "-", result.value)
        return result
