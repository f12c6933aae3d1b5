"""Lease guardrail: one live holder per PR, a fence that only grows, and the publish gate.

A lease is short (renewed every third of its TTL) and bounded by a hard deadline. Losing it means stop:
`hold` cancels the job's task at once. Every state write checks the fence, and `PublishGate.check_publish`
is the one call that must pass right before any GitHub write; each review carries a `marker` so a retry
or a later holder can recognise what was posted under which fence.

The gate is check-then-act: a holder paused between the check and the write landing (GC, SIGSTOP, a slow
network) writes after it lost the PR, and GitHub cannot check a fence. So every write is confirmed after it
lands (`PublishGate.confirm_write`) and a stale one is withdrawn (see
`bot.daemon.publishing.compensation`); a review found by its marker is settled once, either adopted by the
current holder or withdrawn by the stale one (`PublishGate.settle_review`), so the two never both act on it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot import errors
from guardrails.clock import Clock, SystemClock

log = logging.getLogger(__name__)

_MARKER = re.compile(
    r"<!-- quorum:job=(?P<job>[^;\s]+);fence=(?P<fence>[0-9]+);sha=(?P<sha>[0-9a-fA-F]+);"
    r"round=(?P<round>[0-9]+) -->"
)


@dataclass(frozen=True, slots=True)
class LeasePolicy:
    """Lease length and the hard deadline of one hold (the PR review TTL)."""

    ttl_s: float = 90.0
    max_hold_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class Lease:
    """What a holder keeps per job: times are server epoch seconds."""

    job_id: str
    token: str
    fence: int
    expires_at: float
    deadline: float
    ttl_s: float


class GateRefusal(StrEnum):
    """Why a publish (or a renewal) was refused."""

    STALE_FENCE = "stale_fence"
    NOT_HELD = "not_held"
    EXPIRED = "expired"
    DEADLINE = "deadline"
    HEAD_MOVED = "head_moved"


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The publish gate's answer; a refusal names its reason and what the store holds now."""

    allowed: bool
    reason: GateRefusal | None = None
    current_fence: int = 0
    current_head: str = ""


@dataclass(frozen=True, slots=True)
class HeldState:
    """The store's view of a PR's lease, as the gate reads it (epoch seconds)."""

    token: str
    expires_at: float
    deadline: float


@dataclass(frozen=True, slots=True)
class Publication:
    """The last publish a PR's holders announced and confirmed."""

    publishing_fence: int | None
    published_marker: str | None


class ReviewClaim(StrEnum):
    """Who settled a posted review: the current holder that adopted it, or the stale one that withdrew it."""

    ADOPTED = "adopted"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Marker:
    """The hidden tag in every review body: who posted it, under which fence, for which head and round."""

    job_id: str
    fence: int
    sha: str
    round: int


# Kept under its old name for callers written before it moved to the error tree.
LeaseLost = errors.LeaseLost


class LeaseManager(Protocol):
    """Keeps a lease alive."""

    async def renew(self, lease: Lease) -> bool:
        """Extend the lease by its TTL; False when lost, stale, expired or past the deadline."""
        ...


class PublishGate(Protocol):
    """The check before any GitHub write, and the record after it."""

    async def check_publish(self, lease: Lease, head_sha: str) -> GateDecision:
        """Allow only a live, current-fence lease on an unmoved head; records `publishing(job, fence)`."""
        ...

    async def mark_published(self, lease: Lease, marker: str) -> bool:
        """Record that the review carrying `marker` was posted; False if the fence is stale."""
        ...

    async def publication(self, job_id: str) -> Publication:
        """What was last announced and confirmed for the PR."""
        ...

    async def confirm_write(self, lease: Lease) -> GateDecision:
        """After a write landed: allowed while the fence is current and the lease still ours (see
        `write_refusal`); a refusal means the write may have landed after another holder's."""
        ...

    async def settle_review(self, lease: Lease, review_id: int, claim: ReviewClaim) -> ReviewClaim | None:
        """Settle a posted review once: ADOPTED only under the current fence, WITHDRAWN by any holder.
        Returns the claim that stands (the first one made), or None when an adoption's fence is stale."""
        ...


def lease_refusal(lease: Lease, held: HeldState | None, current_fence: int, now: float) -> GateRefusal | None:
    """Why `lease` is no longer good for renewing or writing, or None; the order the stores check."""
    if current_fence != lease.fence:
        return GateRefusal.STALE_FENCE
    if held is None or held.token != lease.token:
        return GateRefusal.NOT_HELD
    if held.deadline <= now:
        return GateRefusal.DEADLINE
    if held.expires_at <= now:
        return GateRefusal.EXPIRED
    return None


def write_refusal(lease: Lease, held: HeldState | None, current_fence: int) -> GateRefusal | None:
    """Why a write that just landed may not stand, or None. Expiry alone does not count: until a new claim
    moves the fence nobody else can have written, and the next holder finds the write by its marker."""
    if current_fence != lease.fence:
        return GateRefusal.STALE_FENCE
    if held is None or held.token != lease.token:
        return GateRefusal.NOT_HELD
    return None


def settle(stored: str | None, review_id: int, claim: ReviewClaim) -> tuple[ReviewClaim, str]:
    """The claim that stands on `review_id` given the stored `"<id>:<claim>"` of the PR, and what to store."""
    if stored is not None:
        sid, _, verb = stored.partition(":")
        if sid == str(review_id) and verb in set(ReviewClaim):
            return ReviewClaim(verb), stored
    return claim, f"{review_id}:{claim.value}"


def decide_publish(
    lease: Lease, head_sha: str, held: HeldState | None, current_fence: int, current_head: str, now: float
) -> GateDecision:
    """The gate's rule: a good lease on an unmoved head."""
    reason = lease_refusal(lease, held, current_fence, now)
    if reason is None and current_head != head_sha:
        reason = GateRefusal.HEAD_MOVED
    return GateDecision(reason is None, reason, current_fence, current_head)


def marker(job_id: str, fence: int, sha: str, round_index: int) -> str:
    """The hidden marker for a review body."""
    return f"<!-- quorum:job={job_id};fence={fence};sha={sha};round={round_index} -->"


def parse_marker(body: str) -> Marker | None:
    """The first marker in a review body, or None."""
    match = _MARKER.search(body)
    if match is None:
        return None
    return Marker(match["job"], int(match["fence"]), match["sha"], int(match["round"]))


async def _keep(manager: LeaseManager, held: Lease, clock: Clock) -> str:
    """Renew every ttl/3 until refused, or until the lease would end unrenewed; return why it stopped."""
    interval = held.ttl_s / 3
    margin = min(1.0, held.ttl_s / 10)
    valid_until = clock.monotonic() + held.ttl_s
    wait = interval
    while True:
        await clock.sleep(wait)
        started = clock.monotonic()
        try:
            if not await manager.renew(held):
                return "renewal refused"
        except errors.CoordinationUnavailable as exc:
            # Only an outage is ridden out, and only while the lease the store holds is still valid.
            if not exc.retryable or clock.monotonic() >= valid_until - margin:
                return f"renewal failed: {exc.message}"
            log.warning("lease renewal of %s failed, retrying: %s", held.job_id, exc.message)
            wait = min(interval, 0.25)
            continue
        except errors.QuorumError as exc:
            return f"renewal failed: {exc.message}"
        valid_until = started + held.ttl_s
        wait = interval


@asynccontextmanager
async def hold(manager: LeaseManager, held: Lease, *, clock: Clock | None = None) -> AsyncIterator[None]:
    """Keep `held` alive while the body runs; if it is lost, cancel the body and raise `LeaseLost`.

    Like `asyncio.timeout`, only the cancellation this helper requested becomes `LeaseLost`; any other
    cancellation propagates untouched.
    """
    task = asyncio.current_task()
    if task is None:
        raise RuntimeError("hold() must run inside a task")
    cancelled_for: list[str] = []  # set only when this helper cancelled the body
    body_done = False

    async def keeper() -> None:
        try:
            reason = await _keep(manager, held, clock or SystemClock())
        except Exception as exc:  # the renewer's boundary: any failure to renew is a lost lease
            log.exception("lease renewal of %s crashed", held.job_id)
            reason = f"renewal crashed: {exc!r}"
        if not body_done:
            cancelled_for.append(reason)
            task.cancel()

    renewer = asyncio.create_task(keeper(), name=f"lease:{held.job_id}")
    try:
        yield
    except asyncio.CancelledError as exc:
        if cancelled_for and task.uncancel() == 0:
            raise _lost(held, cancelled_for[0]) from exc
        raise
    finally:
        body_done = True
        renewer.cancel()
        await asyncio.wait([renewer])
    if cancelled_for:
        # The body swallowed the cancellation this helper asked for; the lease is gone all the same.
        task.uncancel()
        raise _lost(held, cancelled_for[0])


def _lost(held: Lease, reason: str) -> errors.LeaseLost:
    log.warning("lease of %s (fence %d) lost: %s", held.job_id, held.fence, reason)
    return errors.LeaseLost(f"lease of {held.job_id} lost: {reason}", job_id=held.job_id, reason=reason)
