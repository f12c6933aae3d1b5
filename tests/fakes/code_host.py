"""An in-memory code host for the daemon's unit tests: `forge.PullRequestReader` and `PullRequestWriter`.

Strict where GitHub is: an unknown PR or repository is a 404 `GitHubError`, a merge whose SHA is not the
head is a stale head (GitHub's 409), a write to a closed PR is refused (422). Every write is recorded in
order, so a test asserts what reached the code host, not what the daemon believes it sent. The end-to-end
suites use the wire-level fake GitHub (`tests/fakes/github_server.py`) instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from bot import forge
from bot.errors import GitHubError

HEAD = "a" * 40
BASE = "b" * 40
# A posted review's state as GitHub lists it, by the event it was posted with.
_POSTED_STATE = {
    forge.ReviewEvent.APPROVE: "APPROVED",
    forge.ReviewEvent.REQUEST_CHANGES: "CHANGES_REQUESTED",
    forge.ReviewEvent.COMMENT: "COMMENTED",
}


def pull(repo: str = "o/r", number: int = 1, **changes: Any) -> forge.PullRequest:
    """An open PR from `alice` at `HEAD` onto `main`; `changes` override any field."""
    pr = forge.PullRequest(repo, number, HEAD, "main", BASE, "alice", False, False, forge.PullState.OPEN)
    return dataclasses.replace(pr, head_repo=repo, **changes)


@dataclass
class InMemoryCodeHost:
    """The PRs, reviews, checks and permissions a test sets up; `writes` lists every write in order."""

    pulls: dict[tuple[str, int], forge.PullRequest] = field(default_factory=dict)
    reviews_of: dict[tuple[str, int], list[forge.PostedReview]] = field(default_factory=dict)
    checks: dict[str, tuple[forge.CheckResult, ...]] = field(default_factory=dict)
    required: forge.RequiredChecks = field(default_factory=forge.RequiredChecks)
    permissions: dict[str, forge.Permission] = field(default_factory=dict)
    pushes: tuple[forge.HeadPush, ...] | None = None
    files: dict[tuple[str, str], str] = field(default_factory=dict)  # (path, ref) -> text
    writes: list[tuple[str, Any]] = field(default_factory=list)
    _ids: int = 0

    def add(self, pr: forge.PullRequest) -> forge.PullRequest:
        self.pulls[(pr.repo, pr.number)] = pr
        return pr

    def writes_of(self, kind: str) -> list[Any]:
        return [value for name, value in self.writes if name == kind]

    # PullRequestReader

    async def pull(self, repo: str, number: int) -> forge.PullRequest:
        found = self.pulls.get((repo, number))
        if found is None:
            raise GitHubError(f"get pull {repo}#{number}: Not Found", status_code=404)
        return found

    async def open_pulls(self, repo: str) -> forge.OpenPulls:
        pulls = tuple(p for (r, _), p in sorted(self.pulls.items()) if r == repo)
        return forge.OpenPulls(repo, tuple(p for p in pulls if p.state is forge.PullState.OPEN))

    async def repositories(self) -> list[str]:
        return sorted({repo for repo, _ in self.pulls})

    async def reviews(self, repo: str, number: int) -> list[forge.PostedReview]:
        await self.pull(repo, number)
        return list(self.reviews_of.get((repo, number), []))

    async def changed_files(self, repo: str, number: int) -> list[forge.ChangedFile]:
        await self.pull(repo, number)
        return []

    async def commit_checks(self, repo: str, sha: str) -> tuple[forge.CheckResult, ...]:
        return self.checks.get(sha, ())

    async def required_checks(self, repo: str, branch: str) -> forge.RequiredChecks:
        return self.required

    async def head_pushes(self, repo: str, branch: str) -> tuple[forge.HeadPush, ...] | None:
        return self.pushes

    async def permission(self, repo: str, user: str) -> forge.Permission:
        return self.permissions.get(user, forge.Permission.READ)

    async def contributors(self, repo: str, *, cap: int) -> int:
        return 1

    async def file_text(self, repo: str, path: str, ref: str) -> str | None:
        return self.files.get((path, ref))

    # PullRequestWriter

    async def post_review(self, repo: str, number: int, draft: forge.ReviewDraft) -> forge.PostResult:
        await self._open(repo, number)
        self.writes.append(("post_review", draft))
        review_id = self._next_id()
        state = _POSTED_STATE[draft.event]
        posted = forge.PostedReview(review_id, "quorum-bot", state, draft.commit_sha, draft.body, True)
        self.reviews_of.setdefault((repo, number), []).append(posted)
        return forge.PostResult(review_id, draft.event, len(draft.comments), 0)

    async def dismiss_review(self, repo: str, number: int, review_id: int, message: str) -> None:
        self.writes.append(("dismiss_review", review_id))

    async def edit_review(self, repo: str, number: int, review_id: int, body: str) -> None:
        self.writes.append(("edit_review", review_id))

    async def comment(self, repo: str, number: int, body: str) -> int:
        await self.pull(repo, number)
        self.writes.append(("comment", body))
        return self._next_id()

    async def delete_comment(self, repo: str, comment_id: int) -> None:
        self.writes.append(("delete_comment", comment_id))

    async def set_tally(
        self, repo: str, sha: str, state: forge.TallyState, title: str, summary: str
    ) -> int | None:
        self.writes.append(("set_tally", state))
        return self._next_id()

    async def withdraw_tally(self, repo: str, run_id: int, title: str, summary: str) -> None:
        self.writes.append(("withdraw_tally", run_id))

    async def merge(self, repo: str, number: int, sha: str, method: str) -> forge.MergeResult:
        pr = await self._open(repo, number)
        if sha != pr.head_sha:
            return forge.MergeResult(forge.MergeOutcome.STALE_HEAD, message="Head branch was modified")
        self.writes.append(("merge", sha))
        self.pulls[(repo, number)] = dataclasses.replace(pr, state=forge.PullState.MERGED)
        return forge.MergeResult(forge.MergeOutcome.MERGED, "c" * 40)

    async def _open(self, repo: str, number: int) -> forge.PullRequest:
        pr = await self.pull(repo, number)
        if pr.state is not forge.PullState.OPEN:
            raise GitHubError(f"{repo}#{number} is {pr.state}: Unprocessable Entity", status_code=422)
        return pr

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids
