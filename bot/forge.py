"""The code host as the daemon sees it: pull requests, reviews, checks, merges, and the ports to them.

Everything here is plain data; the GitHub adapter turns API objects into these types at the edge, so no
PyGithub object or payload dict travels further. The analysis side receives a `PullRequestReader` only;
writes go through a `PullRequestWriter`, each write a command (audited, never retried blindly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bot.domain import Finding


class PullState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    MERGED = "merged"


@dataclass(frozen=True, slots=True)
class PullRequest:
    """A pull request as the API reports it now."""

    repo: str  # owner/name
    number: int
    head_sha: str
    base_ref: str  # the branch it merges into
    base_sha: str
    author: str
    author_is_bot: bool
    draft: bool
    state: PullState
    title: str = ""
    body: str = ""
    labels: tuple[str, ...] = ()
    html_url: str = ""
    default_branch: str = "main"
    head_ref: str = ""  # the head branch's name
    head_repo: str = ""  # owner/name of the head branch's repository; "" when that fork was deleted
    mergeable_state: str = ""  # GitHub's `mergeable_state` (single-PR reads only; "" when not given)

    @property
    def job_id(self) -> str:
        return f"{self.repo}#{self.number}"


class ReviewEvent(StrEnum):
    """The event of a posted review."""

    APPROVE = "APPROVE"
    REQUEST_CHANGES = "REQUEST_CHANGES"
    COMMENT = "COMMENT"


@dataclass(frozen=True, slots=True)
class PostedReview:
    """A review already on the PR (any author)."""

    id: int
    author: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_sha: str
    body: str
    author_is_self: bool = False  # posted by the identity Quorum authenticates as


@dataclass(frozen=True, slots=True)
class ReviewDraft:
    """A review to post: the body (with its hidden marker), the event, and inline comments on diff lines."""

    commit_sha: str
    event: ReviewEvent
    body: str
    comments: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class PostResult:
    """What GitHub accepted: the review id, the event it was posted with (after any downgrade), how many
    inline comments were published and how many were moved into the body instead."""

    review_id: int
    event: ReviewEvent
    published_comments: int
    dropped_comments: int
    downgraded: bool = False


@dataclass(frozen=True, slots=True)
class ChangedFile:
    """One file of a PR as the code host lists it: `status` in GitHub's words (added, removed, modified,
    renamed, copied, changed, unchanged) and the old path of a rename or copy."""

    path: str
    lines: int  # added + removed
    status: str = "modified"
    previous: str | None = None


class ChecksState(StrEnum):
    """The combined state of the required checks on one commit."""

    GREEN = "green"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ChecksReport:
    state: ChecksState
    missing: tuple[str, ...] = ()  # required checks not reported yet
    failed: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check on a commit: the latest check run of a name or the newest status of a context."""

    name: str
    state: ChecksState
    own: bool = False  # Quorum's own check run or status (never waited on, never required)


@dataclass(frozen=True, slots=True)
class RequiredChecks:
    """The checks a branch requires: its protection's and its rulesets' names.

    `complete` is False when the token may not read the branch protection (403, or 404 "Not Found"
    for a user without admin rights): its required checks are then unknown, not absent.
    """

    names: tuple[str, ...] = ()
    complete: bool = True


@dataclass(frozen=True, slots=True)
class HeadPush:
    """One update of a branch, as GitHub recorded it: the branch became `sha` at `at` (epoch seconds, the
    code host's clock, never a commit's own dates)."""

    sha: str
    at: float
    by: str = ""  # who pushed it (the activity's actor); "" when GitHub did not say


class TallyState(StrEnum):
    """The state Quorum's own check run (or commit status) shows."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    NEUTRAL = "neutral"


class MergeOutcome(StrEnum):
    MERGED = "merged"
    STALE_HEAD = "stale_head"  # 409: the head moved since the SHA we approved
    BASE_MODIFIED = "base_modified"  # 405 "Base branch was modified": retry briefly
    REFUSED = "refused"  # anything else: escalate


@dataclass(frozen=True, slots=True)
class MergeResult:
    outcome: MergeOutcome
    sha: str = ""  # the merge commit when merged
    message: str = ""


class Permission(StrEnum):
    """A user's permission on a repository, highest first."""

    ADMIN = "admin"
    MAINTAIN = "maintain"
    WRITE = "write"
    TRIAGE = "triage"
    READ = "read"
    NONE = "none"

    @property
    def can_write(self) -> bool:
        return self in {Permission.ADMIN, Permission.MAINTAIN, Permission.WRITE}


@dataclass(frozen=True, slots=True)
class OpenPulls:
    """One listing of a repository's open PRs; `changed` is False when a conditional request said 304
    (then `pulls` is the previous listing)."""

    repo: str
    pulls: tuple[PullRequest, ...]
    changed: bool = True


class PullRequestReader(Protocol):
    """Reads from the code host. Safe to retry."""

    async def pull(self, repo: str, number: int) -> PullRequest:
        """The PR now; raises `GitHubError` (not retryable) when it does not exist."""
        ...

    async def open_pulls(self, repo: str) -> OpenPulls:
        """Open PRs of `repo`, with a conditional request (ETag) so an unchanged list costs no quota."""
        ...

    async def repositories(self) -> list[str]:
        """Repositories to watch: the App's installations' repositories, or the configured list."""
        ...

    async def reviews(self, repo: str, number: int) -> list[PostedReview]:
        """Every review on the PR, oldest first."""
        ...

    async def changed_files(self, repo: str, number: int) -> list[ChangedFile]:
        """Every changed file as the code host lists it, with the old path of a rename or copy."""
        ...

    async def commit_checks(self, repo: str, sha: str) -> tuple[CheckResult, ...]:
        """Every check on `sha`: the latest check run per name and the newest status per context."""
        ...

    async def required_checks(self, repo: str, branch: str) -> RequiredChecks:
        """The checks `branch` requires by its protection and its rulesets (as far as the token may read)."""
        ...

    async def head_pushes(self, repo: str, branch: str) -> tuple[HeadPush, ...] | None:
        """The latest updates of `branch` in `repo`, newest first; None when GitHub does not say."""
        ...

    async def permission(self, repo: str, user: str) -> Permission:
        """`user`'s permission on `repo`."""
        ...

    async def contributors(self, repo: str, *, cap: int) -> int:
        """How many contributors `repo` has, counted up to `cap + 1` (enough to compare with a threshold)."""
        ...

    async def file_text(self, repo: str, path: str, ref: str) -> str | None:
        """A file's text at `ref`, or None when absent."""
        ...


class PullRequestWriter(Protocol):
    """Writes to the code host. Commands: never retried blindly by the adapter."""

    async def post_review(self, repo: str, number: int, draft: ReviewDraft) -> PostResult:
        """Post one review; inline comments GitHub refuses (422) are moved into the body, APPROVE or
        REQUEST_CHANGES on one's own PR is downgraded to COMMENT."""
        ...

    async def dismiss_review(self, repo: str, number: int, review_id: int, message: str) -> None:
        """Dismiss a review (used to retire Quorum's own blocking review on an older head)."""
        ...

    async def edit_review(self, repo: str, number: int, review_id: int, body: str) -> None:
        """Replace a review's body (how a COMMENT review, which GitHub cannot dismiss, is withdrawn)."""
        ...

    async def comment(self, repo: str, number: int, body: str) -> int:
        """Post a plain PR comment (command replies, policy errors); returns its id (0: nothing was posted,
        e.g. the same comment was already there)."""
        ...

    async def delete_comment(self, repo: str, comment_id: int) -> None:
        """Delete one of Quorum's own PR comments."""
        ...

    async def set_tally(self, repo: str, sha: str, state: TallyState, title: str, summary: str) -> int | None:
        """Show the round tally on `sha`: a check run (App; returns its id) or a commit status (token;
        None: a status can be neither edited nor deleted)."""
        ...

    async def withdraw_tally(self, repo: str, run_id: int, title: str, summary: str) -> None:
        """Mark one of Quorum's check runs as withdrawn: new title and summary, conclusion unchanged."""
        ...

    async def merge(self, repo: str, number: int, sha: str, method: str) -> MergeResult:
        """Merge the PR only if its head is still `sha`."""
        ...


@dataclass(frozen=True, slots=True)
class Identity:
    """Who Quorum is on the code host (to skip its own PRs and recognise its reviews)."""

    login: str
    is_app: bool
    scopes: tuple[str, ...] = field(default_factory=tuple)
