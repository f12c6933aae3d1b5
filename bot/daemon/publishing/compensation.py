"""Compensation: every GitHub write is confirmed against the lease once it landed, and a write made by a
holder that lost the PR in the meantime is withdrawn and the withdrawal audited.

The publish gate is checked before each write, but a holder can pause between the check and the write
landing (GC, SIGSTOP, a slow network) and GitHub checks no fence. So a write and its confirmation run as
one unit that the cancellation of a lost lease does not cut short, and a stale write is undone as far as
GitHub allows:
- a review is dismissed; a COMMENT review (GitHub dismisses only approvals and change requests) has its
  body replaced by a withdrawal note without Quorum's marker, so it counts nowhere. A review the current
  holder already adopted (found by its marker) is kept: the gate settles each review once, either way;
- a comment is deleted;
- a check run keeps its conclusion (a head's tally follows from the one saved decision, so the current
  holder's run says the same) and its title says it was withdrawn; a commit status cannot be changed;
- a dismissal cannot be undone (the current holder retires the same review anyway).
Each case is appended to the PR's audit trail, then the job stops with `LeaseLost`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bot import forge
from bot.daemon.context import DaemonDeps, log
from bot.daemon.tracked import Tracked
from bot.errors import GitHubError, LeaseLost
from guardrails import lease
from statemachine import records

T = TypeVar("T")
WITHDRAW = "withdraw"  # the audit trigger of a withdrawn write
STALE_WRITE = "stale_write"  # the audit trigger of a stale write that could not, or need not, be undone
RETIRE = "retire"  # the audit trigger of a duplicate review the current holder took out of the count
_DISMISSABLE = {forge.ReviewEvent.APPROVE, forge.ReviewEvent.REQUEST_CHANGES}
# Writes still confirming while their job was cancelled (kept referenced until they end).
_finishing: set[asyncio.Task[Any]] = set()


class Holding(Protocol):
    """What a write is made for: the PR, its record, and the lease it is written under (a `Work`)."""

    @property
    def pr(self) -> forge.PullRequest: ...

    @property
    def tracked(self) -> Tracked: ...

    @property
    def lease(self) -> lease.Lease: ...


@dataclass(frozen=True, slots=True)
class Holder:
    """A `Holding` for writes made before a job's `Work` exists (the policy notice)."""

    pr: forge.PullRequest
    tracked: Tracked
    lease: lease.Lease


async def uninterrupted(unit: Awaitable[T]) -> T:
    """Await `unit` to its end even if this task is cancelled meanwhile, then let the cancellation through:
    a write that may have landed must be confirmed (and maybe withdrawn), never abandoned half way."""
    task = asyncio.ensure_future(unit)
    _finishing.add(task)
    task.add_done_callback(_finishing.discard)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if not task.cancelled() and task.exception() is not None:
            log.warning("a write finished after its job was cancelled: %r", task.exception())
        raise


def withdrawal_message(reason: lease.GateRefusal | None) -> str:
    """What a withdrawn write says on GitHub (a dismissal message, a replaced body, a check run summary)."""
    why = reason.value.replace("_", " ") if reason else "lease lost"
    return (
        "Withdrawn by Quorum: this was posted by a replica that had lost this pull request "
        f"({why}) before the post landed. The review posted by the current holder stands."
    )


async def post_review(deps: DaemonDeps, work: Holding, draft: forge.ReviewDraft) -> forge.PostResult:
    """Post `draft`, then confirm the lease; a review that landed after the lease was lost is withdrawn."""

    async def unit() -> forge.PostResult:
        result = await deps.writer.post_review(work.pr.repo, work.pr.number, draft)
        decision = await deps.gate.confirm_write(work.lease)
        if decision.allowed:
            return result
        claim = await deps.gate.settle_review(work.lease, result.review_id, lease.ReviewClaim.WITHDRAWN)
        if claim is lease.ReviewClaim.ADOPTED:
            await note(deps, work, STALE_WRITE, f"review {result.review_id} landed after the lease was "
                       "lost; kept: the current holder had adopted it")  # fmt: skip
        else:
            await withdraw_review(deps, work, result.review_id, result.event, decision.reason)
        raise _lost(work, decision)

    return await uninterrupted(unit())


async def withdraw_review(
    deps: DaemonDeps,
    work: Holding,
    review_id: int,
    event: forge.ReviewEvent,
    reason: lease.GateRefusal | None,
) -> None:
    """Take a review out of the count: dismiss it, or (COMMENT) replace its body; then audit it. A review
    the current holder retired first (as a duplicate on its head) is only audited."""
    pr, message = work.pr, withdrawal_message(reason)
    why = reason.value if reason else "lost"
    try:
        if event in _DISMISSABLE:
            await deps.writer.dismiss_review(pr.repo, pr.number, review_id, message)
            how = "dismissed"
        else:
            await deps.writer.edit_review(pr.repo, pr.number, review_id, f"~~Withdrawn~~\n\n{message}")
            how = "body replaced (a COMMENT review cannot be dismissed)"
    except GitHubError as exc:
        if exc.status_code != 422 or await _still_live(deps, work, review_id):
            raise
        await note(deps, work, STALE_WRITE, f"review {review_id} landed after the lease was lost ({why}); "
                   "the current holder had already retired it")  # fmt: skip
        return
    await note(deps, work, WITHDRAW, f"withdrew review {review_id} ({event.value}, {how}): "
               f"it landed after the lease was lost ({why})")  # fmt: skip


async def _still_live(deps: DaemonDeps, work: Holding, review_id: int) -> bool:
    for review in await deps.reader.reviews(work.pr.repo, work.pr.number):
        if review.id == review_id:
            return review.state != "DISMISSED" and lease.parse_marker(review.body) is not None
    return False


async def confirmed(
    deps: DaemonDeps, work: Holding, write: Callable[[], Awaitable[T]], undo: Callable[[T], Awaitable[str]]
) -> T:
    """Run `write`, confirm the lease, and when it was lost run `undo` (it says what it did for the audit)."""

    async def unit() -> T:
        written = await write()
        decision = await deps.gate.confirm_write(work.lease)
        if decision.allowed:
            return written
        what = await undo(written)
        trigger = STALE_WRITE if what.startswith("kept") else WITHDRAW
        reason = decision.reason.value if decision.reason else "lost"
        await note(deps, work, trigger, f"{what}: it landed after the lease was lost ({reason})")
        raise _lost(work, decision)

    return await uninterrupted(unit())


async def comment(deps: DaemonDeps, work: Holding, body: str) -> int:
    """Post a PR comment; one that landed after the lease was lost is deleted."""
    pr = work.pr

    async def undo(comment_id: int) -> str:
        if not comment_id:
            return "kept: no comment was posted"
        await deps.writer.delete_comment(pr.repo, comment_id)
        return f"deleted comment {comment_id}"

    return await confirmed(deps, work, lambda: deps.writer.comment(pr.repo, pr.number, body), undo)


async def set_tally(
    deps: DaemonDeps, work: Holding, state: forge.TallyState, title: str, summary: str
) -> None:
    """Set Quorum's check on the head; one that landed after the lease was lost is marked withdrawn (its
    conclusion kept); a commit status cannot be changed and is only audited."""
    pr = work.pr

    async def undo(run_id: int | None) -> str:
        if run_id is None:
            return "kept: a commit status, which cannot be changed"
        await deps.writer.withdraw_tally(pr.repo, run_id, f"Withdrawn: {title}", withdrawal_message(None))
        return f"marked check run {run_id} withdrawn"

    await confirmed(
        deps, work, lambda: deps.writer.set_tally(pr.repo, pr.head_sha, state, title, summary), undo
    )


async def note(deps: DaemonDeps, work: Holding, trigger: str, reason: str) -> None:
    """Append a fact to the PR's audit trail (no fence: the holder writing it may have lost the PR)."""
    state = work.tracked.record.state
    entry = records.AuditEntry(deps.clock.now(), "quorum", state, state, trigger, reason[:500])
    log.warning("%s: %s", work.pr.job_id, reason)
    await deps.store.append_note(work.pr.job_id, entry)


def _lost(work: Holding, decision: lease.GateDecision) -> LeaseLost:
    reason = decision.reason.value if decision.reason else "lost"
    return LeaseLost(
        f"a write to {work.pr.job_id} landed after the lease was lost ({reason})",
        job_id=work.pr.job_id,
        reason=reason,
    )
