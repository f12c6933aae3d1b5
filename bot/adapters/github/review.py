"""Posting one review: inline comments checked against the diff, and GitHub's 422 refusals handled.

A 422 means the review was not created, so posting again differently is a fallback, not a blind retry:
- own pull request ("Can not approve/request changes on your own pull request") → post as COMMENT;
- any other 422 with inline comments (GitHub names no culprit) → post once more with every comment in
  the body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from bot import domain, forge
from bot.adapters.github import http as github_http
from bot.adapters.github import patch as github_patch

BODY_LIMIT = 65_000  # GitHub refuses bodies over 65,536 characters
_OWN_PULL = "your own pull request"
_ACTIONS_APPROVAL = "github actions is not permitted to approve"

# Sends one review (body, inline comments, event) and returns the reply without raising on a 4xx.
PostOnce = Callable[[str, list[dict[str, Any]], forge.ReviewEvent], Awaitable[github_http.Reply]]


def comment_payload(finding: domain.Finding) -> dict[str, Any]:
    """One inline comment; `start_line` only for a real range."""
    payload: dict[str, Any] = {
        "path": finding.path,
        "line": finding.line,
        "side": finding.side.value,
        "body": finding.body,
    }
    if finding.start_line is not None and finding.start_line != finding.line:
        payload["start_line"] = finding.start_line
        payload["start_side"] = finding.side.value
    return payload


def body_with(body: str, moved: Sequence[domain.Finding]) -> str:
    """The review body with the comments that could not be inline appended, cut to GitHub's limit."""
    if not moved:
        return body
    lines = [body, "", f"**Comments outside the diff ({len(moved)})**", ""]
    for finding in moved:
        where = f"{finding.path}:{finding.line}" + (" (old side)" if finding.side is domain.Side.LEFT else "")
        lines.append(f"- `{where}` ({finding.severity.value}): {finding.body}")
    text = "\n".join(lines)
    if len(text) <= BODY_LIMIT:
        return text
    return text[: BODY_LIMIT - 40] + "\n\n… (truncated: review body limit)"


def is_own_pull_refusal(reply: github_http.Reply) -> bool:
    """A 422 for a verdict GitHub will not take from this identity: on its own PR, or an approval from
    a workflow's `GITHUB_TOKEN` while the repository does not let Actions approve."""
    message = reply.message.lower()
    return reply.status == 422 and (_OWN_PULL in message or _ACTIONS_APPROVAL in message)


async def post(
    draft: forge.ReviewDraft, patches: Mapping[str, github_patch.PatchLines], send: PostOnce
) -> forge.PostResult:
    """Post `draft`: valid comments inline, the rest in the body; fall back on the refusals above."""
    inline, moved = github_patch.split_findings(draft.comments, patches)
    event, downgraded = draft.event, False
    # At most three sends: as drafted, downgraded to COMMENT, and with every comment in the body.
    for _ in range(3):
        reply = await send(body_with(draft.body, moved), [comment_payload(f) for f in inline], event)
        if reply.status != 422:
            break
        if is_own_pull_refusal(reply) and event is not forge.ReviewEvent.COMMENT:
            event, downgraded = forge.ReviewEvent.COMMENT, True
        elif inline:
            inline, moved = [], list(draft.comments)
        else:
            break
    reply.check("post review", write=True)
    return forge.PostResult(
        review_id=int(reply.data["id"]),
        event=event,
        published_comments=len(inline),
        dropped_comments=len(moved),
        downgraded=downgraded,
    )
