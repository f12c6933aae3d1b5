"""An in-memory `Inbox` on a coordination `Board`, for `quorum action` without Redis and for tests."""

from __future__ import annotations

from collections.abc import Sequence

from bot.adapters.memory import board as memory_board
from bot.ports import InboxItem


class InMemoryInbox:
    """Per-PR lists; deliveries are recorded on the `Board` the scheduler's enqueue dedupes with."""

    def __init__(self, board: memory_board.Board | None = None) -> None:
        self._items: dict[str, list[InboxItem]] = {}
        self._board = board or memory_board.Board()

    async def push(self, job_id: str, item: InboxItem) -> None:
        self._items.setdefault(job_id, []).append(item)

    async def push_delivery(self, delivery_id: str, items: Sequence[tuple[str, InboxItem]]) -> bool:
        # No await between the check and the appends: one step, as the Redis script is.
        if not self._board.first_delivery(delivery_id):
            return False
        for job_id, item in items:
            self._items.setdefault(job_id, []).append(item)
        return True

    async def drain(self, job_id: str) -> list[InboxItem]:
        return self._items.pop(job_id, [])

    async def waiting(self) -> list[str]:
        return [job for job, items in self._items.items() if items]
