"""An in-memory `Inbox`, for the single-process mode and tests."""

from __future__ import annotations

from bot.daemon.inbox import InboxItem


class InMemoryInbox:
    def __init__(self) -> None:
        self._items: dict[str, list[InboxItem]] = {}

    async def push(self, job_id: str, item: InboxItem) -> None:
        self._items.setdefault(job_id, []).append(item)

    async def drain(self, job_id: str) -> list[InboxItem]:
        return self._items.pop(job_id, [])

    async def waiting(self) -> list[str]:
        return [job for job, items in self._items.items() if items]
