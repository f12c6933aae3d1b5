"""The fake GitHub's test API: arrange repositories, branches, PRs, reviews, checks and failures, and read
back copies of what clients did. Mixed into `FakeGitHub`; every method takes the state lock.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tests.fakes import github_dispatch, github_git
from tests.fakes.github_auth import Auth
from tests.fakes.github_merge import BASE_MODIFIED
from tests.fakes.github_state import CheckRun, Comment, Pull, Repo, Review, State, Status, now_iso

_REVIEW_STATES = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED", "COMMENT": "COMMENTED"}


class Seeding:
    """Arrange and inspect; see `FakeGitHub` for the server side."""

    state: State
    auth: Auth
    clone_url_template: str
    _dispatcher: github_dispatch.Dispatcher | None

    # repositories and branches

    def create_repo(
        self,
        full_name: str,
        files: dict[str, github_git.Content] | None = None,
        *,
        default_branch: str = "main",
        contributors: int | Sequence[str] = 3,
        private: bool = False,
        installed: bool = True,
    ) -> str:
        """A bare repository with one commit of `files` on `default_branch`; returns that commit's SHA."""
        git_dir = Path(self.clone_url(full_name))
        github_git.init_bare(git_dir, default_branch)
        content: dict[str, github_git.Content] = dict(files or {"README.md": f"# {full_name}\n"})
        sha = github_git.commit_files(git_dir, None, content, "Initial commit", full_name.split("/")[0])
        github_git.update_ref(git_dir, default_branch, sha)
        with self.state.lock:
            repo = Repo(full_name, next(self.state.ids), git_dir, default_branch, private, installed)
            self.state.repos[full_name.lower()] = repo
            self.state.record_ref(full_name, default_branch, None, sha, full_name.split("/")[0])
        self.set_contributors(full_name, contributors)
        return sha

    def clone_url(self, full_name: str) -> str:
        """The local path `git clone` takes for `full_name`."""
        return self.clone_url_template.format(repo=full_name)

    def push_branch(
        self,
        repo: str,
        branch: str,
        files: dict[str, github_git.Content],
        message: str = "update",
        *,
        base: str | None = None,
        author: str = "alice",
        at: float | None = None,
    ) -> str:
        """Commit `files` (None deletes) on `branch`, created from `base` (default branch) if new; new SHA.
        The push is logged in the activity log at `at` (GitHub's time of it; default now)."""
        with self.state.lock:
            record = self.state.repo(repo)
            before = parent = github_git.rev(record.git_dir, f"refs/heads/{branch}")
            if parent is None:
                parent = github_git.rev(record.git_dir, f"refs/heads/{base or record.default_branch}")
            sha = github_git.commit_files(record.git_dir, parent, files, message, author)
            github_git.update_ref(record.git_dir, branch, sha)
            self.state.record_ref(record.full_name, branch, before, sha, author, at=at)
            return sha

    def branch_sha(self, repo: str, branch: str) -> str | None:
        return github_git.rev(self.state.repo(repo).git_dir, f"refs/heads/{branch}")

    def set_permission(self, repo: str, user: str, permission: str) -> None:
        """`user`'s role: admin, maintain, write, triage, read or none."""
        with self.state.lock:
            self.state.repo(repo).permissions[user.lower()] = permission

    def set_contributors(self, repo: str, contributors: int | Sequence[str]) -> None:
        """The contributors list: N made-up logins, or these logins (most contributions first)."""
        logins = (
            [f"dev{i}" for i in range(1, contributors + 1)] if isinstance(contributors, int) else contributors
        )
        with self.state.lock:
            self.state.repo(repo).contributors = [(login, 100 - i) for i, login in enumerate(logins)]

    # pull requests

    def open_pull(
        self,
        repo: str,
        head_branch: str,
        base: str | None = None,
        *,
        author: str = "alice",
        draft: bool = False,
        title: str | None = None,
        body: str | None = "",
        labels: Iterable[str] = (),
        fork_owner: str | None = None,
    ) -> int:
        """Open a PR from `head_branch` into `base` (default branch); its number. With `fork_owner` the
        head is shown as that account's fork (its commits stay reachable here, as `refs/pull/N/head`)."""
        with self.state.lock:
            record = self.state.repo(repo)
            base_ref = base or record.default_branch
            for ref in (head_branch, base_ref):
                if github_git.rev(record.git_dir, f"refs/heads/{ref}") is None:
                    raise ValueError(f"{repo} has no branch {ref}")
            counter = self.state.numbers.setdefault(record.full_name, itertools.count(1))
            number = next(counter)
            stamp = now_iso()
            pull = Pull(
                record.full_name,
                number,
                next(self.state.ids),
                head_branch,
                base_ref,
                author,
                title or f"Change {head_branch}",
                body,
                draft,
                list(labels),
                stamp,
                stamp,
                head_owner=fork_owner,
            )
            self.state.pulls[(record.full_name, number)] = pull
            return number

    def _edit_pull(self, repo: str, number: int, **changes: Any) -> None:
        with self.state.lock:
            pull = self.state.pull(repo, number)
            for key, value in changes.items():
                setattr(pull, key, value)
            self.state.touch(pull)

    def close_pull(self, repo: str, number: int) -> None:
        with self.state.lock:
            pull = self.state.pull(repo, number)
            head, base = self.state.head_sha(pull), self.state.base_sha(pull)
        self._edit_pull(repo, number, state="closed", closed_at=now_iso(), frozen_head=head, frozen_base=base)

    def reopen_pull(self, repo: str, number: int) -> None:
        self._edit_pull(repo, number, state="open", closed_at=None, frozen_head=None, frozen_base=None)

    def set_draft(self, repo: str, number: int, draft: bool = True) -> None:
        self._edit_pull(repo, number, draft=draft)

    def set_labels(self, repo: str, number: int, labels: Iterable[str]) -> None:
        self._edit_pull(repo, number, labels=list(labels))

    def edit_pull(self, repo: str, number: int, *, title: str | None = None, body: str | None = None) -> None:
        changes = {k: v for k, v in (("title", title), ("body", body)) if v is not None}
        self._edit_pull(repo, number, **changes)

    def add_review(
        self, repo: str, number: int, user: str, state: str, commit_id: str | None = None, body: str = ""
    ) -> int:
        """A review by someone else (a human), recorded without validation; its id."""
        with self.state.lock:
            pull = self.state.pull(repo, number)
            review = Review(
                next(self.state.ids),
                pull.repo,
                number,
                user,
                _REVIEW_STATES.get(state, state),
                commit_id or self.state.head_sha(pull),
                body,
                now_iso(),
            )
            self.state.reviews.append(review)
            self.state.touch(pull)
            return review.id

    def add_comment(self, repo: str, number: int, user: str, body: str, *, at: float | None = None) -> int:
        with self.state.lock:
            pull = self.state.pull(repo, number)
            comment = Comment(next(self.state.ids), pull.repo, number, user, body, now_iso(at))
            self.state.comments.append(comment)
            self.state.touch(pull)
            return comment.id

    # checks and statuses by others (CI)

    def set_check(
        self,
        repo: str,
        sha: str,
        name: str,
        status: str = "completed",
        conclusion: str | None = "success",
        *,
        app_slug: str = "ci",
    ) -> int:
        """A check run by another App (CI) on `sha`; its id."""
        with self.state.lock:
            full = self.state.repo(repo).full_name
            run = CheckRun(
                next(self.state.ids),
                full,
                self.state.resolve(full, sha),
                name,
                app_slug,
                status=status,
                conclusion=conclusion if status == "completed" else None,
                started_at=now_iso(),
                completed_at=now_iso() if status == "completed" else None,
            )
            self.state.check_runs.append(run)
            return run.id

    def set_status(
        self,
        repo: str,
        sha: str,
        context: str,
        state: str = "success",
        description: str | None = None,
        *,
        creator: str = "ci-bot",
    ) -> int:
        with self.state.lock:
            full = self.state.repo(repo).full_name
            status = Status(
                next(self.state.ids),
                full,
                self.state.resolve(full, sha),
                state,
                context,
                description,
                None,
                creator,
                now_iso(),
            )
            self.state.statuses.append(status)
            return status.id

    # auth, limits and failures

    def add_token(self, value: str, login: str, *, limit: int = 5000) -> None:
        """A personal access token acting as `login`."""
        self.auth.add_token(value, login, limit=limit)

    def add_actions_token(self, value: str, *, read_only: bool = False) -> None:
        """A workflow's `GITHUB_TOKEN`: an installation token acting as `github-actions[bot]` (no
        `GET /user`); `read_only` as on a `pull_request` run from a fork (every write: 403)."""
        self.auth.add_actions_token(value, read_only=read_only)

    def set_rate_limit(self, token: str, remaining: int, *, reset_in_s: float = 3600.0) -> None:
        """Set what is left of `token`'s hourly budget (0: the next counted request gets a 403)."""
        self.auth.set_remaining(token, remaining, reset_in_s)

    def issue_installation_token(self) -> str:
        """An installation token as `POST /app/installations/{id}/access_tokens` would give."""
        return self.auth.issue_installation_token(self._require().installation_id).value

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        headers: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests whose path (no API prefix) matches with this failure."""
        body = {"message": "Injected failure"} if body is None else body
        injection = github_dispatch.Injection(
            method.upper(), re.compile(path_regex), status, headers or {}, body, times
        )
        self._require().inject(injection)

    def secondary_rate_limit_next(
        self, method: str, path_regex: str, *, retry_after: int = 60, status: int = 403
    ) -> None:
        message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
        docs = (
            "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
        )
        self.fail_next(
            method,
            path_regex,
            status,
            headers={"Retry-After": str(retry_after)},
            body={"message": message, "documentation_url": docs},
        )

    def base_modified_next(self, repo: str, number: int) -> None:
        """The next merge of this PR answers 405 "Base branch was modified"."""
        path = f"/repos/{re.escape(repo)}/pulls/{number}/merge$"
        self.fail_next(
            "PUT", path, 405, body={"message": BASE_MODIFIED, "documentation_url": github_dispatch.DOCS}
        )

    def _require(self) -> github_dispatch.Dispatcher:
        if self._dispatcher is None:
            raise RuntimeError("start the fake GitHub first (use it as a context manager)")
        return self._dispatcher

    # inspection (copies)

    def pull(self, repo: str, number: int) -> Pull:
        with self.state.lock:
            return copy.deepcopy(self.state.pull(repo, number))

    def head_sha(self, repo: str, number: int) -> str:
        with self.state.lock:
            return self.state.head_sha(self.state.pull(repo, number))

    def merged(self, repo: str, number: int) -> bool:
        return self.pull(repo, number).merged

    def reviews(self, repo: str, number: int) -> list[Review]:
        with self.state.lock:
            return copy.deepcopy(self.state.reviews_of(repo, number))

    def review_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        return [c for r in self.reviews(repo, number) for c in r.comments]

    def comments(self, repo: str, number: int) -> list[Comment]:
        with self.state.lock:
            return copy.deepcopy(self.state.comments_of(repo, number))

    def check_runs(self, repo: str, sha: str) -> list[CheckRun]:
        with self.state.lock:
            full = self.state.repo(repo).full_name
            return [copy.deepcopy(r) for r in self.state.check_runs if r.repo == full and r.head_sha == sha]

    def statuses(self, repo: str, sha: str) -> list[Status]:
        with self.state.lock:
            full = self.state.repo(repo).full_name
            return [copy.deepcopy(s) for s in self.state.statuses if s.repo == full and s.sha == sha]

    @property
    def requests(self) -> list[github_dispatch.LoggedRequest]:
        """Every request answered so far: (method, path without prefix or query, status)."""
        dispatcher = self._require()
        with dispatcher.lock:
            return list(dispatcher.log)

    def clear_requests(self) -> None:
        dispatcher = self._require()
        with dispatcher.lock:
            dispatcher.log.clear()
