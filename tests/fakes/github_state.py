"""The fake GitHub's records: repositories (real bare git repositories), pull requests, reviews, comments,
check runs and statuses. One re-entrant lock guards all of it; the HTTP side and the tests share it.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes import github_git


def now_iso(at: float | None = None) -> str:
    """A timestamp the way GitHub writes them (UTC, seconds, `Z`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if at is None else at))


class ApiError(Exception):
    """A GitHub error answer: status, message and optional `errors` list."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def unprocessable(*errors: Any) -> ApiError:
    return ApiError(422, "Unprocessable Entity", list(errors))


@dataclass
class Repo:
    full_name: str
    id: int
    git_dir: Path
    default_branch: str
    private: bool = False
    installed: bool = True
    contributors: list[tuple[str, int]] = field(default_factory=list)
    permissions: dict[str, str] = field(default_factory=dict)


@dataclass
class Pull:
    repo: str
    number: int
    id: int
    head_ref: str
    base_ref: str
    author: str
    title: str
    body: str | None
    draft: bool
    labels: list[str]
    created_at: str
    updated_at: str
    state: str = "open"
    merged: bool = False
    merged_by: str | None = None
    merged_at: str | None = None
    closed_at: str | None = None
    merge_commit_sha: str | None = None
    frozen_head: str | None = None  # head and base SHAs once closed (GitHub stops following the refs)
    frozen_base: str | None = None
    head_owner: str | None = None  # a fork's owner: the head lives in `owner/name` of that account
    merge_sha_sent: str | None = None  # the `sha` the successful merge request carried (None: none)


@dataclass
class Review:
    id: int
    repo: str
    number: int
    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit_id: str
    body: str
    submitted_at: str
    comments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Comment:
    id: int
    repo: str
    number: int
    user: str
    body: str
    created_at: str


@dataclass
class CheckRun:
    id: int
    repo: str
    head_sha: str
    name: str
    app_slug: str
    status: str = "queued"
    conclusion: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    output: dict[str, Any] = field(default_factory=dict)
    details_url: str | None = None
    external_id: str | None = None


@dataclass
class Status:
    id: int
    repo: str
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: str


@dataclass
class Activity:
    """One update of a branch, as the repository activity log records it (GitHub's clock)."""

    id: int
    repo: str
    ref: str  # refs/heads/<branch>
    before: str
    after: str
    at: float
    activity_type: str  # push, force_push, branch_creation, branch_deletion, pr_merge
    actor: str


@dataclass
class Protection:
    """A branch protection's required status checks; `enforce_admins` False lets admins merge past it."""

    contexts: list[str]
    strict: bool = False
    enforce_admins: bool = False


@dataclass
class Ruleset:
    """An active ruleset with a required-status-checks rule on the branches it names."""

    id: int
    repo: str
    branches: list[str]
    contexts: list[str]
    strict: bool = False


class State:
    """All records of one fake GitHub; mutate only while holding `lock`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = threading.RLock()
        self.actions_can_approve = False  # the repository setting for `GITHUB_TOKEN` approvals
        self.ids = itertools.count(1001)
        self.repos: dict[str, Repo] = {}
        self.pulls: dict[tuple[str, int], Pull] = {}
        self.reviews: list[Review] = []
        self.comments: list[Comment] = []
        self.check_runs: list[CheckRun] = []
        self.statuses: list[Status] = []
        self.numbers: dict[str, itertools.count[int]] = {}
        self.activities: list[Activity] = []
        self.protections: dict[tuple[str, str], Protection] = {}
        self.rulesets: list[Ruleset] = []
        self.mergeable_overrides: dict[tuple[str, int], str] = {}

    def record_ref(self, full_name: str, branch: str, before: str | None, after: str, actor: str,
                   *, kind: str | None = None, at: float | None = None) -> None:  # fmt: skip
        """Log one update of `branch` in the activity log (`at`: GitHub's time of it, default now)."""
        zero = "0" * 40
        kind = kind or ("branch_creation" if before is None else "push")
        self.activities.append(
            Activity(next(self.ids), full_name, f"refs/heads/{branch}", before or zero, after,
                     time.time() if at is None else at, kind, actor)
        )  # fmt: skip

    def required_contexts(self, full_name: str, branch: str) -> tuple[list[str], bool]:
        """The contexts the branch's protection and rulesets require, and whether any wants it up to date."""
        names: list[str] = []
        strict = False
        protection = self.protections.get((full_name, branch))
        if protection is not None:
            names += protection.contexts
            strict = protection.strict
        for ruleset in self.rulesets:
            if ruleset.repo == full_name and branch in ruleset.branches:
                names += ruleset.contexts
                strict = strict or ruleset.strict
        return list(dict.fromkeys(names)), strict

    def repo(self, full_name: str) -> Repo:
        try:
            return self.repos[full_name.lower()]
        except KeyError:
            raise not_found() from None

    def pull(self, full_name: str, number: int) -> Pull:
        try:
            return self.pulls[(self.repo(full_name).full_name, number)]
        except KeyError:
            raise not_found() from None

    def head_sha(self, pull: Pull) -> str:
        """The PR's head now: the head branch tip while open."""
        if pull.frozen_head:
            return pull.frozen_head
        sha = github_git.rev(self.repo(pull.repo).git_dir, f"refs/heads/{pull.head_ref}")
        if sha is None:
            raise ApiError(500, f"head branch {pull.head_ref} of {pull.repo}#{pull.number} is gone")
        return sha

    def base_sha(self, pull: Pull) -> str:
        if pull.frozen_base:
            return pull.frozen_base
        sha = github_git.rev(self.repo(pull.repo).git_dir, f"refs/heads/{pull.base_ref}")
        if sha is None:
            raise ApiError(500, f"base branch {pull.base_ref} of {pull.repo} is gone")
        return sha

    def permission(self, full_name: str, user: str) -> str:
        """The user's role on the repository: an explicit one, else read (public) or none (private)."""
        repo = self.repo(full_name)
        return repo.permissions.get(user.lower(), "none" if repo.private else "read")

    def resolve(self, full_name: str, ref: str) -> str:
        """A branch, tag or SHA to a commit SHA (404 when unknown, as GitHub answers)."""
        sha = github_git.rev(self.repo(full_name).git_dir, ref)
        if sha is None:
            raise ApiError(422, f"No commit found for SHA: {ref}")
        return sha

    def touch(self, pull: Pull) -> None:
        pull.updated_at = now_iso()

    def reviews_of(self, full_name: str, number: int) -> list[Review]:
        name = self.repo(full_name).full_name
        return [r for r in self.reviews if r.repo == name and r.number == number]

    def comments_of(self, full_name: str, number: int) -> list[Comment]:
        name = self.repo(full_name).full_name
        return [c for c in self.comments if c.repo == name and c.number == number]
