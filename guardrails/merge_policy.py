"""Merge policy: whether an approved pull request may be merged now, as a pure decision over facts.

The LLM only advises; this decides. A merge needs the lifecycle in `approved`, the consensus streak
counted on the PR's current head, the required checks green on that head, and merging enabled. Protected
paths, a large change or a large project need a human approval on top. Every reason is reported, so a
maintainer sees all that stands in the way at once, not one blocker per attempt.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot import forge
from bot.domain import FileDiff
from guardrails import globs

APPROVED_STATE = "approved"
BASE_MODIFIED_DELAYS_S: tuple[float, ...] = (4.0, 8.0)  # GitHub recomputes mergeability in seconds
_NAMED_PATHS = 10  # protected paths named in a reason before "and N more"
# Review states that set a reviewer's stance; a comment or a pending review leaves it as it was.
_DECISIVE = frozenset({"APPROVED", "CHANGES_REQUESTED", "DISMISSED"})


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
    PROTECTED_PATHS = "protected_paths"
    TOO_LARGE = "too_large"
    MANY_CONTRIBUTORS = "many_contributors"

    @property
    def needs_human(self) -> bool:
        return self in {Blocker.PROTECTED_PATHS, Blocker.TOO_LARGE, Blocker.MANY_CONTRIBUTORS}


@dataclass(frozen=True, slots=True)
class MergeReason:
    blocker: Blocker
    text: str


@dataclass(frozen=True, slots=True)
class ChangedPath:
    """One changed file; `previous` is its old path when it was renamed."""

    path: str
    previous: str | None = None


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
    if not facts.merge_enabled:
        out.append(MergeReason(Blocker.MERGING_OFF, "merging is off for this repository"))
    return out


def _human_needs(facts: MergeFacts) -> list[MergeReason]:
    out: list[MergeReason] = []
    touched = protected_touched(facts.changed_paths, facts.protected_paths)
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
        return f"required checks failed: {names}"
    names = ", ".join(report.missing)
    return f"required checks pending: {names}" if names else "required checks pending"


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


def human_approval(
    reviews: Sequence[forge.PostedReview],
    head_sha: str,
    writers: Collection[str],
    *,
    merge_command_by: Sequence[str] = (),
) -> str | None:
    """Who approved the current head as a human with write access, or None.

    An approval counts when a writer's latest approving-or-blocking review is an approval of `head_sha`
    (not Quorum's own), or when a writer commanded `/quorum merge` after the last push (the caller passes
    only those commands' authors). Logins compare ignoring case.
    """
    can_write = {w.casefold() for w in writers}
    latest: dict[str, forge.PostedReview] = {}
    for review in reviews:
        if review.commit_sha == head_sha and not review.author_is_self and review.state in _DECISIVE:
            latest[review.author.casefold()] = review  # oldest first: the last one wins
    for login, review in latest.items():
        if login in can_write and review.state == "APPROVED":
            return review.author
    return next((user for user in merge_command_by if user.casefold() in can_write), None)


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
