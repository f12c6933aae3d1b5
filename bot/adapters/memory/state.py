"""The in-memory `StateStore`: PR records with fenced compare-and-set and their audit trail, on a `Board`."""

from __future__ import annotations

from bot.adapters.memory.board import Board
from statemachine import records


class InMemoryStateStore:
    """A `StateStore` over a `Board` (fences come from the board's leases)."""

    def __init__(self, board: Board) -> None:
        self._board = board

    async def load(self, job_id: str) -> records.PullRequestRecord | None:
        return self._board.records.get(job_id)

    async def save(self, record: records.PullRequestRecord, *, expected_version: int, fence: int) -> bool:
        board, job_id = self._board, record.job_id
        current_fence = board.fences.get(job_id, 0)
        stored = board.records.get(job_id)
        version = stored.version if stored else 0
        replay = stored is not None and stored.fence == fence and records.same_content(stored, record)
        if current_fence == fence and version == expected_version + 1 and replay:
            return True
        if not records.save_allowed(version, current_fence, expected_version=expected_version, fence=fence):
            return False
        board.records[job_id] = record.saved(expected_version + 1, fence)
        return True

    async def append_audit(self, job_id: str, entry: records.AuditEntry, fence: int) -> bool:
        if self._board.fences.get(job_id, 0) != fence:
            return False
        trail = self._board.audits.setdefault(job_id, [])
        if not trail or trail[-1] != entry:
            trail.append(entry)
        return True

    async def audit(self, job_id: str) -> list[records.AuditEntry]:
        return list(self._board.audits.get(job_id, []))

    async def append_note(self, job_id: str, entry: records.AuditEntry) -> None:
        trail = self._board.audits.setdefault(job_id, [])
        if not trail or trail[-1] != entry:
            trail.append(entry)
