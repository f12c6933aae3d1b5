"""Posting a review: payloads, the body for moved comments, and the fallbacks after a 422 refusal."""

from __future__ import annotations

from typing import Any

import pytest

from bot import domain, errors, forge
from bot.adapters.github import http as github_http
from bot.adapters.github import patch as github_patch
from bot.adapters.github import review as github_review

PATCHES = {"a.py": github_patch.parse_patch("@@ -1,2 +1,3 @@\n one\n+two\n three\n")}
OWN = {"message": "Unprocessable Entity", "errors": ["Can not approve your own pull request"]}
OUTSIDE = {
    "message": "Unprocessable Entity",
    "errors": ["Pull request review thread line must be part of the diff"],
}


def finding(line: int, start: int | None = None, path: str = "a.py") -> domain.Finding:
    return domain.Finding(
        path, line, domain.Side.RIGHT, domain.Severity.MAJOR, f"at {line}", start_line=start
    )


class ScriptedGitHub:
    """Answers each review post with the next scripted reply and records what was sent."""

    def __init__(self, *replies: github_http.Reply) -> None:
        self.replies = list(replies)
        self.sent: list[tuple[str, list[dict[str, Any]], forge.ReviewEvent]] = []

    async def __call__(
        self, body: str, comments: list[dict[str, Any]], event: forge.ReviewEvent
    ) -> github_http.Reply:
        self.sent.append((body, comments, event))
        return self.replies.pop(0)


def accepted(review_id: int = 9) -> github_http.Reply:
    return github_http.Reply(200, {}, {"id": review_id})


def draft(
    *comments: domain.Finding, event: forge.ReviewEvent = forge.ReviewEvent.APPROVE
) -> forge.ReviewDraft:
    return forge.ReviewDraft("c" * 40, event, "Looks good <!-- marker -->", comments)


def test_comment_payload_sends_start_line_only_for_a_range() -> None:
    assert "start_line" not in github_review.comment_payload(finding(2, start=2))
    assert github_review.comment_payload(finding(3, start=1)) == {
        "path": "a.py", "line": 3, "side": "RIGHT", "body": "at 3", "start_line": 1, "start_side": "RIGHT",
    }  # fmt: skip


async def test_valid_comments_go_inline_and_invalid_ones_into_the_body() -> None:
    github = ScriptedGitHub(accepted())

    result = await github_review.post(draft(finding(2), finding(40)), PATCHES, github)

    ((body, comments, event),) = github.sent
    assert event is forge.ReviewEvent.APPROVE
    assert [c["line"] for c in comments] == [2]
    assert "`a.py:40` (major): at 40" in body and body.startswith("Looks good <!-- marker -->")
    assert result == forge.PostResult(9, forge.ReviewEvent.APPROVE, published_comments=1, dropped_comments=1)


async def test_an_unexplained_422_moves_every_comment_into_the_body_once() -> None:
    github = ScriptedGitHub(github_http.Reply(422, {}, OUTSIDE), accepted())

    result = await github_review.post(draft(finding(2), finding(3)), PATCHES, github)

    assert [len(comments) for _, comments, _ in github.sent] == [2, 0]
    assert "at 2" in github.sent[1][0] and "at 3" in github.sent[1][0]
    assert (result.published_comments, result.dropped_comments) == (0, 2)


async def test_own_pull_request_is_downgraded_to_comment() -> None:
    github = ScriptedGitHub(github_http.Reply(422, {}, OWN), accepted())

    result = await github_review.post(draft(finding(2)), PATCHES, github)

    assert [event for _, _, event in github.sent] == [forge.ReviewEvent.APPROVE, forge.ReviewEvent.COMMENT]
    assert (result.event, result.downgraded, result.published_comments) == (
        forge.ReviewEvent.COMMENT,
        True,
        1,
    )


async def test_a_422_without_inline_comments_is_an_error() -> None:
    github = ScriptedGitHub(github_http.Reply(422, {}, {"message": "Validation Failed"}))

    with pytest.raises(errors.GitHubError) as caught:
        await github_review.post(draft(finding(40)), PATCHES, github)

    assert caught.value.status_code == 422 and not caught.value.retryable
    assert len(github.sent) == 1


def test_a_huge_body_is_cut_to_githubs_limit() -> None:
    moved = [
        domain.Finding("a.py", n, domain.Side.RIGHT, domain.Severity.NIT, "x" * 1000) for n in range(100)
    ]

    assert len(github_review.body_with("b", moved)) <= github_review.BODY_LIMIT
