"""The state the in-memory coordination ports share: what Redis holds for the Redis adapters.

One `Board` per process (or per test) is read and written by the in-memory scheduler, leases, publish
gate, PR state store and inbox; each operation on it runs without awaiting in between, so it is atomic
within the event loop, as a script is within Redis.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from guardrails import admission
from guardrails.clock import Clock, SystemClock
from statemachine import records


@dataclass(slots=True)
class JobState:
    """A job's head and retry state, while it is known."""

    head: str
    attempts: int = 0
    rerun: bool = False
    error: str = ""


@dataclass(slots=True)
class Held:
    """A running job's claim and lease."""

    claim_id: str
    token: str
    fence: int
    expires_at: float
    deadline: float
    ticket: int
    head: str
    waited: float = 0.0
    yielded: bool = False  # the slot given back, the lease kept (`Scheduler.yield_slot`)


class Board:
    """The shared state the in-memory ports read and write (what Redis holds for the others)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.seq = 0
        self.pending: dict[str, int] = {}
        self.delayed: dict[str, float] = {}
        self.running: dict[str, Held] = {}
        self.dead: dict[str, float] = {}
        self.jobs: dict[str, JobState] = {}
        self.fences: dict[str, int] = {}
        self.claims: dict[str, str] = {}
        self.finished: dict[str, admission.FinishResult] = {}
        self.deliveries: dict[str, float] = {}
        self.since: dict[str, float] = {}
        self.publishing: dict[str, int] = {}
        self.published: dict[str, str] = {}
        self.settled: dict[str, str] = {}
        self.records: dict[str, records.PullRequestRecord] = {}
        self.audits: dict[str, list[records.AuditEntry]] = {}
        self.bell = asyncio.Event()

    def queue(self, job_id: str, ticket: int) -> None:
        """Put a job in line; when it got there is kept until it is claimed (the queue-wait metric)."""
        self.pending[job_id] = ticket
        self.since.setdefault(job_id, self.clock.now())

    def first_delivery(self, delivery_id: str) -> bool:
        """Record a delivery for three days; True the first time."""
        now = self.clock.now()
        if self.deliveries.get(delivery_id, 0.0) > now:
            return False
        self.deliveries[delivery_id] = now + admission.DELIVERY_TTL_S
        return True

    def ticket(self) -> int:
        """The next place in line."""
        self.seq += 1
        return self.seq

    def slots(self) -> dict[str, int]:
        """Slots taken per repository: running jobs that have not given theirs back."""
        per_repo: dict[str, int] = {}
        for job_id, held in self.running.items():
            if not held.yielded:
                repo = admission.parse_job_id(job_id).repo
                per_repo[repo] = per_repo.get(repo, 0) + 1
        return per_repo

    def release(self, job_id: str) -> Held:
        """Free the job's slot; its lease as it was."""
        return self.running.pop(job_id)

    def rerun(self, job_id: str) -> bool:
        """Queue a job again, fresh, if a newer head arrived while it ran."""
        state = self.jobs[job_id]
        if not state.rerun:
            return False
        state.rerun, state.attempts = False, 0
        self.queue(job_id, self.ticket())
        return True

    def bury(self, job_id: str, now: float, error: str) -> None:
        """Move a job to the dead letters."""
        self.dead[job_id] = now
        if error:
            self.jobs[job_id].error = error
