"""Posting a decided review: the publish gate first, the hidden marker looked for, then one post.

Posting is a command: the record's outbox holds the review until the post is confirmed, a retry looks
for the marker before posting again, and a blocking review of Quorum's on an older head is dismissed once
a newer decision replaces it, so the PR never shows a stale block.
"""

from __future__ import annotations

from bot import forge, publish
from bot.daemon.context import DaemonDeps, Work, log
from bot.daemon.outbox import Pending
from bot.errors import GitHubError, InputError
from guardrails import lease


class PublishRefused(Exception):
    """The publish gate said no: the lease is gone or the head moved. Nothing was posted."""

    def __init__(self, decision: lease.GateDecision) -> None:
        super().__init__(decision.reason.value if decision.reason else "refused")
        self.decision = decision


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
    posted = await _already_posted(deps, work, pending)
    if posted is None:
        posted = await _post(deps, work, pending)
    await _retire_older(deps, work, pending, posted)
    blocking = pending.draft.event is forge.ReviewEvent.REQUEST_CHANGES
    work.tracked.update(outbox="", review_id=posted, review_sha=work.pr.head_sha, review_blocking=blocking)
    await work.tracked.save()
    await _tally(deps, work, pending)
    return True


async def _already_posted(deps: DaemonDeps, work: Work, pending: Pending) -> int | None:
    """The id of a review already carrying this decision's marker (a retry after a crash), or None."""
    for review in await work.reviews(deps.reader, fresh=True):
        tag = lease.parse_marker(review.body)
        if (
            tag is not None
            and tag.job_id == work.tracked.job_id
            and tag.sha == work.pr.head_sha
            and tag.round == pending.round_index
        ):
            log.info("review of %s at %s was already posted (id %d)", tag.job_id, tag.sha[:12], review.id)
            return review.id
    return None


async def _post(deps: DaemonDeps, work: Work, pending: Pending) -> int:
    decision = await deps.gate.check_publish(work.lease, work.pr.head_sha)
    if not decision.allowed:
        raise PublishRefused(decision)
    result = await deps.writer.post_review(work.pr.repo, work.pr.number, pending.draft)
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
    message = publish.dismissal_message(work.pr.head_sha, pending.decision)
    for review in await work.reviews(deps.reader):
        if (
            review.author_is_self
            and review.id != newest
            and review.state == "CHANGES_REQUESTED"
            and review.commit_sha != work.pr.head_sha
        ):
            try:
                await deps.writer.dismiss_review(work.pr.repo, work.pr.number, review.id, message)
            except GitHubError as exc:  # a stale block left is visible and harmless to merging
                log.warning("could not dismiss review %d on %s: %s", review.id, work.pr.job_id, exc.message)


async def _tally(deps: DaemonDeps, work: Work, pending: Pending) -> None:
    try:
        await deps.writer.set_tally(
            work.pr.repo, work.pr.head_sha, pending.tally_state, pending.tally_title, pending.tally_summary
        )
    except GitHubError as exc:  # the review itself is posted; the check run is a convenience
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
