"""The parts of a round at once: at most `limit` running, no new one after a failure, failures in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def in_order(
    count: int,
    limit: int,
    work: Callable[[int], Awaitable[None]],
    stops: tuple[type[Exception], ...],
) -> None:
    """Run `work(0)` ... `work(count - 1)`, at most `limit` at once, started in index order. A `stops`
    exception of one part lets the parts already running finish (their calls are paid for) but starts
    no other; then the one of the lowest index is raised, so the outcome does not depend on timing."""
    gate = asyncio.Semaphore(max(1, limit))
    failures: dict[int, Exception] = {}

    async def one(index: int) -> None:
        async with gate:
            if failures:
                return
            try:
                await work(index)
            except stops as exc:
                failures[index] = exc

    async with asyncio.TaskGroup() as group:
        for index in range(count):
            group.create_task(one(index))
    if failures:
        raise failures[min(failures)]
