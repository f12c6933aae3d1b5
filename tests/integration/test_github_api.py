"""The GitHub adapter against the wire-level fake GitHub: real HTTP over 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot import domain, errors, forge
from bot.adapters.github import api as github_api
from bot.adapters.github import rate as github_rate
from tests.fakes import github_server
from tests.fakes.github_fixtures import fake_github  # noqa: F401 (a fixture)
from tests.support.clock import FakeClock

REPO = "acme/app"
BASE = "".join(f"line {n}\n" for n in range(1, 41))
HEAD = BASE.replace("line 20\n", "line twenty\nline 20b\n")  # changes new lines 20-21 only
COMMENTS = r"/issues/\d+/comments$"


@pytest.fixture
def gh(request: pytest.FixtureRequest) -> github_server.FakeGitHub:
    fake: github_server.FakeGitHub = request.getfixturevalue("fake_github")
    fake.create_repo(REPO, {"app.py": BASE, ".quorum.toml": "[review]\nrounds = 2\n"})
    return fake


def _gate() -> github_rate.RateGate:
    return github_rate.RateGate(write_interval_s=0, max_read_wait_s=5)


@pytest.fixture
async def as_token(gh: github_server.FakeGitHub) -> AsyncIterator[github_api.GitHubClient]:
    client = github_api.GitHubClient.from_token(
        gh.api_url, gh.token, timeout_s=10, gate=_gate(), repositories=[REPO], backoff_s=0.01
    )
    yield client
    await client.aclose()


@pytest.fixture
async def as_app(gh: github_server.FakeGitHub) -> AsyncIterator[github_api.GitHubClient]:
    client = github_api.GitHubClient.from_app(
        gh.api_url, gh.app_id, gh.app_private_key_pem, timeout_s=10, gate=_gate(), refresh_margin_s=1.0
    )
    yield client
    await client.aclose()


def open_pr(gh: github_server.FakeGitHub, branch: str = "feature", author: str = "alice") -> int:
    gh.push_branch(REPO, branch, {"app.py": HEAD}, author=author)
    return gh.open_pull(REPO, branch, author=author)


def sent(gh: github_server.FakeGitHub, method: str, suffix: str) -> list[int]:
    """Statuses of the requests the fake answered for `method` on a path ending with `suffix`."""
    return [r.status for r in gh.requests if r.method == method and r.path.endswith(suffix)]


def finding(line: int, body: str, side: domain.Side = domain.Side.RIGHT) -> domain.Finding:
    return domain.Finding("app.py", line, side, domain.Severity.MAJOR, body)


async def test_token_identity_pull_and_reads(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    number = open_pr(gh)
    gh.set_permission(REPO, "alice", "maintain")

    me = await as_token.identity()
    pr = await as_token.pull(REPO, number)

    assert (me.login, me.is_app) == (gh.login, False)
    assert (pr.number, pr.author, pr.head_sha, pr.state) == (
        number,
        "alice",
        gh.head_sha(REPO, number),
        "open",
    )
    assert await as_token.repositories() == [REPO]
    assert await as_token.changed_files(REPO, number) == [forge.ChangedFile("app.py", 3, "modified")]
    assert await as_token.permission(REPO, "alice") is forge.Permission.MAINTAIN
    assert await as_token.file_text(REPO, ".quorum.toml", "main") == "[review]\nrounds = 2\n"
    assert await as_token.file_text(REPO, "absent.toml", "main") is None


async def test_changed_files_keep_the_status_and_the_old_name_of_a_rename(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    gh.push_branch(REPO, "move", {"app.py": None, "src/app.py": BASE, ".quorum.toml": None, "new.txt": "x\n"})
    number = gh.open_pull(REPO, "move")

    files = await as_token.changed_files(REPO, number)

    assert sorted(files, key=lambda f: f.path) == [
        forge.ChangedFile(".quorum.toml", 2, "removed"),
        forge.ChangedFile("new.txt", 1, "added"),
        forge.ChangedFile("src/app.py", 0, "renamed", previous="app.py"),
    ]


async def test_contributors_stop_paging_past_the_cap(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    gh.set_contributors(REPO, 250)

    assert await as_token.contributors(REPO, cap=5) == 6
    assert len(sent(gh, "GET", "/contributors")) == 1  # one page of 100 was enough
    assert await as_token.contributors(REPO, cap=1000) == 250


async def test_app_identity_access_and_repositories(
    gh: github_server.FakeGitHub, as_app: github_api.GitHubClient
) -> None:
    report = await as_app.access_report(merge=True)

    assert (report.identity.login, report.identity.is_app) == (gh.bot_login, True)
    assert report.ok, report.missing
    assert report.permissions["pull_requests"] == "write"
    assert await as_app.repositories() == [REPO]


async def test_app_installation_token_is_renewed_before_it_expires(gh: github_server.FakeGitHub) -> None:
    clock = FakeClock()
    as_app = github_api.GitHubClient.from_app(
        gh.api_url, gh.app_id, gh.app_private_key_pem, timeout_s=10, gate=_gate(), now=clock.time
    )
    number = open_pr(gh)  # the fake's tokens live an hour; the client renews 60 s before `expires_at`

    await as_app.pull(REPO, number)
    clock.advance(3600 - 61)
    await as_app.pull(REPO, number)
    assert sent(gh, "POST", "/access_tokens") == [201]
    clock.advance(2)
    pr = await as_app.pull(REPO, number)
    await as_app.aclose()

    assert pr.number == number
    assert sent(gh, "POST", "/access_tokens") == [201, 201]
    assert sent(gh, "GET", "/installation") == [200]  # the repository's installation is looked up once


async def test_open_pulls_uses_the_etag(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    number = open_pr(gh)

    first = await as_token.open_pulls(REPO)
    second = await as_token.open_pulls(REPO)
    open_pr(gh, "other")
    third = await as_token.open_pulls(REPO)

    assert first.changed and [p.number for p in first.pulls] == [number]
    assert not second.changed and second.pulls == first.pulls
    assert third.changed and len(third.pulls) == 2
    assert sent(gh, "GET", f"/repos/{REPO}/pulls") == [200, 304, 200]


async def test_review_publishes_valid_comments_and_moves_the_rest(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    number = open_pr(gh)
    draft = forge.ReviewDraft(
        gh.head_sha(REPO, number),
        forge.ReviewEvent.REQUEST_CHANGES,
        "Two findings <!-- quorum:marker -->",
        (finding(20, "inline one"), finding(3, "far from the change")),
    )

    result = await as_token.post_review(REPO, number, draft)

    assert (result.published_comments, result.dropped_comments, result.downgraded) == (1, 1, False)
    (review,) = gh.reviews(REPO, number)
    assert (review.id, review.state) == (result.review_id, "CHANGES_REQUESTED")
    assert [(c["line"], c["body"]) for c in review.comments] == [(20, "inline one")]
    assert "far from the change" in review.body and "quorum:marker" in review.body
    assert sent(gh, "POST", "/reviews") == [200]


async def test_a_refused_review_is_posted_once_more_with_comments_in_the_body(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    number = open_pr(gh)
    gh.fail_next(
        "POST", r"/reviews$", 422, body={"message": "Unprocessable Entity", "errors": ["Validation"]}
    )
    draft = forge.ReviewDraft(gh.head_sha(REPO, number), forge.ReviewEvent.COMMENT, "b", (finding(20, "x"),))

    result = await as_token.post_review(REPO, number, draft)

    assert (result.published_comments, result.dropped_comments) == (0, 1)
    assert sent(gh, "POST", "/reviews") == [422, 200]
    assert gh.review_comments(REPO, number) == []


async def test_approving_ones_own_pull_request_is_downgraded(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    number = open_pr(gh, author=gh.login)
    draft = forge.ReviewDraft(
        gh.head_sha(REPO, number), forge.ReviewEvent.APPROVE, "ok", (finding(21, "nit"),)
    )

    result = await as_token.post_review(REPO, number, draft)
    reviews = await as_token.reviews(REPO, number)

    assert (result.event, result.downgraded, result.published_comments) == (
        forge.ReviewEvent.COMMENT,
        True,
        1,
    )
    assert [(r.state, r.author_is_self) for r in reviews] == [("COMMENTED", True)]


async def test_merge_refuses_a_stale_sha_and_merges_the_current_one(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    number = open_pr(gh)
    old = gh.head_sha(REPO, number)
    gh.push_branch(REPO, "feature", {"app.py": HEAD + "line 41\n"})
    current = gh.head_sha(REPO, number)

    stale = await as_token.merge(REPO, number, old, "squash")
    gh.base_modified_next(REPO, number)
    moved = await as_token.merge(REPO, number, current, "squash")
    merged = await as_token.merge(REPO, number, current, "squash")

    assert stale.outcome is forge.MergeOutcome.STALE_HEAD
    assert moved.outcome is forge.MergeOutcome.BASE_MODIFIED
    assert merged.outcome is forge.MergeOutcome.MERGED and merged.sha == gh.branch_sha(REPO, "main")
    assert gh.merged(REPO, number)


async def test_commit_checks_list_runs_and_statuses_and_mark_quorums_own(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    sha = gh.head_sha(REPO, open_pr(gh))
    gh.set_check(REPO, sha, "build")
    gh.set_status(REPO, sha, "lint", "pending")
    await as_token.set_tally(REPO, sha, forge.TallyState.PENDING, "reviewing", "")

    found = await as_token.commit_checks(REPO, sha)

    assert sorted((r.name, r.state, r.own) for r in found) == [
        ("build", forge.ChecksState.GREEN, False),
        ("lint", forge.ChecksState.PENDING, False),
        ("quorum", forge.ChecksState.PENDING, True),
    ]


async def test_required_checks_come_from_protection_and_rulesets_when_the_token_may_read_them(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient, as_app: github_api.GitHubClient
) -> None:
    open_pr(gh)
    gh.add_ruleset(REPO, ["main"], ["e2e"])
    gh.set_protection(REPO, "main", ["ci/test", "e2e"])
    hidden_from_user = await as_token.required_checks(REPO, "main")  # 404 Not Found: no admin rights
    hidden_from_app = await as_app.required_checks(REPO, "main")  # 403: no Administration permission
    gh.set_permission(REPO, gh.login, "admin")
    readable = await as_token.required_checks(REPO, "main")
    unprotected = await as_token.required_checks(REPO, "feature")  # 404 Branch not protected

    assert hidden_from_user == hidden_from_app == forge.RequiredChecks(("e2e",), complete=False)
    assert readable == forge.RequiredChecks(("ci/test", "e2e"))
    assert unprotected == forge.RequiredChecks()


async def test_head_pushes_come_from_the_activity_log_newest_first(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    first = gh.head_sha(REPO, open_pr(gh))
    second = gh.push_branch(REPO, "feature", {"app.py": HEAD + "line 42\n"}, at=1_800_000_000.0)

    pushes = await as_token.head_pushes(REPO, "feature")

    assert pushes is not None and [p.sha for p in pushes] == [second, first]
    assert pushes[0].at == 1_800_000_000.0
    assert await as_token.head_pushes("acme/missing", "feature") is None


async def test_tally_is_a_check_run_for_the_app_and_a_status_for_a_token(
    gh: github_server.FakeGitHub, as_app: github_api.GitHubClient, as_token: github_api.GitHubClient
) -> None:
    sha = gh.head_sha(REPO, open_pr(gh))

    await as_app.set_tally(REPO, sha, forge.TallyState.SUCCESS, "2/2 approving rounds", "details")
    await as_token.set_tally(REPO, sha, forge.TallyState.PENDING, "round 1 of 2", "details")

    (run,) = gh.check_runs(REPO, sha)
    (status,) = gh.statuses(REPO, sha)
    assert (run.name, run.status, run.conclusion) == ("quorum", "completed", "success")
    assert (status.context, status.state, status.description) == ("quorum", "pending", "round 1 of 2")


async def test_comment_and_dismiss(gh: github_server.FakeGitHub, as_token: github_api.GitHubClient) -> None:
    number = open_pr(gh)
    draft = forge.ReviewDraft(gh.head_sha(REPO, number), forge.ReviewEvent.REQUEST_CHANGES, "blocker")
    posted = await as_token.post_review(REPO, number, draft)

    await as_token.comment(REPO, number, "hello")
    await as_token.dismiss_review(REPO, number, posted.review_id, "superseded")

    assert [c.body for c in gh.comments(REPO, number)] == ["hello"]
    assert [r.state for r in gh.reviews(REPO, number)] == ["DISMISSED"]


async def test_secondary_rate_limit_blocks_later_calls_without_sending(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    number = open_pr(gh)
    gh.secondary_rate_limit_next("POST", COMMENTS, retry_after=42)

    with pytest.raises(errors.RateLimited) as first:
        await as_token.comment(REPO, number, "one")
    with pytest.raises(errors.RateLimited) as second:
        await as_token.comment(REPO, number, "two")
    with pytest.raises(errors.RateLimited):
        await as_token.pull(REPO, number)  # 42 s is past the 5 s a read may wait

    assert first.value.retry_after == 42 and first.value.status_code == 403
    assert second.value.retry_after is not None and 40 < second.value.retry_after <= 42
    assert sent(gh, "POST", "/comments") == [403]
    assert sent(gh, "GET", f"/pulls/{number}") == []
    assert gh.comments(REPO, number) == []


async def test_primary_rate_limit_waits_for_the_reset(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    number = open_pr(gh)
    gh.set_rate_limit(gh.token, 0, reset_in_s=100)

    with pytest.raises(errors.RateLimited) as caught:
        await as_token.pull(REPO, number)

    assert caught.value.retry_after is not None and 95 < caught.value.retry_after <= 102


async def test_a_failed_write_is_not_retried_but_a_failed_read_is(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    number = open_pr(gh)
    gh.fail_next("POST", COMMENTS, 502)
    gh.fail_next("GET", rf"/pulls/{number}$", 502)

    with pytest.raises(errors.GitHubError) as caught:
        await as_token.comment(REPO, number, "once")
    pr = await as_token.pull(REPO, number)

    assert (caught.value.status_code, caught.value.retryable) == (502, False)
    assert sent(gh, "POST", "/comments") == [502]
    assert pr.number == number and sent(gh, "GET", f"/pulls/{number}") == [502, 200]


async def test_a_missing_pull_is_a_permanent_error(as_token: github_api.GitHubClient) -> None:
    with pytest.raises(errors.GitHubError) as caught:
        await as_token.pull(REPO, 999)

    assert (caught.value.status_code, caught.value.retryable) == (404, False)
    assert "ghp_" not in str(caught.value)


def test_the_client_is_both_ports(as_token: github_api.GitHubClient) -> None:
    reader: forge.PullRequestReader = as_token  # mypy checks the structural match
    writer: forge.PullRequestWriter = as_token

    assert callable(reader.open_pulls) and callable(writer.post_review)
