"""In memory mode the PR is the record: its review state rebuilt from Quorum's own reviews on it.

Every review Quorum posts carries its hidden marker (job, fence, head, round) and, first in its body, the
decision line `review_text` writes before any text of the model's. A later run reads the newest such review
of Quorum's identity and continues from there: a head already decided is not reviewed again (so a re-run
posts nothing twice), an approved head goes on to the merge gate, and a new head is reviewed afresh.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot import forge
from bot.action import hidden
from bot.domain import Decision
from guardrails import lease
from statemachine import records
from statemachine.lifecycle import State

# The header's decision line; the first match is Quorum's own (the model's text comes after it).
_DECISION = re.compile(
    r"^\*\*Decision:\*\* (?P<decision>approved|changes_requested|escalated) \((?P<reason>[a-z_]+)\)"
    r"(?:: (?P<streak>[0-9]+) consecutive approving rounds)?",
    re.MULTILINE,
)
_ENDED = {forge.PullState.MERGED: State.MERGED, forge.PullState.CLOSED: State.CLOSED}
_STATES = {
    Decision.APPROVED: State.APPROVED,
    Decision.CHANGES_REQUESTED: State.CHANGES_REQUESTED,
    Decision.ESCALATED: State.ESCALATED,
}


@dataclass(frozen=True, slots=True)
class PostedDecision:
    """One decision of Quorum's as its review on the PR shows it."""

    review_id: int
    sha: str
    rounds: int
    decision: Decision
    approvals: int
    blocking: bool
    open_blockers: str = ""  # as `records.encode_blockers` wrote them
    seen: str = ""  # the record's `seen` (JSON of `review_coverage.Seen`), or "" when absent or unreadable


def read(review: forge.PostedReview) -> PostedDecision | None:
    """The decision a review of Quorum's identity carries, or None (another author, no marker)."""
    if not review.author_is_self:
        return None
    tag = lease.parse_marker(review.body)
    found = _DECISION.search(review.body)
    if tag is None or found is None:
        return None
    decision = Decision(found["decision"])
    approvals = int(found["streak"]) if decision is Decision.APPROVED and found["streak"] else 0
    return PostedDecision(
        review.id, tag.sha, tag.round, decision, approvals, review.state == "CHANGES_REQUESTED",
        hidden.blockers(review.body), hidden.shown(review.body),
    )  # fmt: skip


def latest(reviews: Sequence[forge.PostedReview]) -> PostedDecision | None:
    """The newest decision Quorum posted on the PR (review ids only grow)."""
    found = [d for d in (read(r) for r in reviews) if d is not None]
    return max(found, key=lambda d: d.review_id) if found else None


def rebuild(
    pr: forge.PullRequest, reviews: Sequence[forge.PostedReview], own_comments: Sequence[str] = ()
) -> records.PullRequestRecord:
    """The record a job would have stored after Quorum's newest posted decision on this PR, with the
    commands its comments say were handled (a re-run of a command's event does nothing again)."""
    seen, merge_sha = hidden.handled(own_comments)
    record = records.PullRequestRecord(
        pr.repo, pr.number, State.OPEN.value, pr.head_sha, commands_seen=seen, human_approved_sha=merge_sha
    )
    last = latest(reviews)
    if last is None:
        return record
    # A PR already merged or closed on GitHub is in that state, whoever did it: a re-run changes nothing.
    state = _ENDED.get(pr.state, _STATES[last.decision])
    return records.PullRequestRecord(
        pr.repo,
        pr.number,
        state.value,
        pr.head_sha,
        reviewed_sha=last.sha,
        decision=last.decision.value,
        approvals=last.approvals,
        review_id=last.review_id,
        review_sha=last.sha,
        review_blocking=last.blocking,
        open_blockers=last.open_blockers,
        seen=last.seen,
        commands_seen=seen,
        human_approved_sha=merge_sha,
    )
