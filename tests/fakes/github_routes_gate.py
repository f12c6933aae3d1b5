"""Fake GitHub routes for branch protection's and rulesets' required checks (answered strictly as GitHub
does, 403/404 included) and the repository activity log."""

from __future__ import annotations

from typing import Any

from tests.fakes.github_state import ApiError, now_iso
from tests.fakes.github_wire import Ctx, Response, Route, paged, repo_name, route


def required_status_checks(ctx: Ctx, p: dict[str, str]) -> Response:
    repo = ctx.state.repo(repo_name(p))
    if ctx.caller.kind == "installation" and "administration" not in ctx.app.get("permissions", {}):
        raise ApiError(403, "Resource not accessible by integration")
    if (
        ctx.caller.kind != "installation"
        and ctx.state.permission(repo.full_name, ctx.caller.login) != "admin"
    ):
        raise ApiError(404, "Not Found")  # GitHub hides protection from users without admin rights
    protection = ctx.state.protections.get((repo.full_name, p["branch"]))
    if protection is None:
        raise ApiError(404, "Branch not protected")
    if not protection.contexts:
        raise ApiError(404, "Required status checks not enabled")
    url = f"{ctx.render.api}/repos/{repo.full_name}/branches/{p['branch']}/protection/required_status_checks"
    body = {
        "url": url,
        "strict": protection.strict,
        "contexts": list(protection.contexts),
        "contexts_url": f"{url}/contexts",
        "checks": [{"context": name, "app_id": None} for name in protection.contexts],
    }
    return Response(200, body)


def branch_rules(ctx: Ctx, p: dict[str, str]) -> Response:
    repo = ctx.state.repo(repo_name(p))
    rules: list[dict[str, Any]] = []
    for ruleset in ctx.state.rulesets:
        if ruleset.repo == repo.full_name and p["branch"] in ruleset.branches:
            parameters = {
                "required_status_checks": [{"context": name} for name in ruleset.contexts],
                "strict_required_status_checks_policy": ruleset.strict,
            }
            rules.append(
                {
                    "type": "required_status_checks",
                    "ruleset_source_type": "Repository",
                    "ruleset_source": repo.full_name,
                    "ruleset_id": ruleset.id,
                    "parameters": parameters,
                }
            )
    return paged(ctx, rules)


def activity(ctx: Ctx, p: dict[str, str]) -> Response:
    repo = ctx.state.repo(repo_name(p))
    query = ctx.req.query
    direction = query.get("direction", "desc")
    if direction not in ("asc", "desc"):
        raise ApiError(422, "Validation Failed", [{"field": "direction", "code": "invalid"}])
    ref = query.get("ref")
    wanted = None if ref is None else ref if ref.startswith("refs/") else f"refs/heads/{ref}"
    kind = query.get("activity_type")
    items = [
        a
        for a in ctx.state.activities
        if a.repo == repo.full_name and wanted in (None, a.ref) and kind in (None, a.activity_type)
    ]
    items.sort(key=lambda a: a.id, reverse=direction == "desc")
    body = [
        {"id": a.id, "node_id": f"RA_{a.id}", "before": a.before, "after": a.after, "ref": a.ref,
         "timestamp": now_iso(a.at), "activity_type": a.activity_type, "actor": ctx.render.user(a.actor)}
        for a in items
    ]  # fmt: skip
    return paged(ctx, body)


_REPO = "/repos/{owner}/{repo}"
ROUTES: list[Route] = [
    route("GET", _REPO + "/branches/{branch}/protection/required_status_checks", required_status_checks),
    route("GET", _REPO + "/rules/branches/{branch}", branch_rules),
    route("GET", _REPO + "/activity", activity),
]
