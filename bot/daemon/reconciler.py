"""The reconciler: what recovers missed webhooks (GitHub never redelivers).

Every pass lists the open PRs of the watched repositories with conditional requests (an unchanged list
costs no quota) and enqueues each PR whose head has no decision yet, each approved PR (its merge may now
be possible), each PR with something in its inbox, and each PR that left the open list since the last
pass (closed or merged elsewhere). Enqueueing is idempotent, so every replica may run it. The last listing
is kept in a `ListingMemory` (Redis in `serve`), so a PR closed while no replica ran is still noticed.
While GitHub is unreachable it waits on the link, and runs a pass as soon as GitHub answers again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from bot import forge
from bot.daemon.context import log
from bot.daemon.github_link import CodeHostLink
from bot.errors import QuorumError
from bot.ports import Inbox
from guardrails import admission
from statemachine import records
from statemachine.lifecycle import State

_SETTLED = {State.ESCALATED.value, State.CLOSED.value, State.MERGED.value}


class ListingMemory(Protocol):
    """The job ids of each repository's open PRs at the last pass of any replica."""

    async def recall(self, repo: str) -> set[str]:
        """The ids remembered for `repo` (empty when none)."""
        ...

    async def remember(self, repo: str, jobs: set[str]) -> None:
        """Replace what is remembered for `repo`."""
        ...


class ProcessListingMemory:
    """A `ListingMemory` of this process only (tests; `serve` remembers listings in Redis)."""

    def __init__(self) -> None:
        self._open: dict[str, set[str]] = {}

    async def recall(self, repo: str) -> set[str]:
        return set(self._open.get(repo, set()))

    async def remember(self, repo: str, jobs: set[str]) -> None:
        self._open[repo] = set(jobs)


@dataclass(frozen=True, slots=True)
class PassReport:
    repositories: int
    open_pulls: int
    enqueued: tuple[str, ...]
    failures: tuple[str, ...] = ()


class Reconciler:
    def __init__(
        self,
        reader: forge.PullRequestReader,
        scheduler: admission.Scheduler,
        store: records.StateStore,
        inbox: Inbox,
        *,
        interval_s: float,
        listings: ListingMemory | None = None,
        link: CodeHostLink | None = None,
    ) -> None:
        self._reader = reader
        self._scheduler = scheduler
        self._store = store
        self._inbox = inbox
        self._interval_s = interval_s
        self._listings = listings or ProcessListingMemory()
        self._link = link
        self.wake = asyncio.Event()  # set to run a pass now (an installation changed)

    def attach(self, link: CodeHostLink) -> None:
        """Wait on `link` before each pass (it is built after the reconciler, whose wake-up it calls)."""
        self._link = link

    async def run(self, stopping: asyncio.Event) -> None:
        """A pass every `interval_s` (or when woken) until `stopping` is set."""
        while not stopping.is_set():
            if self._link is not None and not await self._link.wait_up(stopping):
                break
            try:
                await self.tick()
            except QuorumError as exc:
                log.warning("reconciler pass failed: %s", exc.message)
                if self._link is not None:
                    self._link.failed(exc)
            except Exception:  # the loop's boundary: a bug in one pass must not stop the next
                log.exception("reconciler pass failed")
            self.wake.clear()
            waits = [asyncio.create_task(e.wait()) for e in (stopping, self.wake)]
            try:
                await asyncio.wait(waits, timeout=self._interval_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in waits:
                    task.cancel()
                await asyncio.gather(*waits, return_exceptions=True)

    async def tick(self) -> PassReport:
        """One pass over every watched repository; a failing repository is reported and skipped."""
        enqueued: list[str] = []
        failures: list[str] = []
        count = 0
        repos = await self._reader.repositories()
        for repo in repos:
            try:
                listing = await self._reader.open_pulls(repo)
                count += len(listing.pulls)
                enqueued += await self._repo(repo, listing)
            except QuorumError as exc:
                log.warning("reconciler: %s: %s", repo, exc.message)
                failures.append(f"{repo}: {exc.message}")
        for job in await self._inbox.waiting():
            if job not in enqueued:
                await self._scheduler.enqueue(job, "")
                enqueued.append(job)
        report = PassReport(len(repos), count, tuple(enqueued), tuple(failures))
        if enqueued:
            log.info("reconciler enqueued %d pull requests: %s", len(enqueued), ", ".join(enqueued[:20]))
        return report

    async def _repo(self, repo: str, listing: forge.OpenPulls) -> list[str]:
        out: list[str] = []
        now = {pr.job_id for pr in listing.pulls}
        for pr in listing.pulls:
            record = await self._store.load(pr.job_id)
            if _needs_job(pr, record):
                await self._scheduler.enqueue(pr.job_id, pr.head_sha)
                out.append(pr.job_id)
        for gone in sorted(await self._listings.recall(repo) - now):
            await self._scheduler.enqueue(gone, "")  # its job sees it closed or merged
            out.append(gone)
        await self._listings.remember(repo, now)
        return out


def _needs_job(pr: forge.PullRequest, record: records.PullRequestRecord | None) -> bool:
    if record is None:
        return True
    if record.paused or record.state in _SETTLED:
        return False
    if record.outbox:
        return True  # a decided review that was never confirmed as posted
    return record.reviewed_sha != pr.head_sha or record.state == State.APPROVED.value
