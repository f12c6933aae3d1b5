"""GitHub REST JSON turned into `bot.forge` values, and the combination of check runs and statuses.

Pure functions over decoded JSON: nothing from the API travels past the adapter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


def combine_checks(
    required: Sequence[str], runs: Iterable[Mapping[str, Any]], statuses: Iterable[Mapping[str, Any]]
) -> forge.ChecksReport:
    """Combine check runs (latest per name, by id) and statuses (newest first, as GitHub lists them, so the
    first per context wins) into the state of the `required` names. A name reported both ways needs both."""
    latest_runs: dict[str, Mapping[str, Any]] = {}
    for run in runs:
        name = str(run.get("name"))
        if name not in latest_runs or int(run.get("id") or 0) > int(latest_runs[name].get("id") or 0):
            latest_runs[name] = run
    states: dict[str, list[forge.ChecksState]] = {}
    for name, run in latest_runs.items():
        states.setdefault(name, []).append(_run_state(run))
    seen: set[str] = set()
    for status in statuses:
        context = str(status.get("context"))
        if context not in seen:
            seen.add(context)
            states.setdefault(context, []).append(_status_state(status))
    missing = tuple(name for name in required if name not in states)
    failed = tuple(name for name in required if forge.ChecksState.FAILED in states.get(name, ()))
    if failed:
        return forge.ChecksReport(forge.ChecksState.FAILED, missing=missing, failed=failed)
    pending = any(forge.ChecksState.PENDING in states.get(name, ()) for name in required)
    if missing or pending:
        return forge.ChecksReport(forge.ChecksState.PENDING, missing=missing)
    return forge.ChecksReport(forge.ChecksState.GREEN)
