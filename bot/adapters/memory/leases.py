"""In-memory leases and publish gate: the checks of `guardrails.lease` over the shared board."""

from __future__ import annotations

from bot.adapters.memory.board import Board
from guardrails import lease


class InMemoryLeases:
    """A `LeaseManager` and `PublishGate` over a `Board`."""

    def __init__(self, board: Board, *, policy: lease.LeasePolicy | None = None) -> None:
        self._board = board
        self._policy = policy or lease.LeasePolicy()

    def _view(self, job_id: str) -> lease.HeldState | None:
        current = self._board.running.get(job_id)
        return lease.HeldState(current.token, current.expires_at, current.deadline) if current else None

    async def renew(self, held: lease.Lease) -> bool:
        board, now = self._board, self._board.clock.now()
        if lease.lease_refusal(held, self._view(held.job_id), board.fences.get(held.job_id, 0), now):
            return False
        current = board.running[held.job_id]
        current.expires_at = min(now + self._policy.ttl_s, current.deadline)
        return True

    async def check_publish(self, held: lease.Lease, head_sha: str) -> lease.GateDecision:
        board = self._board
        state = board.jobs.get(held.job_id)
        decision = lease.decide_publish(
            held,
            head_sha,
            self._view(held.job_id),
            board.fences.get(held.job_id, 0),
            state.head if state else "",
            board.clock.now(),
        )
        if decision.allowed:
            board.publishing[held.job_id] = held.fence
        return decision

    async def mark_published(self, held: lease.Lease, marker: str) -> bool:
        if self._board.fences.get(held.job_id, 0) != held.fence:
            return False
        self._board.published[held.job_id] = marker
        return True

    async def publication(self, job_id: str) -> lease.Publication:
        return lease.Publication(self._board.publishing.get(job_id), self._board.published.get(job_id))

    async def confirm_write(self, held: lease.Lease) -> lease.GateDecision:
        fence = self._board.fences.get(held.job_id, 0)
        reason = lease.write_refusal(held, self._view(held.job_id), fence)
        return lease.GateDecision(reason is None, reason, fence)

    async def settle_review(
        self, held: lease.Lease, review_id: int, claim: lease.ReviewClaim
    ) -> lease.ReviewClaim | None:
        board = self._board
        if claim is lease.ReviewClaim.ADOPTED and board.fences.get(held.job_id, 0) != held.fence:
            return None
        standing, stored = lease.settle(board.settled.get(held.job_id), review_id, claim)
        board.settled[held.job_id] = stored
        return standing
