"""In memory mode the PR is the record: its review state rebuilt from Quorum's own reviews on it.

Every review Quorum posts carries its hidden marker (job, fence, head, round) and, first in its body, the
decision line `review_text` writes before any text of the model's. A later run reads the newest such review
of Quorum's identity and continues from there: a head already decided is not reviewed again (so a re-run
posts nothing twice), an approved head goes on to the merge gate, and a new head is reviewed afresh.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot import forge
from bot.domain import Decision
from bot.errors import InputError
from guardrails import lease
from statemachine import records
from statemachine.lifecycle import State

# The header's decision line; the first match is Quorum's own (the model's text comes after it).
_DECISION = re.compile(
    r"^\*\*Decision:\*\* (?P<decision>approved|changes_requested|escalated) \((?P<reason>[a-z_]+)\)"
    r"(?:: (?P<streak>[0-9]+) consecutive approving rounds)?",
    re.MULTILINE,
)
# The PR record's open blockers, carried in Quorum's own review (base64: no `-->` can end it early).
# Text of the model's in a body is made inert (`review_text`), so only Quorum writes an HTML comment there.
_BLOCKERS = re.compile(r"<!-- quorum:blockers=(?P<data>[A-Za-z0-9+/=]*) -->")
# What the rounds of that head were shown (`review_coverage.Seen`), for the merge gate of a later run.
_SHOWN = re.compile(r"<!-- quorum:shown=(?P<data>[A-Za-z0-9+/=]*) -->")
_SHOWN_MAX_CHARS = 30_000  # a review body holds 65,536 characters: a larger record is left out (fails closed)
# The comment ids of commands already handled, and the head a maintainer's `/quorum merge` approved, on
# each comment Quorum posts (digits, spaces and a hex SHA only).
_SEEN = re.compile(
    r"\n?<!-- quorum:seen=(?P<ids>[0-9 ]*)(?:;merge=(?P<merge>[0-9a-f]{40}|[0-9a-f]{64}))? -->"
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


def blockers_tag(encoded: str) -> str:
    """The hidden block that carries a record's open blockers (`records.encode_blockers`) in a review."""
    return f"<!-- quorum:blockers={base64.b64encode(encoded.encode()).decode()} -->" if encoded else ""


def shown_tag(seen: str) -> str:
    """The hidden block that carries what a head's rounds were shown (the record's `seen`) in a review;
    empty when there is none or it is too large for a review body (the next run then asks a human)."""
    tag = f"<!-- quorum:shown={base64.b64encode(seen.encode()).decode()} -->" if seen else ""
    return tag if len(tag) <= _SHOWN_MAX_CHARS else ""


def _shown(body: str) -> str:
    """The record's `seen` a review carries; "" when absent or unreadable (read as nothing shown)."""
    found = _SHOWN.search(body)
    if found is None:
        return ""
    try:
        return base64.b64decode(found["data"], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def seen_tag(commands_seen: str, merge_sha: str = "") -> str:
    """The hidden line that carries a record's handled command comments, and the head a `/quorum merge`
    approved, in a comment of Quorum's."""
    if not commands_seen and not merge_sha:
        return ""
    return f"<!-- quorum:seen={commands_seen}" + (f";merge={merge_sha}" if merge_sha else "") + " -->"


def without_seen(body: str) -> str:
    """A comment's text without its handled-commands line (to compare what a reader sees)."""
    return _SEEN.sub("", body).strip()


def handled(own_comments: Sequence[str]) -> tuple[str, str]:
    """The handled command comments and the `/quorum merge` head the newest of Quorum's comments carries
    (empty when none does)."""
    for body in reversed(own_comments):
        found = _SEEN.search(body)
        if found is not None:
            return " ".join(found["ids"].split()), found["merge"] or ""
    return "", ""


def _blockers(body: str) -> str:
    """The open blockers a review carries; `InputError` when the block is unreadable (a review whose
    blockers cannot be read must stop the job, never drop them)."""
    found = _BLOCKERS.search(body)
    if found is None:
        return ""
    try:
        text = base64.b64decode(found["data"], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InputError("unreadable open blockers in a review of Quorum's") from exc
    records.decode_blockers(text)  # raises InputError on anything `encode_blockers` did not write
    return text


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
        _blockers(review.body), _shown(review.body),
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
    seen, merge_sha = handled(own_comments)
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
