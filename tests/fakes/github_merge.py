"""`PUT …/pulls/{n}/merge` on the real bare repository: merge commit, squash or rebase, with GitHub's
refusals (409 when the head moved past `sha`, 405 when the PR cannot be merged).
"""

from __future__ import annotations

from pathlib import Path

from tests.fakes import github_gate, github_git
from tests.fakes.github_state import ApiError, Pull, now_iso, unprocessable
from tests.fakes.github_wire import Ctx

HEAD_MODIFIED = "Head branch was modified. Review and try the merge again."
BASE_MODIFIED = "Base branch was modified. Review and try the merge again."
NOT_MERGEABLE = "Pull Request is not mergeable"


def merge(ctx: Ctx, pull: Pull) -> str:
    """Merge the PR, advance its base branch, close it; return the new base tip."""
    data = ctx.req.json_object()
    method = data.get("merge_method", "merge")
    if method not in ("merge", "squash", "rebase"):
        raise unprocessable(f"Invalid merge_method: {method}")
    if pull.state != "open":
        raise ApiError(405, NOT_MERGEABLE)
    if pull.draft:
        raise ApiError(405, "Pull Request is still a draft")
    head, base = ctx.state.head_sha(pull), ctx.state.base_sha(pull)
    if data.get("sha") is not None and data["sha"] != head:
        raise ApiError(409, HEAD_MODIFIED)
    git_dir = ctx.state.repo(pull.repo).git_dir
    tree = github_git.merged_tree(git_dir, base, head)
    if tree is None:
        raise ApiError(405, NOT_MERGEABLE)
    refused = github_gate.merge_refusal(ctx.state, pull, ctx.caller.login)
    if refused is not None:
        raise ApiError(405, refused)
    title = data.get("commit_title") or _default_title(pull, method)
    message = f"{title}\n\n{data.get('commit_message') or pull.title}"
    if method == "merge":
        new = github_git.commit_tree(git_dir, tree, [base, head], message, ctx.caller.login)
    elif method == "squash":
        new = github_git.commit_tree(git_dir, tree, [base], message, ctx.caller.login)
    else:
        new = _rebase(git_dir, base, head)
    github_git.run(git_dir, "update-ref", f"refs/heads/{pull.base_ref}", new, base)
    ctx.state.record_ref(pull.repo, pull.base_ref, base, new, ctx.caller.login, kind="pr_merge")
    stamp = now_iso()
    pull.state, pull.merged, pull.merged_by, pull.merged_at, pull.closed_at = (
        "closed",
        True,
        ctx.caller.login,
        stamp,
        stamp,
    )
    pull.merge_commit_sha, pull.frozen_head, pull.frozen_base, pull.updated_at = new, head, base, stamp
    pull.merge_sha_sent = data.get("sha")
    return new


def _default_title(pull: Pull, method: str) -> str:
    if method == "squash":
        return f"{pull.title} (#{pull.number})"
    owner = pull.repo.split("/")[0]
    return f"Merge pull request #{pull.number} from {owner}/{pull.head_ref}"


def _rebase(git_dir: Path, base: str, head: str) -> str:
    """Replay the PR's commits on the base, one new commit each, as GitHub's rebase merge does."""
    tip = github_git.replay(git_dir, base, head)
    if tip is None:
        raise ApiError(405, NOT_MERGEABLE)
    return tip
