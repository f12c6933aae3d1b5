"""GitHub's rate limits across replicas, seen from the fake GitHub: a limit one `quorum serve` replica met
holds back every replica using the credential (reads and writes), and the work completes once it passed
(https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot import errors
from bot.bootstrap import serve
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.github_server import FakeGitHub

RETRY_AFTER_S = 2
COMMENTS = rf"^/repos/{h.REPO}/issues/1/comments$"


@pytest.fixture
async def fake_github(tmp_path: Path) -> AsyncIterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github") as gh:
        gh.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
        gh.push_branch(h.REPO, "change", {"calc.py": h.BUGGY_CALC}, "change")
        assert gh.open_pull(h.REPO, "change", title="Change") == 1
        yield gh


async def until_sent(send: Callable[[], Awaitable[int]]) -> int:
    """What a job does with a write refused by the gate: try again once the limit has passed."""
    while True:
        try:
            return await send()
        except errors.RateLimited as exc:
            await asyncio.sleep(exc.retry_after or 1.0)


@pytest.mark.redis
async def test_a_secondary_limit_met_by_one_replica_holds_back_every_replica_until_retry_after(
    fake_github: FakeGitHub, redis_url: str, tmp_path: Path
) -> None:
    fake_github.secondary_rate_limit_next("POST", COMMENTS, retry_after=RETRY_AFTER_S)
    with llm_servers.FakeLLMServer("openai") as llm:
        settings = h.load_settings(h.environment(fake_github, llm, redis_url, tmp_path, h.free_port()))
        async with AsyncExitStack() as stack:
            first, second = [await stack.enter_async_context(serve.runtime(settings)) for _ in range(2)]
            with pytest.raises(errors.RateLimited):
                await first.github.comment(h.REPO, 1, "first")
            [limited] = [a for a in fake_github.arrivals if a.method == "POST"]

            async def work_of_first() -> None:
                await until_sent(lambda: first.github.comment(h.REPO, 1, "first"))
                await first.github.pull(h.REPO, 1)

            async def work_of_second() -> None:
                await second.github.pull(h.REPO, 1)
                await until_sent(lambda: second.github.comment(h.REPO, 1, "second"))

            await asyncio.gather(work_of_first(), work_of_second())

    later = [a for a in fake_github.arrivals if a.at > limited.at]
    window_end = limited.at + RETRY_AFTER_S
    early = [(a.method, a.path, round(a.at - limited.at, 3)) for a in later if a.at < window_end]
    assert early == []
    assert {a.method for a in later} == {"GET", "POST"}
    assert {a.credential for a in fake_github.arrivals} == {limited.credential}
    assert sorted(c.body for c in fake_github.comments(h.REPO, 1)) == ["first", "second"]


@pytest.mark.redis
async def test_replicas_on_one_token_send_no_more_writes_an_hour_than_the_cap_and_defer_the_rest(
    fake_github: FakeGitHub, redis_url: str, tmp_path: Path
) -> None:
    cap = 3
    with llm_servers.FakeLLMServer("openai") as llm:
        env = h.environment(fake_github, llm, redis_url, tmp_path, h.free_port())
        settings = h.load_settings({**env, "QUORUM_GITHUB__WRITES_PER_HOUR": str(cap)})
        async with AsyncExitStack() as stack:
            replicas = [await stack.enter_async_context(serve.runtime(settings)) for _ in range(2)]

            async def comment(i: int) -> int | errors.RateLimited:
                try:
                    return await replicas[i % 2].github.comment(h.REPO, 1, f"comment {i}")
                except errors.RateLimited as exc:
                    return exc

            started = asyncio.get_running_loop().time()
            outcomes = await asyncio.gather(*(comment(i) for i in range(cap + 2)))
            took = asyncio.get_running_loop().time() - started

    deferred = [o for o in outcomes if isinstance(o, errors.RateLimited)]
    assert len([a for a in fake_github.arrivals if a.method == "POST"]) == cap
    assert len(fake_github.comments(h.REPO, 1)) == cap
    assert len(deferred) == 2
    assert all(o.retryable and (o.retry_after or 0) > 3000 for o in deferred)
    assert took < 30  # deferred at once, not held for the hour
