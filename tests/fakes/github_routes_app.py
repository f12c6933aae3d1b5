"""Fake GitHub routes for the App (JWT, installations, tokens), users, rate limits, commits, check runs and
commit statuses. Check runs are written by App installation tokens only, as on GitHub.
"""

from __future__ import annotations

import time
from typing import Any

from tests.fakes import github_git
from tests.fakes.github_state import ApiError, CheckRun, Status, not_found, now_iso, unprocessable
from tests.fakes.github_wire import Ctx, Response, Route, paged, repo_name, route

STATUS_STATES = ("error", "failure", "pending", "success")
CHECK_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "timed_out")


def get_app(ctx: Ctx, p: dict[str, str]) -> Response:
    return Response(200, ctx.app)


def _installation(ctx: Ctx) -> dict[str, Any]:
    owners = sorted({r.full_name.split("/")[0] for r in ctx.state.repos.values() if r.installed})
    account = owners[0] if owners else "acme"
    api = ctx.render.api
    return {
        "id": ctx.installation_id,
        "account": ctx.render.user(account),
        "app_id": ctx.app["id"],
        "app_slug": ctx.app["slug"],
        "target_type": "Organization",
        "repository_selection": "selected",
        "permissions": ctx.app["permissions"],
        "events": ctx.app["events"],
        "access_tokens_url": f"{api}/app/installations/{ctx.installation_id}/access_tokens",
        "repositories_url": f"{api}/installation/repositories",
        "html_url": f"{ctx.render.web}/settings/installations/{ctx.installation_id}",
        "created_at": "2024-01-01T00:00:00Z",
        "updated_at": "2024-01-01T00:00:00Z",
    }


def list_installations(ctx: Ctx, p: dict[str, str]) -> Response:
    return paged(ctx, [_installation(ctx)])


def get_installation(ctx: Ctx, p: dict[str, str]) -> Response:
    if int(p["id"]) != ctx.installation_id:
        raise not_found()
    return Response(200, _installation(ctx))


def repo_installation(ctx: Ctx, p: dict[str, str]) -> Response:
    if not ctx.state.repo(repo_name(p)).installed:
        raise not_found()
    return Response(200, _installation(ctx))


def access_token(ctx: Ctx, p: dict[str, str]) -> Response:
    if int(p["id"]) != ctx.installation_id:
        raise not_found()
    token = ctx.auth.issue_installation_token(ctx.installation_id)
    assert token.expires_at is not None
    body = {
        "token": token.value,
        "expires_at": now_iso(token.expires_at),
        "permissions": ctx.app["permissions"],
        "repository_selection": "selected",
    }
    return Response(201, body)


def installation_repos(ctx: Ctx, p: dict[str, str]) -> Response:
    if ctx.caller.kind != "installation":
        raise ApiError(
            403,
            "You must authenticate with an installation access token in order to list repositories "
            "for an installation.",
        )
    repos = sorted((r for r in ctx.state.repos.values() if r.installed), key=lambda r: r.full_name)
    return paged(ctx, [ctx.render.repo(r) for r in repos], key="repositories")


def get_user(ctx: Ctx, p: dict[str, str]) -> Response:
    if ctx.caller.kind != "personal":
        raise ApiError(403, "Resource not accessible by integration")
    return Response(200, {**ctx.render.user(ctx.caller.login), "name": ctx.caller.login})


def rate_limit(ctx: Ctx, p: dict[str, str]) -> Response:
    core = ctx.auth.charge(ctx.caller.token, free=True)
    entry = {
        "limit": int(core["X-RateLimit-Limit"]),
        "remaining": int(core["X-RateLimit-Remaining"]),
        "reset": int(core["X-RateLimit-Reset"]),
        "used": int(core["X-RateLimit-Used"]),
        "resource": "core",
    }
    search = {"limit": 30, "remaining": 30, "reset": int(time.time()) + 60, "used": 0, "resource": "search"}
    return Response(200, {"resources": {"core": entry, "search": search}, "rate": entry})


def get_commit(ctx: Ctx, p: dict[str, str]) -> Response:
    repo = ctx.state.repo(repo_name(p))
    sha = ctx.state.resolve(repo.full_name, p["ref"])
    fields = github_git.run(repo.git_dir, "log", "-1", "--format=%T%n%P%n%an%n%aI%n%B", sha).split("\n", 4)
    tree, parents, author, date, message = [*fields, ""][:5]
    api = f"{ctx.render.api}/repos/{repo.full_name}"
    person = {"name": author, "email": f"{author}@users.noreply.fake-github.invalid", "date": date}
    body = {
        "sha": sha,
        "url": f"{api}/commits/{sha}",
        "html_url": f"{ctx.render.web}/{repo.full_name}/commit/{sha}",
        "commit": {"message": message.strip(), "tree": {"sha": tree}, "author": person, "committer": person},
        "parents": [{"sha": s, "url": f"{api}/commits/{s}"} for s in parents.split()],
    }
    return Response(200, body)


def create_check_run(ctx: Ctx, p: dict[str, str]) -> Response:
    if ctx.caller.kind != "installation":
        raise ApiError(403, "Resource not accessible by personal access token")
    data = ctx.req.json_object()
    name, head_sha = data.get("name"), data.get("head_sha")
    if not isinstance(name, str) or not name or not isinstance(head_sha, str):
        raise unprocessable("name and head_sha are required")
    repo = ctx.state.repo(repo_name(p))
    run = CheckRun(
        next(ctx.state.ids),
        repo.full_name,
        ctx.state.resolve(repo.full_name, head_sha),
        name,
        ctx.app["slug"],
        started_at=now_iso(),
    )
    _apply_check_fields(run, data)
    ctx.state.check_runs.append(run)
    return Response(201, ctx.render.check_run(run, _app_of(ctx, run)))


def update_check_run(ctx: Ctx, p: dict[str, str]) -> Response:
    if ctx.caller.kind != "installation":
        raise ApiError(403, "Resource not accessible by personal access token")
    run = _check_run(ctx, p)
    if run.app_slug != ctx.app["slug"]:
        raise ApiError(
            403, "Invalid app_id `%s` - check run can only be modified by the GitHub App that created it."
        )
    _apply_check_fields(run, ctx.req.json_object())
    return Response(200, ctx.render.check_run(run, _app_of(ctx, run)))


def get_check_run(ctx: Ctx, p: dict[str, str]) -> Response:
    run = _check_run(ctx, p)
    return Response(200, ctx.render.check_run(run, _app_of(ctx, run)))


def _check_run(ctx: Ctx, p: dict[str, str]) -> CheckRun:
    name = ctx.state.repo(repo_name(p)).full_name
    for run in ctx.state.check_runs:
        if run.id == int(p["id"]) and run.repo == name:
            return run
    raise not_found()


def _apply_check_fields(run: CheckRun, data: dict[str, Any]) -> None:
    status, conclusion = data.get("status"), data.get("conclusion")
    if (status is not None and status not in CHECK_STATUSES) or (
        conclusion is not None and conclusion not in CONCLUSIONS
    ):
        raise unprocessable("Invalid status or conclusion")
    if status == "completed" and conclusion is None and run.conclusion is None:
        raise unprocessable("Conclusion is required when status is completed")
    if conclusion is not None:
        run.status, run.conclusion, run.completed_at = (
            "completed",
            conclusion,
            data.get("completed_at") or now_iso(),
        )
    elif status is not None:
        run.status = status
    for key in ("name", "details_url", "external_id", "started_at"):
        if data.get(key) is not None:
            setattr(run, key, data[key])
    if isinstance(data.get("output"), dict):
        run.output = dict(data["output"])


def _app_of(ctx: Ctx, run: CheckRun) -> dict[str, Any]:
    if run.app_slug == ctx.app["slug"]:
        return ctx.app
    return {**ctx.app, "id": sum(run.app_slug.encode()) + 100, "slug": run.app_slug, "name": run.app_slug}


def list_check_runs(ctx: Ctx, p: dict[str, str]) -> Response:
    repo = ctx.state.repo(repo_name(p))
    sha = ctx.state.resolve(repo.full_name, p["ref"])
    runs = [r for r in ctx.state.check_runs if r.repo == repo.full_name and r.head_sha == sha]
    runs.sort(key=lambda r: r.id, reverse=True)
    if ctx.req.query.get("filter", "latest") == "latest":
        latest: dict[str, CheckRun] = {}
        for run in runs:
            latest.setdefault(run.name, run)
        runs = list(latest.values())
    wanted = ctx.req.query.get("check_name")
    runs = [r for r in runs if wanted in (None, r.name)]
    return paged(ctx, [ctx.render.check_run(r, _app_of(ctx, r)) for r in runs], key="check_runs")


def create_status(ctx: Ctx, p: dict[str, str]) -> Response:
    repo = ctx.state.repo(repo_name(p))
    data = ctx.req.json_object()
    if data.get("state") not in STATUS_STATES:
        raise unprocessable(
            {
                "resource": "Status",
                "code": "custom",
                "field": "state",
                "message": "state is not included in the list",
            }
        )
    sha = ctx.state.resolve(repo.full_name, p["sha"])
    status = Status(
        next(ctx.state.ids),
        repo.full_name,
        sha,
        data["state"],
        data.get("context") or "default",
        data.get("description"),
        data.get("target_url"),
        ctx.caller.login,
        now_iso(),
    )
    ctx.state.statuses.append(status)
    return Response(201, ctx.render.status(status))


def _statuses(ctx: Ctx, p: dict[str, str]) -> tuple[str, list[Status]]:
    repo = ctx.state.repo(repo_name(p))
    sha = ctx.state.resolve(repo.full_name, p["ref"])
    found = [s for s in ctx.state.statuses if s.repo == repo.full_name and s.sha == sha]
    return sha, sorted(found, key=lambda s: s.id, reverse=True)


def list_statuses(ctx: Ctx, p: dict[str, str]) -> Response:
    _, found = _statuses(ctx, p)
    return paged(ctx, [ctx.render.status(s) for s in found])


def combined_status(ctx: Ctx, p: dict[str, str]) -> Response:
    sha, found = _statuses(ctx, p)
    latest: dict[str, Status] = {}
    for status in found:
        latest.setdefault(status.context, status)
    states = {s.state for s in latest.values()}
    if states & {"error", "failure"}:
        combined = "failure"
    elif "pending" in states or not states:
        combined = "pending"
    else:
        combined = "success"
    name = repo_name(p)
    body = {
        "state": combined,
        "sha": sha,
        "total_count": len(latest),
        "statuses": [ctx.render.status(s) for s in latest.values()],
        "repository": ctx.render.repo(ctx.state.repo(name)),
        "commit_url": f"{ctx.render.api}/repos/{name}/commits/{sha}",
        "url": f"{ctx.render.api}/repos/{name}/commits/{sha}/status",
    }
    return Response(200, body)


def is_merged(ctx: Ctx, p: dict[str, str]) -> Response:
    if ctx.state.pull(repo_name(p), int(p["number"])).merged:
        return Response(204)
    raise not_found()


_REPO = "/repos/{owner}/{repo}"
ROUTES: list[Route] = [
    route("GET", "/app", get_app, auth="jwt"),
    route("GET", "/app/installations", list_installations, auth="jwt"),
    route("GET", "/app/installations/{id:int}", get_installation, auth="jwt"),
    route("POST", "/app/installations/{id:int}/access_tokens", access_token, auth="jwt"),
    route("GET", _REPO + "/installation", repo_installation, auth="jwt"),
    route("GET", "/installation/repositories", installation_repos),
    route("GET", "/user", get_user),
    route("GET", "/rate_limit", rate_limit, free=True),
    route("GET", _REPO + "/commits/{ref}", get_commit),
    route("GET", _REPO + "/commits/{ref}/check-runs", list_check_runs),
    route("POST", _REPO + "/check-runs", create_check_run),
    route("GET", _REPO + "/check-runs/{id:int}", get_check_run),
    route("PATCH", _REPO + "/check-runs/{id:int}", update_check_run),
    route("POST", _REPO + "/statuses/{sha}", create_status),
    route("GET", _REPO + "/commits/{ref}/statuses", list_statuses),
    route("GET", _REPO + "/statuses/{ref}", list_statuses),  # the older alias PyGithub uses
    route("GET", _REPO + "/commits/{ref}/status", combined_status),
    route("GET", _REPO + "/pulls/{number:int}/merge", is_merged),
]
