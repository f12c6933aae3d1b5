"""Posting a decided review: the publish gate first, the hidden marker looked for, then one post.

Posting is a command: the record's outbox holds the review until the post is confirmed, a retry looks
for the marker before posting again (and adopts what it finds, unless the holder that posted it withdrew
it), and a blocking review of Quorum's on an older head is dismissed once a newer decision replaces it, so
the PR never shows a stale block. Every write is confirmed against the lease once it landed and withdrawn
when the lease was lost meanwhile (`compensation`); one live Quorum review per head is what GitHub shows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot import forge
from bot.daemon.context import DaemonDeps, Work, log
from bot.daemon.publishing import compensation, review_text
from bot.daemon.publishing.outbox import Pending
from bot.domain import Decision
from bot.errors import GitHubError, InputError, PublishRefused
from guardrails import lease


async def publish_pending(deps: DaemonDeps, work: Work) -> bool:
    """Post the record's outbox if it is for the PR's head; True when something was (or had been) posted."""
    record = work.tracked.record
    if not record.outbox:
        return False
    try:
        pending = Pending.from_json(record.outbox)
    except InputError:
        log.error("dropping an unreadable outbox of %s", record.job_id)
        work.tracked.update(outbox="")
        await work.tracked.save()
        return False
    if pending.draft.commit_sha != work.pr.head_sha:
        # Decided on a head that is gone: the newer head gets its own review; never post a stale one.
        work.tracked.update(outbox="")
        await work.tracked.save()
        return False
    # Quorum's check on this head so far: none before its first review of the head.
    checked_before = record.review_sha == work.pr.head_sha
    posted = await _already_posted(deps, work, pending)
    if posted is None:
        posted = await _post(deps, work, pending)
    await _retire_older(deps, work, pending, posted)
    blocking = pending.draft.event is forge.ReviewEvent.REQUEST_CHANGES
    work.tracked.update(outbox="", review_id=posted, review_sha=work.pr.head_sha, review_blocking=blocking)
    await work.tracked.save()
    await retire_late_writes(deps, work)  # the reviews read just now, after the post
    if pending.decision is not Decision.APPROVED or checked_before:
        await _tally(deps, work, pending)
    # An approval of a head with no check of Quorum's yet leaves it so: the merger creates the check
    # next, at success or held pending with the reasons a human must approve (`held_check`), one write
    # where a pending check and its release took two. A head already checked gets its pending check at
    # once, so no earlier success of Quorum's outlives the new decision by more than this post.
    return True


async def _already_posted(deps: DaemonDeps, work: Work, pending: Pending) -> int | None:
    """The id of a live review carrying this decision's marker (a retry after a crash), adopted for this
    holder; None when there is none, or its poster withdrew it (then a new one is posted)."""
    for review in await work.reviews(deps.reader, fresh=True):
        tag = lease.parse_marker(review.body)
        if (
            tag is None
            or review.state == "DISMISSED"
            or (tag.job_id, tag.sha, tag.round)
            != (work.tracked.job_id, work.pr.head_sha, pending.round_index)
        ):
            continue
        claim = await deps.gate.settle_review(work.lease, review.id, lease.ReviewClaim.ADOPTED)
        if claim is None:
            raise PublishRefused(lease.GateRefusal.STALE_FENCE)
        if claim is lease.ReviewClaim.ADOPTED:
            log.info("review of %s at %s was already posted (id %d)", tag.job_id, tag.sha[:12], review.id)
            return review.id
    return None


async def _post(deps: DaemonDeps, work: Work, pending: Pending) -> int:
    decision = await deps.gate.check_publish(work.lease, work.pr.head_sha)
    if not decision.allowed:
        raise PublishRefused(decision.reason or "")
    result = await compensation.post_review(deps, work, pending.draft)
    # The marker in the body names the fence of the job that decided (maybe a crashed earlier holder).
    found = lease.parse_marker(pending.draft.body)
    tag = lease.marker(found.job_id, found.fence, found.sha, found.round) if found else ""
    await deps.gate.mark_published(work.lease, tag)
    deps.metrics.emit(
        "publish",
        command_doc(
            work,
            "publish",
            {"review_event": result.event.value, "round": pending.round_index,
             "published_comments": result.published_comments, "dropped_comments": result.dropped_comments,
             "downgraded": result.downgraded, "idempotency_key": tag},
        ),
    )  # fmt: skip
    return result.review_id


async def _retire_older(deps: DaemonDeps, work: Work, pending: Pending, newest: int) -> None:
    """Dismiss Quorum's blocking reviews on older heads, naming the newer decision."""
    head = work.pr.head_sha
    message = review_text.dismissal_message(head, pending.decision)
    for review in await work.reviews(deps.reader, fresh=True):  # fresh: read after this pass's post
        older_block = review.state == "CHANGES_REQUESTED" and review.commit_sha != head
        if review.author_is_self and review.id != newest and older_block:
            await _retire_tolerantly(deps, work, review, message)


async def retire_late_writes(deps: DaemonDeps, work: Work) -> None:
    """Retire any live Quorum review on the head other than the one the record names: a write of a holder
    that lost the PR and landed late. Run right after posting, and on every pass: the writer may be gone
    before it could withdraw its write, and GitHub announces every review, which brings the PR back here."""
    record, head = work.tracked.record, work.pr.head_sha
    if record.outbox or record.review_sha != head or not record.review_id:
        return
    late = [
        r for r in await work.reviews(deps.reader)
        if r.author_is_self and r.id != record.review_id and r.commit_sha == head and _live_quorum_review(r)
    ]  # fmt: skip
    if not late:
        return
    gate = await deps.gate.check_publish(work.lease, head)
    if not gate.allowed:
        raise PublishRefused(gate.reason or "")
    message = (
        "Withdrawn: posted late by a replica that had lost this pull request; "
        f"review {record.review_id} stands."
    )
    for review in late:
        if await _retire_tolerantly(deps, work, review, message):
            why = f"retired review {review.id}: a second live Quorum review on {head[:12]} (a late write)"
            await compensation.note(deps, work, compensation.RETIRE, why)


async def _retire_tolerantly(deps: DaemonDeps, work: Work, review: forge.PostedReview, message: str) -> bool:
    """Retire one review; False when GitHub refused (a stale review left is visible, harmless to merging,
    and the next pass tries again)."""
    try:
        await _retire(deps, work, review, message)
    except GitHubError as exc:
        log.warning("could not retire review %d on %s: %s", review.id, work.pr.job_id, exc.message)
        return False
    return True


def _live_quorum_review(review: forge.PostedReview) -> bool:
    return review.state != "DISMISSED" and lease.parse_marker(review.body) is not None


async def _retire(deps: DaemonDeps, work: Work, review: forge.PostedReview, message: str) -> None:
    pr = work.pr
    if review.state == "COMMENTED":
        # GitHub cannot dismiss a COMMENT review: its body is replaced, without Quorum's marker.
        body = f"~~Retired~~\n\n{message}"
        await compensation.confirmed(
            deps, work, lambda: deps.writer.edit_review(pr.repo, pr.number, review.id, body),
            _undoable(f"replaced the body of review {review.id}"),
        )  # fmt: skip
        return
    await compensation.confirmed(
        deps, work, lambda: deps.writer.dismiss_review(pr.repo, pr.number, review.id, message),
        _undoable(f"dismissed review {review.id}"),
    )  # fmt: skip


def _undoable(what: str) -> Callable[[None], Awaitable[str]]:
    async def undo(_: None) -> str:
        return f"kept: {what}, which cannot be undone"

    return undo


async def _tally(deps: DaemonDeps, work: Work, pending: Pending) -> None:
    try:
        await compensation.set_tally(
            deps, work, pending.tally_state, pending.tally_title, pending.tally_summary
        )
    except GitHubError as exc:
        # The review is posted. A tally that failed leaves the head without Quorum's check (a branch
        # requiring it stays blocked) or pending; the merger sets success itself before merging.
        log.warning(
            "could not set the %s tally on %s: %s", deps.policy.check_name, work.pr.job_id, exc.message
        )


def command_doc(work: Work, action: str, details: dict[str, object]) -> dict[str, object]:
    """A metric document of a command sent to the code host."""
    return {
        "event": {"kind": "event", "category": ["process"], "action": action},
        "quorum": {
            "repo": work.pr.repo,
            "pr": {"number": work.pr.number, "key": work.pr.job_id},
            "head_sha": work.pr.head_sha,
            action: details,
        },
    }
