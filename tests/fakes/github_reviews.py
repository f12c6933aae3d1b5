"""Review creation as strict as GitHub: every inline comment on a line of the diff, or the whole review is
refused (422, all or nothing, naming no culprit); no approving or requesting changes on one's own PR.
"""

from __future__ import annotations

from typing import Any

from tests.fakes import github_git
from tests.fakes.github_auth import ACTIONS_LOGIN
from tests.fakes.github_state import Pull, Review, now_iso, unprocessable
from tests.fakes.github_wire import Ctx

EVENTS = {
    "APPROVE": "APPROVED",
    "REQUEST_CHANGES": "CHANGES_REQUESTED",
    "COMMENT": "COMMENTED",
    None: "PENDING",
}
NOT_IN_DIFF = "Pull request review thread line must be part of the diff"
START_NOT_IN_DIFF = "Pull request review thread start line must be part of the diff"
START_AFTER_LINE = "Pull request review thread start line must precede the end line"
BAD_PATH = "Path could not be resolved"
BAD_POSITION = "Pull request review thread position is invalid"


def create(ctx: Ctx, pull: Pull) -> Review:
    """Validate a `POST …/pulls/{n}/reviews` body against the PR at its `commit_id` and record it."""
    data = ctx.req.json_object()
    event = data.get("event")
    if event not in EVENTS:
        raise unprocessable(f"Unknown event: {event}")
    body = data.get("body")
    body = body if isinstance(body, str) else ""
    _check_event(ctx, pull, event, body)
    commit_id = data.get("commit_id") or ctx.state.head_sha(pull)
    commit = ctx.state.resolve(pull.repo, str(commit_id))
    comments = data.get("comments") or []
    if not isinstance(comments, list):
        raise unprocessable("comments must be an array")
    repo = ctx.state.repo(pull.repo)
    files = {f.filename: f for f in github_git.diff_files(repo.git_dir, ctx.state.base_sha(pull), commit)}
    recorded = [_checked_comment(files, item) for item in comments]
    review = Review(
        next(ctx.state.ids), pull.repo, pull.number, ctx.caller.login, EVENTS[event], commit, body, now_iso()
    )
    for item in recorded:
        item.update(
            id=next(ctx.state.ids),
            pull_request_review_id=review.id,
            commit_id=commit,
            original_commit_id=commit,
            user=ctx.render.user(ctx.caller.login),
        )
    review.comments = recorded
    ctx.state.reviews.append(review)
    ctx.state.touch(pull)
    return review


def _check_event(ctx: Ctx, pull: Pull, event: str | None, body: str) -> None:
    own = ctx.caller.login.lower() == pull.author.lower()
    if event == "APPROVE" and ctx.caller.login == ACTIONS_LOGIN and not ctx.state.actions_can_approve:
        # The repository setting "Allow GitHub Actions to create and approve pull requests" is off by default.
        raise unprocessable("GitHub Actions is not permitted to approve pull requests.")
    if own and event == "APPROVE":
        raise unprocessable("Can not approve your own pull request")
    if own and event == "REQUEST_CHANGES":
        raise unprocessable("Can not request changes on your own pull request")
    if event in ("REQUEST_CHANGES", "COMMENT") and not body:
        raise unprocessable(f"Body is required for {event} events")  # the docs: required for these two
    pending = [r for r in ctx.state.reviews_of(pull.repo, pull.number) if r.state == "PENDING"]
    if event is None and any(r.user == ctx.caller.login for r in pending):
        raise unprocessable("User can only have one pending review per pull request")


def _checked_comment(files: dict[str, github_git.FileDiff], item: Any) -> dict[str, Any]:
    """A copy of one comment when it anchors on the diff; 422 otherwise."""
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("body"), str)
        or not isinstance(item.get("path"), str)
    ):
        raise unprocessable("Invalid request: comments need path and body")
    diff = files.get(item["path"])
    if diff is None:
        raise unprocessable(BAD_PATH)
    if "line" not in item:
        position = item.get("position")
        if not isinstance(position, int) or not 1 <= position <= diff.positions:
            raise unprocessable(BAD_POSITION)
        return {k: item[k] for k in ("path", "body", "position")}
    side, line = item.get("side", "RIGHT"), item["line"]
    if side not in ("LEFT", "RIGHT") or not isinstance(line, int):
        raise unprocessable(NOT_IN_DIFF)
    lines = diff.right_lines if side == "RIGHT" else diff.left_lines
    if line not in lines:
        raise unprocessable(NOT_IN_DIFF)
    copy = {"path": item["path"], "body": item["body"], "line": line, "side": side}
    if item.get("start_line") is not None:
        copy.update(_checked_start(diff, item, lines[line], side))
    return copy


def _checked_start(diff: github_git.FileDiff, item: dict[str, Any], hunk: int, side: str) -> dict[str, Any]:
    start, start_side = item["start_line"], item.get("start_side", side)
    if start_side not in ("LEFT", "RIGHT") or not isinstance(start, int):
        raise unprocessable(START_NOT_IN_DIFF)
    lines = diff.right_lines if start_side == "RIGHT" else diff.left_lines
    if lines.get(start) != hunk:
        raise unprocessable(START_NOT_IN_DIFF)
    if start_side == side and start >= item["line"]:
        raise unprocessable(START_AFTER_LINE)
    return {"start_line": start, "start_side": start_side}
