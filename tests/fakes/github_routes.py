"""Fake GitHub routes for repositories, pull requests, files, reviews, comments and contents."""

from __future__ import annotations

import base64
from typing import Any

from tests.fakes import github_git, github_merge, github_reviews
from tests.fakes.github_state import ApiError, Comment, not_found, now_iso, unprocessable
from tests.fakes.github_wire import Ctx, Response, Route, paged, repo_name, route

_LEGACY_PERMISSION = {
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
}


def get_repo(ctx: Ctx, p: dict[str, str]) -> Response:
    return Response(200, ctx.render.repo(ctx.state.repo(repo_name(p))))


def list_pulls(ctx: Ctx, p: dict[str, str]) -> Response:
    name = ctx.state.repo(repo_name(p)).full_name
    wanted = ctx.req.query.get("state", "open")
    base = ctx.req.query.get("base")
    pulls = [
        pull
        for (repo, _), pull in ctx.state.pulls.items()
        if repo == name and wanted in ("all", pull.state) and base in (None, pull.base_ref)
    ]
    pulls.sort(key=lambda pull: pull.number, reverse=ctx.req.query.get("direction", "desc") == "desc")
    return paged(ctx, [ctx.render.pull(pull, full=False) for pull in pulls])


def get_pull(ctx: Ctx, p: dict[str, str]) -> Response:
    return Response(200, ctx.render.pull(ctx.state.pull(repo_name(p), int(p["number"])), full=True))


def pull_files(ctx: Ctx, p: dict[str, str]) -> Response:
    pull = ctx.state.pull(repo_name(p), int(p["number"]))
    repo = ctx.state.repo(pull.repo)
    head = ctx.state.head_sha(pull)
    files = github_git.diff_files(repo.git_dir, ctx.state.base_sha(pull), head)
    return paged(ctx, [ctx.render.file(repo.full_name, diff, head) for diff in files])


def list_reviews(ctx: Ctx, p: dict[str, str]) -> Response:
    reviews = ctx.state.reviews_of(repo_name(p), int(p["number"]))
    ctx.state.pull(repo_name(p), int(p["number"]))
    # a pending review is visible to its author only
    visible = [r for r in reviews if r.state != "PENDING" or r.user == ctx.caller.login]
    return paged(ctx, [ctx.render.review(r) for r in visible])


def get_review(ctx: Ctx, p: dict[str, str]) -> Response:
    return Response(200, ctx.render.review(_review(ctx, p)))


def create_review(ctx: Ctx, p: dict[str, str]) -> Response:
    pull = ctx.state.pull(repo_name(p), int(p["number"]))
    review = github_reviews.create(ctx, pull)
    return Response(200, ctx.render.review(review))


def dismiss_review(ctx: Ctx, p: dict[str, str]) -> Response:
    review = _review(ctx, p)
    message = ctx.req.json_object().get("message")
    if not isinstance(message, str) or not message:
        raise unprocessable("message wasn't supplied.")
    if review.state in ("COMMENTED", "PENDING", "DISMISSED"):
        raise unprocessable(f"Can not dismiss a {review.state.lower()} pull request review")
    review.state = "DISMISSED"
    ctx.state.touch(ctx.state.pull(review.repo, review.number))
    return Response(200, ctx.render.review(review))


def edit_review(ctx: Ctx, p: dict[str, str]) -> Response:
    """`PUT …/reviews/{id}`: only the review's author may change its body, which is required."""
    review = _review(ctx, p)
    body = ctx.req.json_object().get("body")
    if not isinstance(body, str) or not body:
        raise unprocessable({"resource": "PullRequestReview", "code": "missing_field", "field": "body"})
    if review.user.lower() != ctx.caller.login.lower():
        raise ApiError(403, "You can only edit your own pull request reviews")
    review.body = body
    ctx.state.touch(ctx.state.pull(review.repo, review.number))
    return Response(200, ctx.render.review(review))


def _review(ctx: Ctx, p: dict[str, str]) -> Any:
    for review in ctx.state.reviews_of(repo_name(p), int(p["number"])):
        if review.id == int(p["review_id"]):
            return review
    raise not_found()


def review_comments(ctx: Ctx, p: dict[str, str]) -> Response:
    reviews = ctx.state.reviews_of(repo_name(p), int(p["number"]))
    items = [c for r in reviews if r.state != "PENDING" for c in r.comments]
    return paged(ctx, items)


def merge(ctx: Ctx, p: dict[str, str]) -> Response:
    pull = ctx.state.pull(repo_name(p), int(p["number"]))
    sha = github_merge.merge(ctx, pull)
    return Response(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})


def list_comments(ctx: Ctx, p: dict[str, str]) -> Response:
    ctx.state.pull(repo_name(p), int(p["number"]))
    comments = ctx.state.comments_of(repo_name(p), int(p["number"]))
    return paged(ctx, [ctx.render.comment(c) for c in comments])


def create_comment(ctx: Ctx, p: dict[str, str]) -> Response:
    pull = ctx.state.pull(repo_name(p), int(p["number"]))
    body = ctx.req.json_object().get("body")
    if not isinstance(body, str) or not body:
        raise unprocessable({"resource": "IssueComment", "code": "missing_field", "field": "body"})
    comment = Comment(next(ctx.state.ids), pull.repo, pull.number, ctx.caller.login, body, now_iso())
    ctx.state.comments.append(comment)
    ctx.state.touch(pull)
    return Response(201, ctx.render.comment(comment))


def delete_comment(ctx: Ctx, p: dict[str, str]) -> Response:
    """`DELETE …/issues/comments/{id}`: 204; the author may delete it (admins too, not modelled)."""
    name = ctx.state.repo(repo_name(p)).full_name
    for comment in ctx.state.comments:
        if comment.id == int(p["comment_id"]) and comment.repo == name:
            if comment.user.lower() != ctx.caller.login.lower():
                raise ApiError(403, "Must have admin rights to Repository.")
            ctx.state.comments.remove(comment)
            ctx.state.touch(ctx.state.pull(comment.repo, comment.number))
            return Response(204)
    raise not_found()


def contents(ctx: Ctx, p: dict[str, str]) -> Response:
    repo = ctx.state.repo(repo_name(p))
    path = p.get("path", "").strip("/")
    ref = ctx.req.query.get("ref") or repo.default_branch
    sha = github_git.rev(repo.git_dir, ref)
    if sha is None:
        raise ApiError(404, f"No commit found for the ref {ref}")
    data = github_git.read_file(repo.git_dir, sha, path) if path else None
    if data is not None:
        blob = github_git.run(repo.git_dir, "rev-parse", f"{sha}:{path}")
        body = _content(ctx, repo.full_name, ref, path, blob, "file")
        body.update(size=len(data), encoding="base64", content=base64.encodebytes(data).decode())
        return Response(200, body)
    entries = github_git.list_dir(repo.git_dir, sha, path)
    if entries is None:
        raise not_found()
    kinds = {"blob": "file", "tree": "dir", "commit": "submodule"}
    return Response(200, [_content(ctx, repo.full_name, ref, e[2], e[1], kinds[e[0]]) for e in entries])


def _content(ctx: Ctx, full_name: str, ref: str, path: str, sha: str, kind: str) -> dict[str, Any]:
    return {
        "type": kind,
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "size": 0,
        "url": f"{ctx.render.api}/repos/{full_name}/contents/{path}?ref={ref}",
        "html_url": f"{ctx.render.web}/{full_name}/blob/{ref}/{path}",
        "git_url": f"{ctx.render.api}/repos/{full_name}/git/blobs/{sha}",
        "download_url": f"{ctx.render.web}/{full_name}/raw/{ref}/{path}",
    }


def permission(ctx: Ctx, p: dict[str, str]) -> Response:
    role = ctx.state.permission(repo_name(p), p["user"])
    body = {
        "permission": _LEGACY_PERMISSION.get(role, "none"),
        "role_name": role,
        "user": ctx.render.user(p["user"]),
    }
    return Response(200, body)


def is_collaborator(ctx: Ctx, p: dict[str, str]) -> Response:
    repo = ctx.state.repo(repo_name(p))
    if p["user"].lower() in repo.permissions:
        return Response(204)
    raise not_found()


def contributors(ctx: Ctx, p: dict[str, str]) -> Response:
    repo = ctx.state.repo(repo_name(p))
    items = [{**ctx.render.user(login), "contributions": n} for login, n in repo.contributors]
    return paged(ctx, items)


_PULL = "/repos/{owner}/{repo}/pulls/{number:int}"
_ISSUE = "/repos/{owner}/{repo}/issues/{number:int}"
ROUTES: list[Route] = [
    route("GET", "/repos/{owner}/{repo}", get_repo),
    route("GET", "/repos/{owner}/{repo}/pulls", list_pulls),
    route("GET", _PULL, get_pull),
    route("GET", _PULL + "/files", pull_files),
    route("GET", _PULL + "/reviews", list_reviews),
    route("POST", _PULL + "/reviews", create_review),
    route("GET", _PULL + "/reviews/{review_id:int}", get_review),
    route("PUT", _PULL + "/reviews/{review_id:int}", edit_review),
    route("PUT", _PULL + "/reviews/{review_id:int}/dismissals", dismiss_review),
    route("GET", _PULL + "/comments", review_comments),
    route("PUT", _PULL + "/merge", merge),
    route("GET", _ISSUE + "/comments", list_comments),
    route("POST", _ISSUE + "/comments", create_comment),
    route("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id:int}", delete_comment),
    route("GET", "/repos/{owner}/{repo}/contents", contents),
    route("GET", "/repos/{owner}/{repo}/contents/{path:*}", contents),
    route("GET", "/repos/{owner}/{repo}/collaborators/{user}/permission", permission),
    route("GET", "/repos/{owner}/{repo}/collaborators/{user}", is_collaborator),
    route("GET", "/repos/{owner}/{repo}/contributors", contributors),
]
