"""Admission guardrail: one job per PR, at most N running globally and M per repository; backlogs first,
oldest first within a repository, and any job first once it has waited long enough.

The policy here is pure: job ids, the pick rule, fences and the retry backoff. A `Scheduler` (in memory,
or on Redis as one script per operation) holds the queue and applies the rule atomically.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.errors import InputError
from guardrails import lease

PICK_WINDOW = 200  # waiting jobs weighed together by `pick_next`, oldest first
# GitHub keeps webhook deliveries for three days; a replay older than that is new work anyway.
DELIVERY_TTL_S = 3 * 24 * 3600

_JOB_ID = re.compile(r"^(?P<repo>[^\s#/]+/[^\s#/]+)#(?P<number>[1-9][0-9]*)$")


@dataclass(frozen=True, slots=True)
class JobRef:
    """Which PR a job reviews; its id `owner/repo#N` is also the PR lock's name."""

    repo: str
    number: int

    @property
    def id(self) -> str:
        return f"{self.repo}#{self.number}"


def parse_job_id(job_id: str) -> JobRef:
    """Split `owner/repo#N`; raises `InputError` on anything else."""
    match = _JOB_ID.match(job_id)
    if match is None:
        raise InputError(f"not a job id (owner/repo#N): {job_id!r}")
    return JobRef(match["repo"], int(match["number"]))


@dataclass(frozen=True, slots=True)
class Job:
    """A queued review of one PR at its newest known head; `ticket` is its place in arrival order."""

    id: str
    repo: str
    number: int
    head_sha: str
    attempts: int
    ticket: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A job handed to one worker, with the lease that makes it the PR's only live holder."""

    job: Job
    claim_id: str
    lease: lease.Lease
    queued_s: float = 0.0  # how long the job waited in line before this claim

    @property
    def token(self) -> str:
        return self.lease.token

    @property
    def fence(self) -> int:
        return self.lease.fence


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A job holding a lease, as an operator or the monitor sees it."""

    job_id: str
    fence: int
    lease_expires_at: float
    deadline: float
    claim_id: str = ""  # the holder: worker name and claim (the worker's `name:uuid`)
    token: str = ""
    claimed_at: float = 0.0
    head_sha: str = ""


@dataclass(frozen=True, slots=True)
class QueuedJob:
    """A job waiting for a slot (`delayed`: backing off after a failure until `due_at`)."""

    job_id: str
    head_sha: str
    attempts: int
    since: float  # when it got in line (0 for a delayed job: it is in line again at `due_at`)
    delayed: bool = False
    due_at: float = 0.0
    error: str = ""


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """How many jobs are where, read in one step (for gauges)."""

    waiting: int
    delayed: int
    running: int
    dead: int
    running_per_repo: tuple[tuple[str, int], ...] = ()


class CancelResult(StrEnum):
    """What a cancel did."""

    REMOVED = "removed"  # it was waiting, delayed or dead: gone from the queue
    REVOKED = "revoked"  # it was running: its fence moved on and its lease is released
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A job that failed for good; an operator may requeue it."""

    job_id: str
    head_sha: str
    attempts: int
    error: str
    died_at: float


class EnqueueResult(StrEnum):
    """What an enqueue did: jobs coalesce per PR, deliveries count once."""

    QUEUED = "queued"
    UPDATED_IN_PLACE = "updated_in_place"  # waiting job, new head, same place in line
    RERUN_MARKED = "rerun_marked"  # running job, new head: runs again after it finishes
    UNCHANGED = "unchanged"  # already waiting, running or dead at this head
    DUPLICATE_DELIVERY = "duplicate_delivery"


class FinishOutcome(StrEnum):
    """How the worker ended a job."""

    DONE = "done"
    RETRY = "retry"  # transient failure: back off, try again while attempts remain
    # The outside world asked for a wait (a rate limit's reset): back after it, no attempt used up.
    DEFER = "defer"
    FAILED = "failed"  # permanent failure: dead letter


class FinishResult(StrEnum):
    """Where the job went after `finish`."""

    DONE = "done"
    REQUEUED = "requeued"  # a newer head arrived while it ran
    DELAYED = "delayed"
    DEAD = "dead"
    NOT_HELD = "not_held"  # lease lost or fence stale: nothing changed


@dataclass(frozen=True, slots=True)
class Limits:
    """How many jobs may hold leases at once, across all replicas."""

    max_concurrent_agents: int = 6
    max_per_repo: int = 2
    oldest_first_after_s: float = 300.0  # a job waiting this long starts first, whatever the backlogs


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry policy: exponential delay with jitter, `max_attempts` tries in all."""

    max_attempts: int = 5
    base_s: float = 30.0
    cap_s: float = 900.0

    def delay_s(self, attempts: int, random: Callable[[], float]) -> float:
        """Delay before the next try after `attempts` failures: half fixed, half jitter from `random`."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** max(0, attempts - 1))
        return ceiling / 2 + ceiling / 2 * random()


def pick_next(
    pending: Iterable[str],
    running: Container[str],
    running_total: int,
    running_per_repo: Mapping[str, int],
    limits: Limits,
    waited_s: Mapping[str, float] | None = None,
) -> str | None:
    """The job that may start now, or None; `pending` must be in ticket order, `waited_s` says how long
    each has waited.

    Of the jobs whose repository has room: the oldest, when it has waited `oldest_first_after_s`; else the
    oldest of the repository with the most jobs waiting. The per-repository limit makes a repository's
    backlog the longest chain of work, so it starts first (a burst of ten PRs in one repository starts its
    two lanes at once, and the repositories with one PR fill the other slots); the age bound keeps a lone
    PR from waiting behind other repositories' backlogs for long. Within a repository jobs start oldest
    first. The waiting jobs are weighed `PICK_WINDOW` at a time, oldest first: a later window is looked at
    only when no job of an earlier one may start, so a claim's cost does not grow with the queue."""
    if running_total >= limits.max_concurrent_agents:
        return None
    ordered = [job_id for job_id in pending if job_id not in running]
    for start in range(0, len(ordered), PICK_WINDOW):
        picked = _pick_in(ordered[start : start + PICK_WINDOW], running_per_repo, limits, waited_s or {})
        if picked is not None:
            return picked
    return None


def _pick_in(
    window: Sequence[str], running_per_repo: Mapping[str, int], limits: Limits, waited_s: Mapping[str, float]
) -> str | None:
    repos = [parse_job_id(job_id).repo for job_id in window]
    waiting = Counter(repos)
    eligible = [
        (job_id, repo)
        for job_id, repo in zip(window, repos, strict=True)
        if running_per_repo.get(repo, 0) < limits.max_per_repo
    ]
    if not eligible:
        return None
    oldest = eligible[0][0]
    if waited_s.get(oldest, 0.0) >= limits.oldest_first_after_s:
        return oldest
    return max(eligible, key=lambda job: waiting[job[1]])[0]  # the first of the most: the oldest


def next_fence(stored: int, now_us: int) -> int:
    """A per-PR fence that grows even when the stored one was lost or rolled back: max(stored+1, now)."""
    return max(stored + 1, now_us)


class Scheduler(Protocol):
    """The shared job queue with admission limits, leases and retries. Every call is one atomic step."""

    async def enqueue(self, job_id: str, head_sha: str, delivery_id: str | None = None) -> EnqueueResult:
        """Queue or coalesce a review of `job_id` at `head_sha`; a seen `delivery_id` changes nothing.

        An empty `head_sha` is a nudge: a running job is marked to run again and a waiting one is left
        as it is, both keeping the head the queue knows; an absent job is queued with the last known
        head (or none: the worker reads the PR's head itself)."""
        ...

    async def claim(self, claim_id: str) -> Claim | None:
        """Reap dead leases, then take the next eligible job (`pick_next`); replays the same claim for
        `claim_id`."""
        ...

    async def wait_for_work(self, timeout_s: float) -> bool:
        """Sleep until work may be claimable (True when rung), at most `timeout_s` and a few seconds."""
        ...

    async def renew(self, claim: Claim) -> bool:
        """Extend the lease; False when it is lost, stale, expired or past its deadline."""
        ...

    async def yield_slot(self, claim: Claim) -> bool:
        """Give the claim's slot back and keep its lease: the job stops counting against the global and
        per-repository limits (a waiting review may start) while it still holds the PR, its fence and
        the publish gate until `finish`. The holder starts no model work after it. Idempotent; False
        when the lease is no longer held."""
        ...

    async def finish(
        self, claim: Claim, outcome: FinishOutcome, error: str | None = None, *, defer_s: float = 0.0
    ) -> FinishResult:
        """Release the slot and route the job (done, rerun, retry later, dead). Idempotent by token.
        `DEFER` delays the job by `defer_s` without counting an attempt."""
        ...

    async def dead_letters(self) -> list[DeadLetter]:
        """Jobs that failed for good, oldest first."""
        ...

    async def requeue_dead(self, job_id: str) -> bool:
        """Put a dead job back at the end of the queue with fresh attempts; False if not dead."""
        ...

    async def running(self) -> list[RunningJob]:
        """Jobs holding leases now."""
        ...

    async def reap_expired(self) -> list[str]:
        """Return jobs whose lease expired to the queue (or the dead letters); their ids."""
        ...

    async def queued(self, limit: int = 1000) -> list[QueuedJob]:
        """Waiting jobs in ticket order, then delayed ones by due time; at most `limit` of each."""
        ...

    async def counts(self) -> QueueCounts:
        """Waiting, delayed, running (also per repository) and dead jobs."""
        ...

    async def cancel(self, job_id: str, actor: str = "") -> CancelResult:
        """Drop a job: a queued one is removed; a running one is fenced out in the same step (its fence
        moves on and its lease is released, so the holder's renew, publish gate, saves and finish all
        refuse) and is not queued again. Audited with `actor`."""
        ...


class DeliveryDedupe(Protocol):
    """Webhook deliveries seen in the last three days.

    It shares its keys with `Scheduler.enqueue(..., delivery_id)`: a delivery that enqueues a job must be
    passed there (dedupe and enqueue commit together), not checked here first.
    """

    async def first_seen(self, delivery_id: str) -> bool:
        """Record the delivery; True only the first time."""
        ...
