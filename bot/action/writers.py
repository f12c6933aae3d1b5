"""The code-host writes of a workflow run: a comment is never repeated, and a fork's PR gets comments only.

A run is stateless between events, so a notice or a command reply a previous run already posted is
looked for on the PR before posting again. On a fork's PR the workflow's token is read-only (GitHub
refuses every write with 403) and must not approve or merge anyway: reviews go out as comments when the
token may write, nothing is merged, and a refused write is reported, not fatal.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Protocol

from bot import forge
from bot.action import hidden
from bot.errors import GitHubError
from statemachine import records

log = logging.getLogger("quorum.action")

FORK_NOTE = (
    "This pull request comes from a fork. A workflow run for it gets a read-only token and no secrets, "
    "so Quorum reviews it as a comment only and never merges it; a maintainer decides."
)


class CommentReader(Protocol):
    async def comment_bodies(self, repo: str, number: int, *, author: str) -> list[str]:
        """The bodies of `author`'s comments on the PR, oldest first."""
        ...


class OnceWriter:
    """A `PullRequestWriter` for a stateless run: a plain comment is posted only if Quorum has not posted
    the same one; a review carries the record's open blockers and what its rounds were shown, a comment the
    commands already handled and
    a maintainer's `/quorum merge` of the head, so the next run still knows them."""

    def __init__(
        self,
        writer: forge.PullRequestWriter,
        comments: CommentReader,
        login: str,
        store: records.StateStore,
    ) -> None:
        self._writer, self._comments, self._login, self._store = writer, comments, login, store
        self.refused: list[str] = []  # writes the code host refused (a fork's read-only token)

    async def post_review(self, repo: str, number: int, draft: forge.ReviewDraft) -> forge.PostResult:
        record = await self._store.load(f"{repo}#{number}")
        tags = (hidden.blockers_tag(record.open_blockers), hidden.shown_tag(record.seen)) if record else ()
        carried = "\n".join(t for t in tags if t)
        if carried:
            draft = dataclasses.replace(draft, body=f"{draft.body}\n{carried}")
        return await self._writer.post_review(repo, number, draft)

    async def dismiss_review(self, repo: str, number: int, review_id: int, message: str) -> None:
        await self._writer.dismiss_review(repo, number, review_id, message)

    async def edit_review(self, repo: str, number: int, review_id: int, body: str) -> None:
        await self._writer.edit_review(repo, number, review_id, body)

    async def comment(self, repo: str, number: int, body: str) -> int:
        posted = await self._comments.comment_bodies(repo, number, author=self._login)
        if body.strip() in {hidden.without_seen(b) for b in posted}:
            log.info("%s#%d: this comment is already on the PR; not repeated", repo, number)
            return 0
        record = await self._store.load(f"{repo}#{number}")
        seen = hidden.seen_tag(record.commands_seen, record.human_approved_sha) if record is not None else ""
        return await self._writer.comment(repo, number, f"{body}\n{seen}" if seen else body)

    async def delete_comment(self, repo: str, comment_id: int) -> None:
        await self._writer.delete_comment(repo, comment_id)

    async def set_tally(
        self, repo: str, sha: str, state: forge.TallyState, title: str, summary: str
    ) -> int | None:
        return await self._writer.set_tally(repo, sha, state, title, summary)

    async def withdraw_tally(self, repo: str, run_id: int, title: str, summary: str) -> None:
        await self._writer.withdraw_tally(repo, run_id, title, summary)

    async def merge(self, repo: str, number: int, sha: str, method: str) -> forge.MergeResult:
        return await self._writer.merge(repo, number, sha, method)


class ForkWriter(OnceWriter):
    """Comment-only reviews, no merge, and a write refused by a read-only token recorded, not raised."""

    async def post_review(self, repo: str, number: int, draft: forge.ReviewDraft) -> forge.PostResult:
        body = f"> {FORK_NOTE}\n\n{draft.body}"
        comment_only = dataclasses.replace(draft, event=forge.ReviewEvent.COMMENT, body=body)
        try:
            return await super().post_review(repo, number, comment_only)
        except GitHubError as exc:
            self._refused("the review", exc)
            return forge.PostResult(0, forge.ReviewEvent.COMMENT, 0, len(draft.comments))

    async def dismiss_review(self, repo: str, number: int, review_id: int, message: str) -> None:
        try:
            await super().dismiss_review(repo, number, review_id, message)
        except GitHubError as exc:
            self._refused("a dismissal", exc)

    async def comment(self, repo: str, number: int, body: str) -> int:
        try:
            return await super().comment(repo, number, body)
        except GitHubError as exc:
            self._refused("a comment", exc)
            return 0

    async def set_tally(
        self, repo: str, sha: str, state: forge.TallyState, title: str, summary: str
    ) -> int | None:
        try:
            return await super().set_tally(repo, sha, state, title, summary)
        except GitHubError as exc:
            self._refused("the status", exc)
            return None

    async def merge(self, repo: str, number: int, sha: str, method: str) -> forge.MergeResult:
        # Unreachable while merging is off for forks; a guard in depth all the same.
        return forge.MergeResult(forge.MergeOutcome.REFUSED, message="a fork's pull request is not merged")

    def _refused(self, what: str, exc: GitHubError) -> None:
        if exc.status_code != 403:
            raise exc
        log.warning("the token may not write %s (read-only on a fork's run): %s", what, exc.message)
        self.refused.append(what)
