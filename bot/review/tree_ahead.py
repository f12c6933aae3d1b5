"""The head worktree, checked out while the diff is still being prepared, so the first call waits less.

The worktree is entered and left in a task of its own (an async context manager must end in the task
that began it); the review asks for its path when it needs it, and leaving removes it, also when it was
never asked for (nothing to review) or the review failed or was cancelled.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import TracebackType

from guardrails import workspace


class TreeAhead:
    """`async with TreeAhead(...) as ahead: path = await ahead.path()`: the checkout starts on entry."""

    def __init__(self, workspaces: workspace.Workspaces, source: workspace.RepoSource, sha: str, job_id: str):
        self._workspaces, self._source, self._sha, self._job_id = workspaces, source, sha, job_id
        self._ready: asyncio.Future[Path] | None = None
        self._release = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TreeAhead:
        self._ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._hold(self._ready))
        return self

    async def path(self) -> Path:
        """The checkout's path once it is ready; raises what making it raised."""
        assert self._ready is not None, "use TreeAhead in `async with`"
        return await asyncio.shield(self._ready)

    async def _hold(self, ready: asyncio.Future[Path]) -> None:
        try:
            async with self._workspaces.worktree(self._source, self._sha, self._job_id) as tree:
                ready.set_result(tree)
                await self._release.wait()
        except Exception as exc:  # handed to whoever asks for the path; nobody may
            if not ready.done():
                ready.set_exception(exc)
        finally:
            if not ready.done():
                ready.cancel()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._task is not None and self._ready is not None
        self._release.set()
        if not self._ready.done():
            self._task.cancel()  # still checking out: the worktree's own cleanup removes what exists
        # Waited for, not awaited: a second cancellation here leaves the removal running to its end.
        await asyncio.wait([self._task])
        if self._ready.done() and not self._ready.cancelled():
            self._ready.exception()  # retrieved: a failure nobody asked about is not an error
