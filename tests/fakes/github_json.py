"""The JSON bodies the fake GitHub answers with, shaped like GitHub's (the fields PyGithub reads)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

from tests.fakes import github_gate, github_git
from tests.fakes.github_state import CheckRun, Comment, Pull, Repo, Review, State, Status


def user_id(login: str) -> int:
    """A stable id per login."""
    return zlib.crc32(login.lower().encode()) % 10**8 + 1


@dataclass(frozen=True)
class Render:
    """Builds bodies with absolute URLs under the fake's API prefix."""

    state: State
    api: str  # http://127.0.0.1:PORT/api/v3
    web: str  # http://127.0.0.1:PORT

    def user(self, login: str) -> dict[str, Any]:
        is_bot = login.endswith("[bot]")
        return {
            "login": login,
            "id": user_id(login),
            "node_id": f"U_{user_id(login)}",
            "type": "Bot" if is_bot else "User",
            "site_admin": False,
            "url": f"{self.api}/users/{login}",
            "html_url": f"{self.web}/{login}",
            "avatar_url": f"{self.web}/avatars/{login}",
        }

    def repo(self, repo: Repo) -> dict[str, Any]:
        owner, name = repo.full_name.split("/")
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": name,
            "full_name": repo.full_name,
            "owner": self.user(owner),
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "fork": False,
            "archived": False,
            "disabled": False,
            "default_branch": repo.default_branch,
            "url": f"{self.api}/repos/{repo.full_name}",
            "html_url": f"{self.web}/{repo.full_name}",
            "clone_url": str(repo.git_dir),
            "allow_merge_commit": True,
            "allow_squash_merge": True,
            "allow_rebase_merge": True,
        }

    def _branch(self, pull: Pull, ref: str, sha: str, *, head: bool = False) -> dict[str, Any]:
        repo = self.state.repo(pull.repo)
        owner = repo.full_name.split("/")[0]
        body = self.repo(repo)
        if head and pull.head_owner is not None:
            # A fork: the head branch belongs to another account's copy of the repository.
            owner, name = pull.head_owner, repo.full_name.split("/")[1]
            body = {**body, "id": user_id(f"{owner}/{name}"), "full_name": f"{owner}/{name}", "name": name,
                    "owner": self.user(owner), "fork": True, "url": f"{self.api}/repos/{owner}/{name}",
                    "html_url": f"{self.web}/{owner}/{name}"}  # fmt: skip
        return {
            "label": f"{owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.user(owner),
            "repo": body,
        }

    def pull(self, pull: Pull, *, full: bool) -> dict[str, Any]:
        """A PR; `full` adds the fields only the single-PR endpoint has (merged, mergeable, counts)."""
        url = f"{self.api}/repos/{pull.repo}/pulls/{pull.number}"
        body: dict[str, Any] = {
            "url": url,
            "id": pull.id,
            "node_id": f"PR_{pull.id}",
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "body": pull.body,
            "user": self.user(pull.author),
            "labels": [self.label(pull.repo, name) for name in pull.labels],
            "draft": pull.draft,
            "html_url": f"{self.web}/{pull.repo}/pull/{pull.number}",
            "diff_url": f"{self.web}/{pull.repo}/pull/{pull.number}.diff",
            "issue_url": f"{self.api}/repos/{pull.repo}/issues/{pull.number}",
            "review_comments_url": f"{url}/comments",
            "comments_url": f"{self.api}/repos/{pull.repo}/issues/{pull.number}/comments",
            "created_at": pull.created_at,
            "updated_at": pull.updated_at,
            "closed_at": pull.closed_at,
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_commit_sha,
            "assignees": [],
            "requested_reviewers": [],
            "author_association": "CONTRIBUTOR",
            "head": self._branch(pull, pull.head_ref, self.state.head_sha(pull), head=True),
            "base": self._branch(pull, pull.base_ref, self.state.base_sha(pull)),
        }
        if full:
            body.update(self._pull_details(pull))
        return body

    def _pull_details(self, pull: Pull) -> dict[str, Any]:
        repo = self.state.repo(pull.repo)
        base, head = self.state.base_sha(pull), self.state.head_sha(pull)
        mergeable = True if pull.merged else github_git.merged_tree(repo.git_dir, base, head) is not None
        files = github_git.diff_files(repo.git_dir, base, head)
        return {
            "merged": pull.merged,
            "merged_by": self.user(pull.merged_by) if pull.merged_by else None,
            "mergeable": mergeable if pull.state == "open" or pull.merged else None,
            "mergeable_state": self._merge_state(pull, mergeable),
            "comments": len(self.state.comments_of(pull.repo, pull.number)),
            "additions": sum(f.additions for f in files),
            "deletions": sum(f.deletions for f in files),
            "changed_files": len(files),
        }

    def _merge_state(self, pull: Pull, mergeable: bool) -> str:
        if pull.state != "open":
            return "clean" if mergeable else "dirty"
        return github_gate.mergeable_state(self.state, pull, mergeable=mergeable)

    def label(self, full_name: str, name: str) -> dict[str, Any]:
        return {
            "id": user_id(f"{full_name}:{name}"),
            "name": name,
            "color": "ededed",
            "url": f"{self.api}/repos/{full_name}/labels/{name}",
        }

    def file(self, full_name: str, diff: github_git.FileDiff, head: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "sha": diff.sha,
            "filename": diff.filename,
            "status": diff.status,
            "additions": diff.additions,
            "deletions": diff.deletions,
            "changes": diff.additions + diff.deletions,
            "blob_url": f"{self.web}/{full_name}/blob/{head}/{diff.filename}",
            "raw_url": f"{self.web}/{full_name}/raw/{head}/{diff.filename}",
            "contents_url": f"{self.api}/repos/{full_name}/contents/{diff.filename}?ref={head}",
        }
        if diff.patch is not None:
            body["patch"] = diff.patch
        if diff.previous_filename:
            body["previous_filename"] = diff.previous_filename
        return body

    def review(self, review: Review) -> dict[str, Any]:
        pull_url = f"{self.api}/repos/{review.repo}/pulls/{review.number}"
        return {
            "id": review.id,
            "node_id": f"PRR_{review.id}",
            "user": self.user(review.user),
            "body": review.body,
            "state": review.state,
            "commit_id": review.commit_id,
            "html_url": f"{self.web}/{review.repo}/pull/{review.number}#pullrequestreview-{review.id}",
            "pull_request_url": pull_url,
            "submitted_at": None if review.state == "PENDING" else review.submitted_at,
            "author_association": "MEMBER",
        }

    def comment(self, comment: Comment) -> dict[str, Any]:
        base = f"{self.api}/repos/{comment.repo}/issues"
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "url": f"{base}/comments/{comment.id}",
            "html_url": f"{self.web}/{comment.repo}/pull/{comment.number}#issuecomment-{comment.id}",
            "issue_url": f"{base}/{comment.number}",
            "body": comment.body,
            "user": self.user(comment.user),
            "created_at": comment.created_at,
            "updated_at": comment.created_at,
            "author_association": "MEMBER",
        }

    def check_run(self, run: CheckRun, app: dict[str, Any]) -> dict[str, Any]:
        output = {"title": None, "summary": None, "text": None, "annotations_count": 0}
        output.update({k: v for k, v in run.output.items() if k in ("title", "summary", "text")})
        return {
            "id": run.id,
            "node_id": f"CR_{run.id}",
            "head_sha": run.head_sha,
            "name": run.name,
            "status": run.status,
            "conclusion": run.conclusion,
            "started_at": run.started_at,
            "completed_at": run.completed_at,
            "external_id": run.external_id,
            "details_url": run.details_url,
            "url": f"{self.api}/repos/{run.repo}/check-runs/{run.id}",
            "html_url": f"{self.web}/{run.repo}/runs/{run.id}",
            "output": output,
            "app": app,
            "check_suite": {"id": run.id + 500000},
            "pull_requests": [],
        }

    def status(self, status: Status) -> dict[str, Any]:
        return {
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "url": f"{self.api}/repos/{status.repo}/statuses/{status.sha}",
            "state": status.state,
            "context": status.context,
            "description": status.description,
            "target_url": status.target_url,
            "creator": self.user(status.creator),
            "created_at": status.created_at,
            "updated_at": status.created_at,
        }
