"""The GitHub adapter's transport against the wire-level fake GitHub: where a credential may go, redirects,
and calls from many worker threads at once."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import pytest

from bot import errors
from bot.adapters.github import api as github_api
from bot.adapters.github import rate as github_rate
from tests.fakes import github_server
from tests.fakes.github_fixtures import fake_github  # noqa: F401 (a fixture)

REPO = "acme/app"


class Elsewhere(http.server.ThreadingHTTPServer):
    """A server that is not GitHub: it records each request's path and Authorization and answers `[]`."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.seen.append((self.path, self.headers.get("Authorization", "")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"[]")

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def elsewhere() -> Iterator[Elsewhere]:
    server = Elsewhere()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def gh(request: pytest.FixtureRequest) -> github_server.FakeGitHub:
    fake: github_server.FakeGitHub = request.getfixturevalue("fake_github")
    fake.create_repo(REPO, {"app.py": "x = 1\n"})
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


def sent(gh: github_server.FakeGitHub, method: str, suffix: str) -> list[int]:
    return [r.status for r in gh.requests if r.method == method and r.path.endswith(suffix)]


async def test_a_next_link_to_another_server_is_refused_and_gets_no_credential(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient, elsewhere: Elsewhere
) -> None:
    link = f'<{elsewhere.url}/api/v3/repos/{REPO}/contributors?page=2>; rel="next"'
    gh.fail_next("GET", "/contributors$", 200, headers={"Link": link}, body=[{"login": "dev1"}])

    with pytest.raises(errors.GitHubError) as caught:
        await as_token.contributors(REPO, cap=1000)

    assert elsewhere.seen == []
    assert sent(gh, "GET", "/contributors") == [200]  # the link was not followed to GitHub either
    assert caught.value.retryable is False and gh.token not in str(caught.value)


async def test_a_redirect_to_another_server_is_refused_and_gets_no_credential(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient, elsewhere: Elsewhere
) -> None:
    target = f"{elsewhere.url}/api/v3/repos/{REPO}"
    gh.fail_next("GET", r"/repos/acme/old$", 301, headers={"Location": target}, body={"message": "Moved"})

    with pytest.raises(errors.GitHubError) as caught:
        await as_token.default_branch("acme/old")

    assert elsewhere.seen == []
    assert caught.value.retryable is False and gh.token not in str(caught.value)


async def test_a_renamed_repository_is_followed_within_github(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    moved = {"message": "Moved Permanently", "url": f"{gh.api_url}/repos/{REPO}"}
    gh.fail_next("GET", r"/repos/acme/old$", 301, headers={"Location": moved["url"]}, body=moved)

    assert await as_token.default_branch("acme/old") == "main"
    assert sent(gh, "GET", "/repos/acme/old") == [301] and sent(gh, "GET", f"/repos/{REPO}") == [200]


async def test_concurrent_calls_from_worker_threads_share_one_installation_token(
    gh: github_server.FakeGitHub,
) -> None:
    numbers = []
    for n in range(8):
        gh.push_branch(REPO, f"b{n}", {"app.py": f"x = {n}\n"})
        numbers.append(gh.open_pull(REPO, f"b{n}"))
    client = github_api.GitHubClient.from_app(gh.api_url, gh.app_id, gh.app_private_key_pem, timeout_s=10)
    try:
        pulls = await asyncio.gather(*(client.pull(REPO, n) for n in numbers * 4))
    finally:
        await client.aclose()

    assert [p.number for p in pulls] == numbers * 4
    assert [p.head_sha for p in pulls[:8]] == [gh.head_sha(REPO, n) for n in numbers]
    assert sent(gh, "POST", "/access_tokens") == [201]  # minted once, shared by every thread
    assert all(status == 200 for status in sent(gh, "GET", "") if status != 304)


async def test_concurrent_reads_with_a_token_all_arrive_once(
    gh: github_server.FakeGitHub, as_token: github_api.GitHubClient
) -> None:
    gh.set_contributors(REPO, 250)

    counts = await asyncio.gather(*(as_token.contributors(REPO, cap=1000) for _ in range(12)))

    assert counts == [250] * 12
    assert sent(gh, "GET", "/contributors") == [200] * 36  # three pages each, none lost or repeated


async def test_an_unreachable_github_is_a_retryable_read_and_an_ambiguous_write_without_the_token() -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = "ghp_" + "s3cr3t" * 6
    client = github_api.GitHubClient.from_token(
        f"http://127.0.0.1:{port}/api/v3", token, timeout_s=2, gate=_gate(), backoff_s=0.01
    )
    try:
        with pytest.raises(errors.GitHubError) as read:
            await client.pull(REPO, 1)
        with pytest.raises(errors.GitHubError) as write:
            await client.comment(REPO, 1, "hello")
    finally:
        await client.aclose()

    assert (read.value.retryable, write.value.retryable) == (True, False)
    for caught in (read, write):
        assert token not in str(caught.value) and caught.value.__cause__ is None
        assert "could not complete the request" in str(caught.value)
