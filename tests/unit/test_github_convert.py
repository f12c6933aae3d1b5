"""GitHub JSON into forge values: pull requests, reviews, permissions, checks, required checks, pushes."""

from __future__ import annotations

from typing import Any

from bot import forge
from bot.adapters.github import access as github_access
from bot.adapters.github import convert as github_convert

GREEN, PENDING, FAILED = forge.ChecksState.GREEN, forge.ChecksState.PENDING, forge.ChecksState.FAILED


def run(
    name: str, run_id: int, status: str = "completed", conclusion: str | None = "success", slug: str = "ci"
) -> dict[str, Any]:
    return {"id": run_id, "name": name, "status": status, "conclusion": conclusion, "app": {"slug": slug}}


def status(context: str, state: str, creator: str = "ci-bot") -> dict[str, Any]:
    return {"context": context, "state": state, "creator": {"login": creator}}


def results(runs: list[dict[str, Any]], statuses: list[dict[str, Any]], me: str = "quorum[bot]") -> Any:
    return github_convert.check_results(runs, statuses, own_name="quorum", own_login=me)


def states(runs: list[dict[str, Any]], statuses: list[dict[str, Any]]) -> list[tuple[str, forge.ChecksState]]:
    return [(r.name, r.state) for r in results(runs, statuses)]


def test_latest_run_per_name_decides() -> None:
    runs = [run("ci", 2, conclusion="success"), run("ci", 1, conclusion="failure")]

    assert states(runs, []) == [("ci", GREEN)]
    assert states(list(reversed(runs)), []) == [("ci", GREEN)]


def test_a_failed_cancelled_timed_out_or_error_check_fails() -> None:
    runs = [run("a", 1, conclusion="cancelled"), run("b", 2, conclusion="timed_out"), run("ok", 3)]
    found = states(runs, [status("c", "error"), status("d", "failure")])

    assert found == [("a", FAILED), ("b", FAILED), ("ok", GREEN), ("c", FAILED), ("d", FAILED)]


def test_running_checks_and_pending_statuses_are_pending() -> None:
    runs = [run("build", 1, status="in_progress", conclusion=None)]

    assert states(runs, [status("ci", "pending")]) == [("build", PENDING), ("ci", PENDING)]


def test_newest_status_per_context_wins_and_skipped_or_neutral_runs_pass() -> None:
    statuses = [status("ci", "success"), status("ci", "failure")]  # GitHub lists newest first
    runs = [run("docs", 1, conclusion="skipped"), run("fmt", 2, conclusion="neutral")]

    assert states(runs, statuses) == [("docs", GREEN), ("fmt", GREEN), ("ci", GREEN)]


def test_quorums_own_check_is_recognised_by_name_and_author_only() -> None:
    runs = [run("quorum", 1, slug="quorum"), run("quorum", 2, slug="actions")]
    as_app = results([runs[0]], [])
    forged = results([runs[1]], [])
    as_token = results([], [status("quorum", "pending", "quorum-bot")], me="quorum-bot")

    assert [r.own for r in (*as_app, *forged, *as_token)] == [True, False, True]


def test_protection_answers_map_to_required_checks() -> None:
    listed = {
        "contexts": ["ci"],
        "checks": [{"context": "ci", "app_id": None}, {"context": "lint", "app_id": 1}],
    }

    assert github_convert.protection_checks(200, listed) == forge.RequiredChecks(("ci", "lint"))
    none = forge.RequiredChecks()
    assert github_convert.protection_checks(404, {"message": "Branch not protected"}) == none
    assert github_convert.protection_checks(404, {"message": "Required status checks not enabled"}) == none
    unknown = forge.RequiredChecks(complete=False)
    assert github_convert.protection_checks(404, {"message": "Not Found"}) == unknown
    assert (
        github_convert.protection_checks(403, {"message": "Resource not accessible by integration"})
        == unknown
    )


def test_ruleset_checks_and_head_pushes() -> None:
    rules = [
        {"type": "pull_request", "parameters": {}},
        {"type": "required_status_checks", "parameters": {"required_status_checks": [{"context": "e2e"}]}},
    ]
    log = [{"after": "b" * 40, "timestamp": "2027-01-15T08:00:00Z"}, {"after": "a" * 40, "timestamp": "bad"}]

    assert github_convert.ruleset_checks(rules) == ("e2e",)
    assert github_convert.head_pushes(log) == (
        forge.HeadPush("b" * 40, 1_800_000_000.0),
        forge.HeadPush("a" * 40, 0.0),
    )


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
