"""GitHub JSON into forge values: pull requests, reviews, permissions, and the combined state of checks."""

from __future__ import annotations

from typing import Any

from bot import forge
from bot.adapters import github_access, github_convert

GREEN, PENDING, FAILED = forge.ChecksState.GREEN, forge.ChecksState.PENDING, forge.ChecksState.FAILED


def run(
    name: str, run_id: int, status: str = "completed", conclusion: str | None = "success"
) -> dict[str, Any]:
    return {"id": run_id, "name": name, "status": status, "conclusion": conclusion}


def status(context: str, state: str) -> dict[str, Any]:
    return {"context": context, "state": state}


def test_no_required_check_is_green_whatever_runs() -> None:
    report = github_convert.combine_checks([], [run("ci", 1, conclusion="failure")], [])

    assert report == forge.ChecksReport(GREEN)


def test_latest_run_per_name_decides() -> None:
    runs = [run("ci", 2, conclusion="success"), run("ci", 1, conclusion="failure")]

    assert github_convert.combine_checks(["ci"], runs, []).state is GREEN
    assert github_convert.combine_checks(["ci"], list(reversed(runs)), []).state is GREEN


def test_a_failed_cancelled_timed_out_or_error_check_fails() -> None:
    runs = [run("a", 1, conclusion="cancelled"), run("b", 2, conclusion="timed_out"), run("ok", 3)]
    statuses = [status("c", "error"), status("d", "failure")]

    report = github_convert.combine_checks(["a", "b", "c", "d", "ok"], runs, statuses)

    assert report == forge.ChecksReport(FAILED, failed=("a", "b", "c", "d"))


def test_missing_or_running_checks_are_pending() -> None:
    runs = [run("build", 1, status="in_progress", conclusion=None)]

    assert github_convert.combine_checks(["build"], runs, []) == forge.ChecksReport(PENDING)
    assert github_convert.combine_checks(["lint"], runs, []) == forge.ChecksReport(PENDING, missing=("lint",))
    assert github_convert.combine_checks(["ci"], [], [status("ci", "pending")]).state is PENDING


def test_newest_status_per_context_wins_and_skipped_or_neutral_runs_pass() -> None:
    statuses = [status("ci", "success"), status("ci", "failure")]  # GitHub lists newest first
    runs = [run("docs", 1, conclusion="skipped"), run("fmt", 2, conclusion="neutral")]

    assert github_convert.combine_checks(["ci", "docs", "fmt"], runs, statuses).state is GREEN


def test_a_name_reported_as_run_and_status_needs_both_to_pass() -> None:
    report = github_convert.combine_checks(["ci"], [run("ci", 1)], [status("ci", "failure")])

    assert report == forge.ChecksReport(FAILED, failed=("ci",))


def test_pull_maps_state_author_and_branches() -> None:
    data = {
        "number": 7, "state": "closed", "merged_at": "2025-01-01T00:00:00Z", "draft": False, "title": "t",
        "body": None, "user": {"login": "bot[bot]", "type": "Bot"}, "labels": [{"name": "x"}],
        "head": {"sha": "h" * 40, "repo": None},
        "base": {"ref": "main", "sha": "b" * 40, "repo": {"default_branch": "trunk"}},
    }  # fmt: skip

    pr = github_convert.pull("o/r", data)

    assert (pr.number, pr.state, pr.author, pr.author_is_bot) == (7, forge.PullState.MERGED, "bot[bot]", True)
    assert (pr.head_sha, pr.base_ref, pr.base_sha, pr.default_branch) == ("h" * 40, "main", "b" * 40, "trunk")
    assert (pr.body, pr.labels) == ("", ("x",))


def test_review_of_a_deleted_user_and_self_recognition() -> None:
    mine = github_convert.review(
        {"id": 1, "user": {"login": "Quorum[bot]"}, "state": "APPROVED"}, "quorum[bot]"
    )
    ghost = github_convert.review(
        {"id": 2, "user": None, "state": "COMMENTED", "commit_id": "c"}, "quorum[bot]"
    )

    assert mine.author_is_self and not ghost.author_is_self
    assert (ghost.author, ghost.commit_sha) == ("ghost", "c")


def test_permission_prefers_the_fine_role() -> None:
    assert (
        github_convert.permission({"permission": "write", "role_name": "maintain"})
        is forge.Permission.MAINTAIN
    )
    assert github_convert.permission({"permission": "read", "role_name": "custom"}) is forge.Permission.READ
    assert github_convert.permission({}) is forge.Permission.NONE


def test_app_access_names_each_missing_permission_and_event() -> None:
    permissions = {"pull_requests": "write", "contents": "read", "checks": "read", "statuses": "write",
                   "issues": "write", "metadata": "read"}  # fmt: skip
    events = ["pull_request", "issue_comment", "pull_request_review", "check_suite", "check_run"]

    assert github_access.app_missing(permissions, events, merge=False) == (
        "permission checks: read < write",
        "event status",
    )
    assert "permission contents: read < write" in github_access.app_missing(permissions, events, merge=True)


def test_token_access_needs_repo_scope_when_scopes_are_known() -> None:
    assert github_access.token_missing(["repo", "workflow"]) == ()
    assert github_access.token_missing(["read:user"]) != ()
    assert github_access.token_missing(None) == ()  # a fine-grained token reports no scopes
