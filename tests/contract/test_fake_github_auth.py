"""The fake GitHub's identities and limits through PyGithub and raw HTTP: tokens, the App's JWT and
installation tokens, check runs and statuses, rate limits and injected failures."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator

import github
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth

from tests.fakes.github_fixtures import fake_github, module_fake_github  # noqa: F401
from tests.fakes.github_server import FakeGitHub

_SEQ = itertools.count(1)
FAST = {"retry": None, "seconds_between_requests": 0, "seconds_between_writes": 0}


@pytest.fixture(scope="module")
def gh(module_fake_github: FakeGitHub) -> FakeGitHub:  # noqa: F811
    return module_fake_github


@pytest.fixture
def clients() -> Iterator[list[github.Github]]:
    """Clients made by a test, closed at teardown."""
    made: list[github.Github] = []
    yield made
    for client in made:
        client.close()


def client(made: list[github.Github], gh: FakeGitHub, auth: Auth.Auth) -> github.Github:
    g = github.Github(base_url=gh.api_url, auth=auth, **FAST)  # type: ignore[arg-type]
    made.append(g)
    return g


def repo_with_head(gh: FakeGitHub) -> tuple[str, str]:
    name = f"acme/auth-{next(_SEQ)}"
    gh.create_repo(name, {"a.txt": "a\n"})
    return name, gh.push_branch(name, "feature", {"a.txt": "b\n"})


def app_jwt(gh: FakeGitHub, *, key: str | None = None, exp_in: int = 300, iss: object = None) -> str:
    now = int(time.time())
    claims = {"iat": now - 60, "exp": now + exp_in, "iss": str(gh.app_id) if iss is None else iss}
    return jwt.encode(claims, key or gh.app_private_key_pem, algorithm="RS256")


def test_the_app_jwt_gets_an_installation_token_that_works(
    gh: FakeGitHub, clients: list[github.Github]
) -> None:
    name, head = repo_with_head(gh)
    app_auth = Auth.AppAuth(gh.app_id, gh.app_private_key_pem)
    integration = github.GithubIntegration(base_url=gh.api_url, auth=app_auth, **FAST)  # type: ignore[arg-type]
    owner, repo = name.split("/")

    app = integration.get_app()
    installation = integration.get_repo_installation(owner, repo)
    token = integration.get_access_token(installation.id)
    installed = client(clients, gh, app_auth.get_installation_auth(installation.id))
    run = installed.get_repo(name).create_check_run("quorum", head, status="completed", conclusion="success")
    installations = [i.id for i in integration.get_installations()]
    integration.close()

    assert (app.id, app.slug, app.permissions["checks"]) == (gh.app_id, gh.app_slug, "write")
    assert "pull_request" in app.events
    assert installations == [gh.installation_id]
    assert token.token.startswith("ghs_") and token.expires_at is not None
    assert (run.conclusion, run.app.slug) == ("success", gh.app_slug)
    assert [r.name for r in gh.check_runs(name, head)] == ["quorum"]


def test_installation_repositories_are_listed_for_an_installation_token(gh: FakeGitHub) -> None:
    name, _ = repo_with_head(gh)
    token = gh.issue_installation_token()

    with httpx.Client(headers={"Authorization": f"token {token}"}) as http:
        listing = http.get(f"{gh.api_url}/installation/repositories", params={"per_page": 100})
        user = http.get(f"{gh.api_url}/user")

    assert name in [r["full_name"] for r in listing.json()["repositories"]]
    assert listing.json()["total_count"] >= 1
    assert (user.status_code, user.json()["message"]) == (403, "Resource not accessible by integration")


def test_an_installation_token_sees_only_installed_repositories(gh: FakeGitHub) -> None:
    name, _ = repo_with_head(gh)
    gh.create_repo("acme/not-installed", installed=False)
    token = gh.issue_installation_token()

    with httpx.Client(headers={"Authorization": f"token {token}"}) as http:
        seen = http.get(f"{gh.api_url}/repos/{name}")
        hidden = http.get(f"{gh.api_url}/repos/acme/not-installed")
        listing = http.get(f"{gh.api_url}/installation/repositories", params={"per_page": 100})

    assert (seen.status_code, hidden.status_code) == (200, 404)
    assert "acme/not-installed" not in [r["full_name"] for r in listing.json()["repositories"]]


def test_an_expired_installation_token_is_refused(fake_github: FakeGitHub) -> None:  # noqa: F811
    fake_github.create_repo("acme/expiry")
    fake_github.installation_token_ttl_s = 0.2
    token = fake_github.issue_installation_token()

    with httpx.Client(headers={"Authorization": f"token {token}"}) as http:
        fresh = http.get(f"{fake_github.api_url}/repos/acme/expiry")
        time.sleep(0.3)
        stale = http.get(f"{fake_github.api_url}/repos/acme/expiry")

    assert fresh.status_code == 200
    assert (stale.status_code, stale.json()["message"]) == (401, "Bad credentials")


def test_pygithub_refreshes_a_short_lived_installation_token(
    fake_github: FakeGitHub,  # noqa: F811
    clients: list[github.Github],
) -> None:
    fake_github.create_repo("acme/refresh")
    fake_github.installation_token_ttl_s = 5  # under PyGithub's 20 s margin: every use refreshes
    auth = Auth.AppAuth(fake_github.app_id, fake_github.app_private_key_pem).get_installation_auth(
        fake_github.installation_id
    )
    g = client(clients, fake_github, auth)

    g.get_repo("acme/refresh")
    g.get_repo("acme/refresh")

    minted = [r for r in fake_github.requests if r.path.endswith("/access_tokens")]
    assert len(minted) >= 2 and all(r.status == 201 for r in minted)


@pytest.mark.parametrize(
    "variant",
    ["foreign key", "too long", "expired", "wrong issuer"],
)
def test_a_bad_jwt_is_refused(gh: FakeGitHub, variant: str) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    token = {
        "foreign key": lambda: app_jwt(gh, key=pem),
        "too long": lambda: app_jwt(gh, exp_in=3600),
        "expired": lambda: app_jwt(gh, exp_in=-10),
        "wrong issuer": lambda: app_jwt(gh, iss="999"),
    }[variant]()

    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as http:
        answer = http.get(f"{gh.api_url}/app")

    assert answer.status_code == 401


def test_app_endpoints_refuse_a_personal_token(gh: FakeGitHub) -> None:
    with httpx.Client(headers={"Authorization": f"token {gh.token}"}) as http:
        answer = http.get(f"{gh.api_url}/app/installations")

    assert (answer.status_code, answer.json()["message"]) == (401, "A JSON web token could not be decoded")


def test_a_personal_token_cannot_create_check_runs_but_can_set_statuses(
    gh: FakeGitHub, clients: list[github.Github]
) -> None:
    name, head = repo_with_head(gh)
    repo = client(clients, gh, Auth.Token(gh.token)).get_repo(name)

    with pytest.raises(github.GithubException) as caught:
        repo.create_check_run("quorum", head, status="completed", conclusion="success")
    repo.get_commit(head).create_status("success", description="3/3 approvals", context="quorum")

    assert (caught.value.status, caught.value.data["message"]) == (
        403,
        "Resource not accessible by personal access token",
    )
    assert gh.check_runs(name, head) == []
    assert [(s.context, s.state, s.creator) for s in gh.statuses(name, head)] == [
        ("quorum", "success", gh.login)
    ]


def test_checks_and_combined_status_read_back(gh: FakeGitHub, clients: list[github.Github]) -> None:
    name, head = repo_with_head(gh)
    gh.set_check(name, head, "build", conclusion="failure")
    gh.set_check(name, head, "build", conclusion="success")  # a re-run: the latest one counts
    gh.set_check(name, head, "lint", status="in_progress")
    gh.set_status(name, head, "ci/legacy", "pending")
    gh.set_status(name, head, "ci/legacy", "success")
    commit = client(clients, gh, Auth.Token(gh.token)).get_repo(name).get_commit(head)

    runs = {r.name: (r.status, r.conclusion) for r in commit.get_check_runs()}
    combined = commit.get_combined_status()

    assert runs == {"build": ("completed", "success"), "lint": ("in_progress", None)}
    assert (combined.state, [s.context for s in combined.statuses]) == ("success", ["ci/legacy"])
    assert [s.state for s in commit.get_statuses()] == ["success", "pending"]


def test_bad_credentials_are_refused(gh: FakeGitHub, clients: list[github.Github]) -> None:
    g = client(clients, gh, Auth.Token("ghp_not_a_token"))

    with pytest.raises(github.BadCredentialsException) as caught:
        g.get_repo("acme/anything")
    with httpx.Client() as http:
        anonymous = http.get(f"{gh.api_url}/rate_limit")

    assert caught.value.data["message"] == "Bad credentials"
    assert anonymous.status_code == 401


def test_an_injected_secondary_rate_limit_answers_once_with_retry_after(gh: FakeGitHub) -> None:
    name, _ = repo_with_head(gh)
    gh.secondary_rate_limit_next("GET", rf"^/repos/{name}$", retry_after=7)

    with httpx.Client(headers={"Authorization": f"token {gh.token}"}) as http:
        limited = http.get(f"{gh.api_url}/repos/{name}")
        then = http.get(f"{gh.api_url}/repos/{name}")

    assert (limited.status_code, limited.headers["Retry-After"]) == (403, "7")
    assert "secondary rate limit" in limited.json()["message"]
    assert then.status_code == 200


def test_injected_server_errors_reach_pygithub(gh: FakeGitHub, clients: list[github.Github]) -> None:
    name, _ = repo_with_head(gh)
    gh.fail_next("GET", rf"^/repos/{name}$", 502, body={"message": "Server Error"})

    with pytest.raises(github.GithubException) as caught:
        client(clients, gh, Auth.Token(gh.token)).get_repo(name)

    assert caught.value.status == 502


def test_rate_limit_headers_count_down_and_a_spent_budget_answers_403(gh: FakeGitHub) -> None:
    gh.add_token("ghp_budget", "budget-user", limit=10)
    gh.set_rate_limit("ghp_budget", 1)

    with httpx.Client(headers={"Authorization": "token ghp_budget"}) as http:
        last = http.get(f"{gh.api_url}/rate_limit")
        user = http.get(f"{gh.api_url}/user")
        spent = http.get(f"{gh.api_url}/user")

    assert last.json()["resources"]["core"]["remaining"] == 1  # /rate_limit itself is free
    assert (user.status_code, user.headers["X-RateLimit-Remaining"], user.headers["X-RateLimit-Used"]) == (
        200,
        "0",
        "10",
    )
    assert spent.status_code == 403 and spent.headers["X-RateLimit-Remaining"] == "0"
    assert spent.json()["message"].startswith("API rate limit exceeded")
    assert all(
        name in user.headers for name in ("X-RateLimit-Limit", "X-RateLimit-Reset", "X-RateLimit-Resource")
    )
