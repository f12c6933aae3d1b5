"""GitHub REST JSON turned into `bot.forge` values: PRs, reviews, checks, required checks, branch updates.

Pure functions over decoded JSON: nothing from the API travels past the adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bot import forge

_PASSING_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
_FAILED_STATUSES = frozenset({"failure", "error"})


def _login(user: Any) -> str:
    # A deleted account shows as null; GitHub itself calls it "ghost".
    return str(user.get("login") or "ghost") if isinstance(user, dict) else "ghost"


def pull(repo: str, data: Mapping[str, Any]) -> forge.PullRequest:
    """A pull request from `GET /repos/{repo}/pulls/{n}` or one item of the open-PR list."""
    user = data.get("user")
    base = data.get("base") or {}
    head = data.get("head") or {}
    if data.get("merged") or data.get("merged_at"):
        state = forge.PullState.MERGED
    elif data.get("state") == "closed":
        state = forge.PullState.CLOSED
    else:
        state = forge.PullState.OPEN
    return forge.PullRequest(
        repo=repo,
        number=int(data["number"]),
        head_sha=str(head.get("sha") or ""),
        base_ref=str(base.get("ref") or ""),
        base_sha=str(base.get("sha") or ""),
        author=_login(user),
        author_is_bot=isinstance(user, dict) and user.get("type") == "Bot",
        draft=bool(data.get("draft")),
        state=state,
        title=str(data.get("title") or ""),
        body=str(data.get("body") or ""),
        labels=tuple(str(label.get("name")) for label in data.get("labels") or () if isinstance(label, dict)),
        html_url=str(data.get("html_url") or ""),
        default_branch=str((base.get("repo") or {}).get("default_branch") or "main"),
        head_ref=str(head.get("ref") or ""),
        head_repo=str((head.get("repo") or {}).get("full_name") or ""),
        mergeable_state=str(data.get("mergeable_state") or ""),
    )


def review(data: Mapping[str, Any], self_login: str) -> forge.PostedReview:
    """A review from `GET …/pulls/{n}/reviews`; `self_login` is the identity Quorum posts as."""
    author = _login(data.get("user"))
    return forge.PostedReview(
        id=int(data["id"]),
        author=author,
        state=str(data.get("state") or ""),
        commit_sha=str(data.get("commit_id") or ""),
        body=str(data.get("body") or ""),
        author_is_self=author.lower() == self_login.lower(),
    )


def changed_file(data: Mapping[str, Any]) -> forge.ChangedFile:
    """One entry of `…/pulls/{n}/files`; `previous_filename` is present for a rename or a copy."""
    previous = data.get("previous_filename")
    return forge.ChangedFile(
        str(data["filename"]),
        int(data.get("additions", 0)) + int(data.get("deletions", 0)),
        str(data.get("status") or "modified"),
        str(previous) if previous else None,
    )


def permission(data: Mapping[str, Any]) -> forge.Permission:
    """`role_name` (admin, maintain, write, triage, read) when present, else the coarse `permission`."""
    for key in ("role_name", "permission"):
        value = str(data.get(key) or "").lower()
        if value in forge.Permission.__members__.values():
            return forge.Permission(value)
    return forge.Permission.NONE


def _run_state(run: Mapping[str, Any]) -> forge.ChecksState:
    if run.get("status") != "completed":
        return forge.ChecksState.PENDING
    if run.get("conclusion") in _PASSING_CONCLUSIONS:
        return forge.ChecksState.GREEN
    return forge.ChecksState.FAILED


def _status_state(status: Mapping[str, Any]) -> forge.ChecksState:
    state = status.get("state")
    if state == "success":
        return forge.ChecksState.GREEN
    return forge.ChecksState.FAILED if state in _FAILED_STATUSES else forge.ChecksState.PENDING


def check_results(
    runs: Iterable[Mapping[str, Any]],
    statuses: Iterable[Mapping[str, Any]],
    *,
    own_name: str,
    own_login: str,
) -> tuple[forge.CheckResult, ...]:
    """The latest check run per name (by id) and the newest status per context (GitHub lists statuses
    newest first); a name reported both ways gives two results. Quorum's own check (its name, posted by
    its identity: the App's bot or the token's user) is marked `own`."""
    latest: dict[str, Mapping[str, Any]] = {}
    for run in runs:
        name = str(run.get("name"))
        if name not in latest or int(run.get("id") or 0) > int(latest[name].get("id") or 0):
            latest[name] = run
    out: list[forge.CheckResult] = []
    for name, run in latest.items():
        slug = str((run.get("app") or {}).get("slug") or "")
        own = name == own_name and f"{slug}[bot]".lower() == own_login.lower()
        out.append(forge.CheckResult(name, _run_state(run), own=own))
    seen: set[str] = set()
    for status in statuses:
        context = str(status.get("context"))
        if context not in seen:
            seen.add(context)
            own = context == own_name and _login(status.get("creator")).lower() == own_login.lower()
            out.append(forge.CheckResult(context, _status_state(status), own=own))
    return tuple(out)


_NOT_PROTECTED = frozenset({"branch not protected", "required status checks not enabled"})


def protection_checks(status: int, data: Any) -> forge.RequiredChecks:
    """The answer of `GET …/branches/{b}/protection/required_status_checks`: 200 lists the checks; 404
    "Branch not protected" or "Required status checks not enabled" means none; a 403 (no Administration
    permission) or a bare 404 "Not Found" (a user without admin rights) means the list is unknown."""
    if status == 200 and isinstance(data, Mapping):
        names = [str(c) for c in data.get("contexts") or ()]
        names += [str(c.get("context")) for c in data.get("checks") or () if isinstance(c, Mapping)]
        return forge.RequiredChecks(tuple(dict.fromkeys(n for n in names if n)))
    message = str(data.get("message") or "").lower() if isinstance(data, Mapping) else ""
    return forge.RequiredChecks(complete=status == 404 and message in _NOT_PROTECTED)


def ruleset_checks(rules: Any) -> tuple[str, ...]:
    """The `required_status_checks` contexts of `GET …/rules/branches/{b}` (every active ruleset's rules)."""
    names: list[str] = []
    for rule in rules if isinstance(rules, list) else ():
        if isinstance(rule, Mapping) and rule.get("type") == "required_status_checks":
            for check in (rule.get("parameters") or {}).get("required_status_checks") or ():
                if isinstance(check, Mapping) and check.get("context"):
                    names.append(str(check["context"]))
    return tuple(dict.fromkeys(names))


def head_pushes(activities: Any) -> tuple[forge.HeadPush, ...]:
    """Branch updates from `GET …/activity?ref=…` (newest first, as asked), with GitHub's timestamps."""
    out: list[forge.HeadPush] = []
    for item in activities if isinstance(activities, list) else ():
        if isinstance(item, Mapping) and item.get("after") and item.get("timestamp"):
            actor = item.get("actor")
            by = str(actor.get("login") or "") if isinstance(actor, Mapping) else ""
            out.append(forge.HeadPush(str(item["after"]), timestamp(str(item["timestamp"])), by))
    return tuple(out)


def timestamp(text: str) -> float:
    """GitHub's ISO 8601 time (`2026-01-02T03:04:05Z`) as epoch seconds; 0.0 when unreadable."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return parsed.timestamp() if parsed.tzinfo is not None else 0.0
