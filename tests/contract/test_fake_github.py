"""The fake GitHub driven through PyGithub and raw HTTP: pulls, files, ETags, reviews, merges, contents."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import httpx
import pytest
from github import Auth

from tests.fakes.github_fixtures import module_fake_github  # noqa: F401
from tests.fakes.github_server import FakeGitHub

BASE = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\nf = 6\ng = 7\nh = 8\ni = 9\nj = 10\n"
CHANGED = BASE.replace("b = 2", "b = 20").replace("i = 9", "i = 90")
FAR = "\n".join(f"x{n} = {n}" for n in range(1, 41)) + "\n"  # changed at 5 and 35: two hunks
_SEQ = itertools.count(1)


@pytest.fixture(scope="module")
def gh(module_fake_github: FakeGitHub) -> FakeGitHub:  # noqa: F811
    return module_fake_github


@pytest.fixture
def client(gh: FakeGitHub) -> Iterator[github.Github]:
    g = github.Github(
        base_url=gh.api_url,
        auth=Auth.Token(gh.token),
        retry=None,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )
    yield g
    g.close()


def make_pr(gh: FakeGitHub, name: str, **kw: Any) -> tuple[str, int, str]:
    """A fresh repo `acme/<name>-<n>` with app.py, far.py and README.md, and an open PR changing them."""
    repo = f"acme/{name}-{next(_SEQ)}"
    gh.create_repo(repo, {"app.py": BASE, "far.py": FAR, "README.md": "hello\n"})
    far = FAR.replace("x5 = 5", "x5 = 50").replace("x35 = 35", "x35 = 350")
    sha = gh.push_branch(repo, "feature", {"app.py": CHANGED, "far.py": far, "new.py": "n = 1\n"})
    number = gh.open_pull(repo, "feature", **kw)
    return repo, number, sha


def git_show(gh: FakeGitHub, repo: str, spec: str) -> str:
    done = subprocess.run(
        ["git", "--git-dir", gh.clone_url(repo), "show", spec], capture_output=True, text=True, check=True
    )
    return done.stdout


def test_lists_and_gets_pulls_with_the_fields_pygithub_reads(gh: FakeGitHub, client: github.Github) -> None:
    repo_name, number, sha = make_pr(gh, "listing", labels=["bug"], title="Fix b", body="why")
    gh.push_branch(repo_name, "other", {"x.txt": "x\n"})
    draft = gh.open_pull(repo_name, "other", author="bob", draft=True)

    repo = client.get_repo(repo_name)
    listed = {p.number: p for p in repo.get_pulls(state="open")}
    pr = repo.get_pull(number)

    assert repo.default_branch == "main"
    assert set(listed) == {number, draft}
    assert listed[draft].draft and listed[draft].user.login == "bob"
    assert (pr.head.sha, pr.head.ref, pr.base.ref, pr.base.repo.full_name) == (
        sha,
        "feature",
        "main",
        repo_name,
    )
    assert (pr.title, pr.body, [lb.name for lb in pr.labels], pr.user.type) == (
        "Fix b",
        "why",
        ["bug"],
        "User",
    )
    assert pr.state == "open" and not pr.merged and pr.mergeable is True
    assert pr.html_url.endswith(f"/{repo_name}/pull/{number}")


def test_pull_files_come_from_the_real_diff_and_paginate(gh: FakeGitHub, client: github.Github) -> None:
    repo_name, number, _ = make_pr(gh, "files")

    files = {f.filename: f for f in client.get_repo(repo_name).get_pull(number).get_files()}
    with httpx.Client(headers={"Authorization": f"token {gh.token}"}) as http:
        page = http.get(f"{gh.api_url}/repos/{repo_name}/pulls/{number}/files", params={"per_page": 1})

    assert set(files) == {"app.py", "far.py", "new.py"}
    assert (files["new.py"].status, files["new.py"].additions, files["new.py"].deletions) == ("added", 1, 0)
    assert files["app.py"].patch.startswith("@@ -1,")
    assert "-b = 2\n+b = 20" in files["app.py"].patch
    assert len(page.json()) == 1
    assert 'rel="next"' in page.headers["Link"] and "page=3" in page.headers["Link"]


def test_a_conditional_listing_answers_304_until_a_pr_changes(gh: FakeGitHub, client: github.Github) -> None:
    repo_name, _number, _ = make_pr(gh, "etag")
    url = f"{gh.api_url}/repos/{repo_name}/pulls"

    with httpx.Client(headers={"Authorization": f"token {gh.token}"}) as http:
        first = http.get(url, params={"state": "open"})
        again = http.get(url, params={"state": "open"}, headers={"If-None-Match": first.headers["ETag"]})
        gh.push_branch(repo_name, "feature", {"more.py": "m = 1\n"})
        moved = http.get(url, params={"state": "open"}, headers={"If-None-Match": first.headers["ETag"]})

    assert (first.status_code, again.status_code, moved.status_code) == (200, 304, 200)
    assert again.content == b""
    assert again.headers["X-RateLimit-Used"] == first.headers["X-RateLimit-Used"]  # a 304 is free
    assert moved.headers["ETag"] != first.headers["ETag"]


def test_pygithub_update_is_conditional(gh: FakeGitHub, client: github.Github) -> None:
    repo_name, number, _ = make_pr(gh, "update")
    pr = client.get_repo(repo_name).get_pull(number)

    unchanged = pr.update()
    new_head = gh.push_branch(repo_name, "feature", {"more.py": "m = 1\n"})
    changed = pr.update()

    assert (unchanged, changed) == (False, True)
    assert pr.head.sha == new_head


def test_a_review_with_a_comment_on_a_diff_line_is_recorded(gh: FakeGitHub, client: github.Github) -> None:
    repo_name, number, sha = make_pr(gh, "review-ok")
    repo = client.get_repo(repo_name)
    comments: list[Any] = [
        {"path": "app.py", "line": 2, "side": "RIGHT", "body": "why 20?"},
        {"path": "app.py", "line": 2, "side": "LEFT", "body": "the old value"},
        {"path": "far.py", "start_line": 4, "line": 6, "body": "range"},
    ]

    review = repo.get_pull(number).create_review(
        commit=repo.get_commit(sha), body="<!-- quorum -->", event="REQUEST_CHANGES", comments=comments
    )

    (recorded,) = gh.reviews(repo_name, number)
    assert (review.state, review.commit_id, review.user.login) == ("CHANGES_REQUESTED", sha, gh.login)
    assert (recorded.id, recorded.body, len(recorded.comments)) == (review.id, "<!-- quorum -->", 3)
    assert [r.state for r in repo.get_pull(number).get_reviews()] == ["CHANGES_REQUESTED"]


@pytest.mark.parametrize(
    ("comment", "error"),
    [
        (
            {"path": "far.py", "line": 20, "body": "outside"},
            "Pull request review thread line must be part of the diff",
        ),
        ({"path": "README.md", "line": 1, "body": "unchanged file"}, "Path could not be resolved"),
        ({"path": "new.py", "line": 1, "side": "LEFT", "body": "no left side"}, "must be part of the diff"),
        (
            {"path": "far.py", "start_line": 6, "line": 6, "body": "same"},
            "start line must precede the end line",
        ),
        (
            {"path": "far.py", "start_line": 5, "line": 35, "body": "two hunks"},
            "start line must be part of the diff",
        ),
    ],
)
def test_a_comment_off_the_diff_refuses_the_whole_review(
    gh: FakeGitHub, client: github.Github, comment: Any, error: str
) -> None:
    repo_name, number, sha = make_pr(gh, "off-diff")
    repo = client.get_repo(repo_name)
    good: Any = {"path": "app.py", "line": 2, "body": "fine"}

    with pytest.raises(github.GithubException) as caught:
        repo.get_pull(number).create_review(
            commit=repo.get_commit(sha), body="b", event="COMMENT", comments=[good, comment]
        )

    assert caught.value.status == 422
    assert caught.value.data["message"] == "Unprocessable Entity"
    assert error in caught.value.data["errors"][0]
    assert gh.reviews(repo_name, number) == []


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("APPROVE", "Can not approve your own pull request"),
        ("REQUEST_CHANGES", "Can not request changes on your own pull request"),
    ],
)
def test_the_author_cannot_approve_or_block_their_own_pr(
    gh: FakeGitHub, client: github.Github, event: str, message: str
) -> None:
    repo_name, number, _ = make_pr(gh, "own", author=gh.login)

    with pytest.raises(github.GithubException) as caught:
        client.get_repo(repo_name).get_pull(number).create_review(body="ok", event=event)

    assert (caught.value.status, caught.value.data["errors"]) == (422, [message])
    assert gh.reviews(repo_name, number) == []


def test_a_comment_review_needs_a_body_and_an_old_commit_is_recorded(
    gh: FakeGitHub, client: github.Github
) -> None:
    repo_name, number, old = make_pr(gh, "body-old")
    gh.push_branch(repo_name, "feature", {"more.py": "m = 1\n"})
    pr = client.get_repo(repo_name).get_pull(number)

    with pytest.raises(github.GithubException) as caught:
        pr.create_review(event="COMMENT")
    review = pr.create_review(commit=client.get_repo(repo_name).get_commit(old), body="late", event="APPROVE")

    assert caught.value.status == 422
    assert review.commit_id == old != gh.head_sha(repo_name, number)


def test_a_dismissed_review_shows_dismissed(gh: FakeGitHub, client: github.Github) -> None:
    repo_name, number, _ = make_pr(gh, "dismiss")
    pr = client.get_repo(repo_name).get_pull(number)
    review = pr.create_review(body="no", event="REQUEST_CHANGES")

    review.dismiss("superseded")
    with httpx.Client(headers={"Authorization": f"token {gh.token}"}) as http:
        bare = http.put(
            f"{gh.api_url}/repos/{repo_name}/pulls/{number}/reviews/{review.id}/dismissals", json={}
        )

    assert [r.state for r in gh.reviews(repo_name, number)] == ["DISMISSED"]
    assert bare.status_code == 422


def test_merging_a_stale_head_is_refused_and_merges_nothing(gh: FakeGitHub, client: github.Github) -> None:
    repo_name, number, old = make_pr(gh, "merge-stale")
    gh.push_branch(repo_name, "feature", {"more.py": "m = 1\n"})
    main_before = gh.branch_sha(repo_name, "main")

    with pytest.raises(github.GithubException) as caught:
        client.get_repo(repo_name).get_pull(number).merge(sha=old, merge_method="merge")

    assert caught.value.status == 409
    assert caught.value.data["message"] == "Head branch was modified. Review and try the merge again."
    assert not gh.merged(repo_name, number)
    assert gh.branch_sha(repo_name, "main") == main_before


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_merging_the_current_head_advances_the_base_branch(
    gh: FakeGitHub, client: github.Github, method: str
) -> None:
    repo_name, number, head = make_pr(gh, "merge")
    gh.push_branch(repo_name, "main", {"README.md": "hello again\n"})  # the base moved: no fast-forward

    status = client.get_repo(repo_name).get_pull(number).merge(sha=head, merge_method=method)

    assert status.merged and status.sha == gh.branch_sha(repo_name, "main")
    assert git_show(gh, repo_name, "main:app.py") == CHANGED
    assert git_show(gh, repo_name, "main:README.md") == "hello again\n"
    assert gh.merged(repo_name, number) and gh.pull(repo_name, number).state == "closed"
    assert client.get_repo(repo_name).get_pull(number).merged


def test_an_injected_base_modified_answers_405_once(gh: FakeGitHub, client: github.Github) -> None:
    repo_name, number, head = make_pr(gh, "merge-405")
    gh.base_modified_next(repo_name, number)
    pr = client.get_repo(repo_name).get_pull(number)

    with pytest.raises(github.GithubException) as caught:
        pr.merge(sha=head)
    retried = pr.merge(sha=head)

    assert (caught.value.status, caught.value.data["message"]) == (
        405,
        "Base branch was modified. Review and try the merge again.",
    )
    assert retried.merged


def test_a_conflicting_pr_is_not_mergeable(gh: FakeGitHub, client: github.Github) -> None:
    repo_name, number, head = make_pr(gh, "conflict")
    gh.push_branch(repo_name, "main", {"app.py": BASE.replace("b = 2", "b = 22")})
    pr = client.get_repo(repo_name).get_pull(number)

    with pytest.raises(github.GithubException) as caught:
        pr.merge(sha=head)

    assert pr.mergeable is False
    assert (caught.value.status, caught.value.data["message"]) == (405, "Pull Request is not mergeable")


def test_comments_contents_permissions_and_contributors(gh: FakeGitHub, client: github.Github) -> None:
    repo_name, number, _ = make_pr(gh, "misc")
    gh.set_permission(repo_name, "carol", "maintain")
    gh.set_contributors(repo_name, [f"c{i}" for i in range(45)])
    repo = client.get_repo(repo_name)

    repo.get_pull(number).create_issue_comment("/quorum status")
    text = repo.get_contents("app.py", ref="feature").decoded_content.decode()  # type: ignore[union-attr]
    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("nope.py")

    assert [c.body for c in gh.comments(repo_name, number)] == ["/quorum status"]
    assert text == CHANGED
    assert repo.get_collaborator_permission("carol") == "write"
    assert repo.get_collaborator_role_name("carol") == "maintain"
    assert repo.get_collaborator_permission("stranger") == "read"
    assert repo.get_contributors().totalCount == 45


def test_the_clone_url_is_a_real_repository(gh: FakeGitHub, tmp_path: Path) -> None:
    repo_name, _number, head = make_pr(gh, "clone")
    target = f"{tmp_path}/work"

    subprocess.run(
        ["git", "clone", "--quiet", gh.clone_url(repo_name), target], check=True, capture_output=True
    )
    fetched = subprocess.run(
        ["git", "-C", target, "rev-parse", "origin/feature"], check=True, capture_output=True, text=True
    )

    assert fetched.stdout.strip() == head


def test_unknown_routes_answer_404_json(gh: FakeGitHub) -> None:
    with httpx.Client(headers={"Authorization": f"token {gh.token}"}) as http:
        answer = http.get(f"{gh.api_url}/repos/acme/nothing-here/pulls/1")
        route = http.get(f"{gh.api_url}/no/such/route")

    assert (answer.status_code, answer.json()["message"]) == (404, "Not Found")
    assert (route.status_code, route.json()["message"]) == (404, "Not Found")
    assert ("GET", "/no/such/route", 404) in [(r.method, r.path, r.status) for r in gh.requests]


async def test_concurrent_async_clients_are_served(gh: FakeGitHub) -> None:
    repo_name, number, head = make_pr(gh, "async")

    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {gh.token}"}) as http:
        url = f"{gh.api_url}/repos/{repo_name}/pulls/{number}"
        answers = await asyncio.gather(*(http.get(url) for _ in range(12)))

    assert {a.status_code for a in answers} == {200}
    assert {a.json()["head"]["sha"] for a in answers} == {head}
