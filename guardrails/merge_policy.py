"""Merge policy: whether an approved pull request may be merged now, as a pure decision over facts.

The LLM only advises; this decides. A merge needs the lifecycle in `approved`, the consensus streak
counted on the PR's current head, the required checks green on that head (`checks_gate`), GitHub's
`mergeable_state` allowing it, no writer's "changes requested" standing, and merging enabled. A path the
approving rounds never saw (`review_coverage`), protected paths (either name of a rename, a deletion, a
any changed symlink), a large change or a large project need a human approval on top. Every reason is
reported, so a maintainer sees all that stands in the way at once, not one blocker per attempt.

What a human approval is. A human approves one exact head, never "whatever the head is later":
- An approving review counts for its `commit_id` only, and only while it is its author's latest
  approving-or-blocking review. A writer whose latest such review (on any commit) is "changes requested"
  blocks the merge until they approve or the review is dismissed; another person's approval does not
  lift it.
- `/quorum merge` approves the head that existed when the comment was written. The rule
  (`command_approval`) compares two timestamps of GitHub's own clock: the comment's `created_at` and the
  time the branch last moved, from the repository activity log (`GET /repos/{o}/{r}/activity?ref=…`:
  each push, force push, branch creation or merge into the branch with `before`, `after` and a server
  `timestamp`). The command approves the current head only if the newest update of the head branch
  (1) made it exactly that head and (2) happened more than `ORDER_MARGIN_S` before the comment. A commit's
  own author or committer date is never used: the PR's author writes it. Webhook arrival order, queue
  delays and the daemon's clock play no part, so late or reordered deliveries change nothing: a comment
  processed after a push sees the push's later timestamp and approves nothing. It fails closed: no
  comment time, an unreadable activity log (403/404, a deleted fork, an update older than the log keeps),
  a newest update naming another commit than the PR's head, or timestamps too close to order (both are
  whole seconds) all mean "not approved", and Quorum says why on the PR. A head approved this way stays
  approved only while it is the head; any later push voids it, and Quorum says so. Commands are handled
  once per comment id, so a replayed or re-sent comment never approves again (and an edited comment is
  not a command at all).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot import forge
from bot.domain import FileDiff
from guardrails import checks_gate, globs, review_coverage

APPROVED_STATE = "approved"
BASE_MODIFIED_DELAYS_S: tuple[float, ...] = (4.0, 8.0)  # GitHub recomputes mergeability in seconds
_NAMED_PATHS = 10  # protected paths named in a reason before "and N more"
# Review states that set a reviewer's stance; a comment or a pending review leaves it as it was.
_DECISIVE = frozenset({"APPROVED", "CHANGES_REQUESTED", "DISMISSED"})
# How much later than the head's push a `/quorum merge` must be written to be ordered after it: GitHub's
# timestamps are whole seconds and come from different services.
ORDER_MARGIN_S = 1.0


class MergeAction(StrEnum):
    MERGE = "merge"
    WAIT = "wait"  # required checks still pending: ask again when they settle
    NEEDS_HUMAN = "needs_human"  # all else holds, but a human with write access must approve
    REFUSE = "refuse"  # something forbids merging this head


class Blocker(StrEnum):
    """What stands in the way of a merge; the `needs_human` ones are lifted by a human approval."""

    NOT_APPROVED = "not_approved"
    HEAD_MOVED = "head_moved"
    TOO_FEW_APPROVALS = "too_few_approvals"
    CHECKS_FAILED = "checks_failed"
    CHECKS_ON_OTHER_SHA = "checks_on_other_sha"
    MERGING_OFF = "merging_off"
    CHECKS_PENDING = "checks_pending"
    CHANGES_REQUESTED = "changes_requested"  # a writer's latest review asks for changes
    NOT_MERGEABLE = "not_mergeable"  # GitHub's mergeable_state refuses (conflicts, behind, blocked, draft)
    MERGEABILITY_PENDING = "mergeability_pending"  # GitHub has not computed it yet
    PROTECTED_PATHS = "protected_paths"
    TOO_LARGE = "too_large"
    MANY_CONTRIBUTORS = "many_contributors"
    TRIPWIRE = "tripwire"  # the PR addresses the reviewer or hides text (guardrails/text/tripwire.py)
    UNREVIEWED = "unreviewed"

    @property
    def needs_human(self) -> bool:
        return self in {
            Blocker.PROTECTED_PATHS, Blocker.TOO_LARGE, Blocker.MANY_CONTRIBUTORS, Blocker.TRIPWIRE,
            Blocker.UNREVIEWED,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class MergeReason:
    blocker: Blocker
    text: str


@dataclass(frozen=True, slots=True)
class ChangedPath:
    """One changed file; `previous` is its old path when it was renamed or copied."""

    path: str
    previous: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.path,) if self.previous in (None, self.path) else (self.path, self.previous)


@dataclass(frozen=True, slots=True)
class MergeFacts:
    """Everything the decision needs, gathered right before it (re-fetched, never cached)."""

    state: str  # the lifecycle state
    approved_sha: str  # the head the approving rounds reviewed
    head_sha: str  # the PR's head now
    approvals: int  # consecutive approving rounds counted on `approved_sha`
    min_approvals: int
    checks: forge.ChecksReport
    checks_sha: str  # the commit `checks` was read on
    merge_enabled: bool
    changed_paths: tuple[ChangedPath, ...]
    changed_lines: int  # added + removed
    protected_paths: tuple[str, ...]
    max_changed_lines: int
    contributors: int
    contributors_threshold: int
    human_approved: bool  # see `human_approval`
    rejected_by: tuple[str, ...]  # writers whose latest review requests changes (`human_rejections`)
    mergeable_state: str  # GitHub's, read with the head
    tripwire: bool = False  # the approving review of this head tripped the tripwire
    own_check_pending: bool = False  # Quorum's check on the head is not yet released to success
    # What the approving rounds on the head were shown; None (unknown) counts as nothing seen.
    seen: review_coverage.Seen | None = None


@dataclass(frozen=True, slots=True)
class MergeVerdict:
    """`reasons` is everything that stops the merge now (empty only for MERGE); `needs_human_because`
    says what requires a human approval, whether or not one was given."""

    action: MergeAction
    reasons: tuple[MergeReason, ...]
    needs_human_because: tuple[str, ...]

    @property
    def blockers(self) -> tuple[Blocker, ...]:
        return tuple(r.blocker for r in self.reasons)


def decide(facts: MergeFacts) -> MergeVerdict:
    """Merge, wait, ask a human, or refuse; with every reason, not only the first."""
    refusals = _refusals(facts)
    human = _human_needs(facts)
    pending = facts.checks.state is forge.ChecksState.PENDING and facts.checks_sha == facts.head_sha
    waiting = [MergeReason(Blocker.CHECKS_PENDING, _checks_text(facts.checks))] if pending else []
    allowed, why = checks_gate.mergeability(
        facts.mergeable_state, facts.checks, own_check_pending=facts.own_check_pending
    )
    if allowed is checks_gate.Mergeability.REFUSE:
        refusals.append(MergeReason(Blocker.NOT_MERGEABLE, why))
    elif allowed is checks_gate.Mergeability.WAIT and not pending:
        waiting.append(MergeReason(Blocker.MERGEABILITY_PENDING, why))
    outstanding = [] if facts.human_approved else human
    reasons = (*refusals, *waiting, *outstanding)
    if refusals:
        action = MergeAction.REFUSE
    elif waiting:
        action = MergeAction.WAIT
    elif outstanding:
        action = MergeAction.NEEDS_HUMAN
    else:
        action = MergeAction.MERGE
    return MergeVerdict(action, reasons, tuple(r.text for r in human))


def _refusals(facts: MergeFacts) -> list[MergeReason]:
    out: list[MergeReason] = []
    if facts.state != APPROVED_STATE:
        out.append(MergeReason(Blocker.NOT_APPROVED, f"the pull request is {facts.state}, not approved"))
    if not facts.approved_sha or facts.approved_sha != facts.head_sha:
        out.append(
            MergeReason(
                Blocker.HEAD_MOVED,
                f"the head is {facts.head_sha[:12]}, but the approved commit is "
                f"{facts.approved_sha[:12] or 'none'}",
            )
        )
    # A minimum below one would let zero approvals pass: treat it as a broken setting, not as "none needed".
    needed = max(facts.min_approvals, 1)
    if facts.approvals < needed:
        out.append(
            MergeReason(
                Blocker.TOO_FEW_APPROVALS,
                f"{facts.approvals} approving round(s) on this head, {needed} needed",
            )
        )
    if facts.checks_sha != facts.head_sha:
        out.append(MergeReason(Blocker.CHECKS_ON_OTHER_SHA, "the checks were read on another commit"))
    elif facts.checks.state is forge.ChecksState.FAILED:
        out.append(MergeReason(Blocker.CHECKS_FAILED, _checks_text(facts.checks)))
    if facts.rejected_by:
        names = ", ".join(f"@{login}" for login in facts.rejected_by)
        out.append(
            MergeReason(
                Blocker.CHANGES_REQUESTED,
                f"changes requested by {names} (until they approve or the review is dismissed)",
            )
        )
    if not facts.merge_enabled:
        out.append(MergeReason(Blocker.MERGING_OFF, "merging is off for this repository"))
    return out


def _human_needs(facts: MergeFacts) -> list[MergeReason]:
    out: list[MergeReason] = []
    if facts.tripwire:
        out.append(
            MergeReason(
                Blocker.TRIPWIRE,
                "text in the pull request is addressed to the reviewer or hidden (see the review)",
            )
        )
    names = [name for changed in facts.changed_paths for name in changed.names]
    unseen = review_coverage.unreviewed(names, facts.seen, facts.head_sha)
    if unseen:
        out.append(MergeReason(Blocker.UNREVIEWED, review_coverage.unreviewed_text(unseen, facts.seen)))
    links = review_coverage.changed_links(facts.seen, names)
    touched = (*protected_touched(facts.changed_paths, facts.protected_paths), *links)
    if touched:
        named = ", ".join(f"`{p}`" for p in touched[:_NAMED_PATHS])
        more = f" and {len(touched) - _NAMED_PATHS} more" if len(touched) > _NAMED_PATHS else ""
        out.append(MergeReason(Blocker.PROTECTED_PATHS, f"it changes protected paths: {named}{more}"))
    if facts.changed_lines > facts.max_changed_lines:
        out.append(
            MergeReason(
                Blocker.TOO_LARGE,
                f"it changes {facts.changed_lines} lines, more than {facts.max_changed_lines}",
            )
        )
    if facts.contributors > facts.contributors_threshold:
        out.append(
            MergeReason(
                Blocker.MANY_CONTRIBUTORS,
                f"the repository has more than {facts.contributors_threshold} contributors",
            )
        )
    return out


def _checks_text(report: forge.ChecksReport) -> str:
    if report.state is forge.ChecksState.FAILED:
        names = ", ".join(report.failed) or "unnamed"
        return f"checks failed: {names}"
    names = ", ".join(report.missing)
    return f"checks pending: {names}" if names else "checks pending"


def protected_touched(paths: Sequence[ChangedPath], patterns: Sequence[str]) -> tuple[str, ...]:
    """The changed paths (old or new path of a rename) a protected glob matches, in order, no repeats."""
    out: list[str] = []
    for changed in paths:
        for path in (changed.previous, changed.path):
            if path is not None and path not in out and globs.matches_any(path, patterns):
                out.append(path)
    return tuple(out)


def changed_paths(files: Sequence[FileDiff]) -> tuple[ChangedPath, ...]:
    """The paths of parsed diffs, keeping the old path of a rename or copy."""
    out: list[ChangedPath] = []
    for diff in files:
        previous = diff.old_path if diff.old_path not in (None, diff.path) else None
        out.append(ChangedPath(diff.path, previous))
    return tuple(out)


def _stances(reviews: Sequence[forge.PostedReview]) -> dict[str, forge.PostedReview]:
    """Each person's latest approving-or-blocking review (any commit; not Quorum's), by casefolded login."""
    latest: dict[str, forge.PostedReview] = {}
    for review in reviews:
        if not review.author_is_self and review.state in _DECISIVE:
            latest[review.author.casefold()] = review  # oldest first: the last one wins
    return latest


def human_approval(
    reviews: Sequence[forge.PostedReview],
    head_sha: str,
    writers: Collection[str],
    *,
    merge_command_by: Sequence[str] = (),
) -> str | None:
    """Who approved the current head as a human with write access, or None.

    An approval counts when a writer's latest approving-or-blocking review is an approval of `head_sha`
    (not Quorum's own), or when a writer's `/quorum merge` passed `command_approval` for this head (the
    caller passes only those commands' authors). Logins compare ignoring case.
    """
    can_write = {w.casefold() for w in writers}
    for login, review in _stances(reviews).items():
        if login in can_write and review.state == "APPROVED" and review.commit_sha == head_sha:
            return review.author
    return next((user for user in merge_command_by if user.casefold() in can_write), None)


def human_rejections(reviews: Sequence[forge.PostedReview], writers: Collection[str]) -> tuple[str, ...]:
    """The writers whose latest approving-or-blocking review, on any commit, requests changes."""
    can_write = {w.casefold() for w in writers}
    stances = _stances(reviews).items()
    return tuple(
        sorted(r.author for login, r in stances if login in can_write and r.state == "CHANGES_REQUESTED")
    )


def command_approval(
    comment_at: float, head_sha: str, pushes: Sequence[forge.HeadPush] | None, *, by: str, author: str
) -> str:
    """Whether `by`'s `/quorum merge` written at `comment_at` approves `head_sha`: "" when it does, else why.

    `pushes` are the head branch's latest updates, newest first, as GitHub's activity log has them (None
    when it could not be read). See the module's docstring for the rule and why it fails closed. As on
    GitHub, an approval must come from someone else than the PR's author and the head's last pusher:
    otherwise a writer would approve their own change to a protected path.
    """
    if comment_at <= 0:
        return "the comment's time is unknown"
    if by.casefold() == author.casefold():
        return f"@{by} opened this pull request: a human approval must come from someone else"
    if not pushes:
        return "GitHub did not say when the head branch was last pushed, so the comment cannot follow it"
    newest = pushes[0]
    if newest.sha != head_sha:
        return f"the head branch's latest update is not the head {head_sha[:12]} (a push is in progress)"
    if not newest.by:
        return "GitHub did not say who pushed the head, so the approval cannot be from someone else"
    if by.casefold() == newest.by.casefold():
        return f"@{by} pushed the head {head_sha[:12]}: a human approval must come from someone else"
    if comment_at - newest.at <= ORDER_MARGIN_S:
        return (
            f"`{head_sha[:12]}` was pushed at {_utc(newest.at)}, not before the comment "
            f"({_utc(comment_at)}): approve the new head with a new comment or review"
        )
    return ""


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


class MergeNext(StrEnum):
    DONE = "done"
    RETRY = "retry"
    BACK_TO_REVIEW = "back_to_review"
    ESCALATE = "escalate"


@dataclass(frozen=True, slots=True)
class RetryStep:
    next: MergeNext
    delay_s: float = 0.0
    why: str = ""


def retry_plan(outcome: forge.MergeOutcome, attempt: int) -> RetryStep:
    """What to do after merge attempt number `attempt` (1 for the first) ended with `outcome`.

    405 "Base branch was modified" is often transient: retry after 4 s, then 8 s, then escalate. 409 means
    the head moved since the approval: review again. Anything else is a human's to look at.
    """
    if outcome is forge.MergeOutcome.MERGED:
        return RetryStep(MergeNext.DONE, why="merged")
    if outcome is forge.MergeOutcome.STALE_HEAD:
        return RetryStep(MergeNext.BACK_TO_REVIEW, why="the head moved since the approved commit")
    if outcome is forge.MergeOutcome.BASE_MODIFIED and 1 <= attempt <= len(BASE_MODIFIED_DELAYS_S):
        return RetryStep(MergeNext.RETRY, BASE_MODIFIED_DELAYS_S[attempt - 1], "the base branch was modified")
    if outcome is forge.MergeOutcome.BASE_MODIFIED:
        return RetryStep(MergeNext.ESCALATE, why="the base branch kept changing during the merge")
    return RetryStep(MergeNext.ESCALATE, why="the code host refused the merge")
