"""The writing half of the GitHub adapter: reviews, comments, dismissals, the tally, merges.

Each write is a command sent once (`github_calls.Calls.write`); refusals GitHub answers definitively are
read as outcomes (a 422 review fallback, a 409 stale head), anything ambiguous is a non-retryable error.
"""

from __future__ import annotations

import logging
from typing import Any

from bot import errors, forge
from bot.adapters.github import auth as github_auth
from bot.adapters.github import calls as github_calls
from bot.adapters.github import http as github_http
from bot.adapters.github import patch as github_patch
from bot.adapters.github import rate as github_rate
from bot.adapters.github import review as github_review

log = logging.getLogger(__name__)
SUMMARY_LIMIT = 65_000  # check-run output text is capped at 65,535 characters
_CONCLUSIONS = {
    forge.TallyState.SUCCESS: "success",
    forge.TallyState.FAILURE: "failure",
    forge.TallyState.NEUTRAL: "neutral",
}
# A commit status has no neutral state; neutral passes like a neutral check run does.
_STATUS_STATES = {**_CONCLUSIONS, forge.TallyState.NEUTRAL: "success", forge.TallyState.PENDING: "pending"}


class PullRequestWrites:
    """`PullRequestWriter` over the adapter's calls; the tally is a check run (App) or a commit status."""

    def __init__(
        self, calls: github_calls.Calls, credentials: github_auth.Credentials, check_name: str
    ) -> None:
        self._calls = calls
        self._credentials = credentials
        self._check_name = check_name

    async def post_review(self, repo: str, number: int, draft: forge.ReviewDraft) -> forge.PostResult:
        patches: dict[str, github_patch.PatchLines] = {}
        if draft.comments:
            files = await self._calls.list(repo, f"/repos/{repo}/pulls/{number}/files", "changed files")
            patches = {str(f["filename"]): github_patch.parse_patch(f.get("patch")) for f in files}

        async def send(
            body: str, comments: list[dict[str, Any]], event: forge.ReviewEvent
        ) -> github_http.Reply:
            payload = {
                "commit_id": draft.commit_sha,
                "body": body,
                "event": event.value,
                "comments": comments,
            }
            return await self._calls.write(
                repo, "POST", f"/repos/{repo}/pulls/{number}/reviews", "post review", payload
            )

        result = await github_review.post(draft, patches, send)
        log.info(
            "posted review %s on %s#%d as %s: %d inline, %d moved to the body%s",
            result.review_id, repo, number, result.event.value, result.published_comments,
            result.dropped_comments, " (downgraded)" if result.downgraded else "",
        )  # fmt: skip
        return result

    async def dismiss_review(self, repo: str, number: int, review_id: int, message: str) -> None:
        url = f"/repos/{repo}/pulls/{number}/reviews/{review_id}/dismissals"
        body = {"message": message, "event": "DISMISS"}
        (await self._calls.write(repo, "PUT", url, "dismiss review", body)).check(
            "dismiss review", write=True
        )

    async def edit_review(self, repo: str, number: int, review_id: int, body: str) -> None:
        url = f"/repos/{repo}/pulls/{number}/reviews/{review_id}"
        body = body[: github_review.BODY_LIMIT]
        reply = await self._calls.write(repo, "PUT", url, "edit review", {"body": body})
        reply.check("edit review", write=True)

    async def comment(self, repo: str, number: int, body: str) -> int:
        url = f"/repos/{repo}/issues/{number}/comments"
        reply = await self._calls.write(repo, "POST", url, "comment", {"body": body})
        reply.check("comment", write=True)
        return int(reply.data["id"])

    async def delete_comment(self, repo: str, comment_id: int) -> None:
        url = f"/repos/{repo}/issues/comments/{comment_id}"
        (await self._calls.write(repo, "DELETE", url, "delete comment", None)).check(
            "delete comment", write=True
        )

    async def withdraw_tally(self, repo: str, run_id: int, title: str, summary: str) -> None:
        body = {"output": {"title": title[:255], "summary": summary[:SUMMARY_LIMIT]}}
        url = f"/repos/{repo}/check-runs/{run_id}"
        (await self._calls.write(repo, "PATCH", url, "withdraw check run", body)).check(
            "withdraw check run", write=True
        )

    async def set_tally(
        self, repo: str, sha: str, state: forge.TallyState, title: str, summary: str
    ) -> int | None:
        if self._credentials.is_app:
            body: dict[str, Any] = {
                "name": self._check_name,
                "head_sha": sha,
                "output": {"title": title[:255], "summary": summary[:SUMMARY_LIMIT]},
            }
            if state is forge.TallyState.PENDING:
                body["status"] = "in_progress"
            else:
                body.update(status="completed", conclusion=_CONCLUSIONS[state])
            url, what = f"/repos/{repo}/check-runs", "check run"
        else:
            body = {"state": _STATUS_STATES[state], "context": self._check_name, "description": title[:140]}
            url, what = f"/repos/{repo}/statuses/{sha}", "commit status"
        reply = await self._calls.write(repo, "POST", url, what, body)
        reply.check(what, write=True)
        return int(reply.data["id"]) if self._credentials.is_app else None

    async def merge(self, repo: str, number: int, sha: str, method: str) -> forge.MergeResult:
        body = {"sha": sha, "merge_method": method}
        reply = await self._calls.write(repo, "PUT", f"/repos/{repo}/pulls/{number}/merge", "merge", body)
        if (
            github_rate.limit_delay(reply.status, reply.headers, reply.message, self._calls.gate.now)
            is not None
        ):
            reply.check("merge", write=True)  # raises RateLimited
        outcome = _merge_outcome(reply)
        if outcome is None:
            reply.check("merge", write=True)
            raise errors.GitHubError(
                f"GitHub merge: unexpected status {reply.status}", status_code=reply.status
            )
        sha_merged = str(reply.data.get("sha") or "") if outcome is forge.MergeOutcome.MERGED else ""
        log.info("merge of %s#%d at %s: %s", repo, number, sha[:12], outcome.value)
        return forge.MergeResult(outcome, sha=sha_merged, message=reply.message)


def _merge_outcome(reply: github_http.Reply) -> forge.MergeOutcome | None:
    if 200 <= reply.status < 300:
        return forge.MergeOutcome.MERGED
    if reply.status == 409:
        return forge.MergeOutcome.STALE_HEAD
    if reply.status == 405 and "base branch was modified" in reply.message.lower():
        return forge.MergeOutcome.BASE_MODIFIED
    if reply.status in (403, 405, 422):
        return forge.MergeOutcome.REFUSED
    return None
