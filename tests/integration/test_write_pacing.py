"""GitHub's write pacing across replicas, seen from the fake GitHub: two `quorum serve` runtimes built by the
real composition root on one token and one Redis never send two content-creating requests less than the
interval apart (https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.adapters.github import api as github_api
from bot.adapters.github import rate as github_rate
from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import pacer as redis_pacer
from bot.bootstrap import serve
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.github_server import FakeGitHub

WRITES_EACH = 3


@pytest.fixture
async def fake_github(tmp_path: Path) -> AsyncIterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github") as gh:
        gh.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
        gh.push_branch(h.REPO, "change", {"calc.py": h.BUGGY_CALC}, "change")
        assert gh.open_pull(h.REPO, "change", title="Change") == 1
        yield gh


@pytest.mark.redis
async def test_replicas_on_one_token_space_their_writes_a_full_interval_apart(
    fake_github: FakeGitHub, redis_url: str, tmp_path: Path
) -> None:
    with llm_servers.FakeLLMServer("openai") as llm:
        env = h.environment(fake_github, llm, redis_url, tmp_path, h.free_port())
        settings = h.load_settings({**env, "QUORUM_GITHUB__WRITE_INTERVAL_S": "1.0"})
        async with AsyncExitStack() as stack:
            replicas = [await stack.enter_async_context(serve.runtime(settings)) for _ in range(2)]

            async def comments(i: int) -> list[int]:
                gh = replicas[i].github
                return [await gh.comment(h.REPO, 1, f"replica {i} comment {n}") for n in range(WRITES_EACH)]

            posted = await asyncio.gather(comments(0), comments(1))

    gaps = fake_github.write_gaps()
    assert sum(len(ids) for ids in posted) == 2 * WRITES_EACH
    assert len(fake_github.comments(h.REPO, 1)) == 2 * WRITES_EACH
    [per_token] = gaps.values()
    assert len(per_token) == 2 * WRITES_EACH - 1
    assert min(per_token) >= github_rate.WRITE_INTERVAL_S, sorted(per_token)


async def test_a_replica_whose_redis_is_gone_still_writes_paced_on_its_own_and_says_so_once(
    fake_github: FakeGitHub, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = redis_conn.client(f"redis://127.0.0.1:{h.free_port()}/0", socket_timeout=1.0)
    pacer = redis_pacer.RedisWritePacer(nowhere, redis_conn.Keys("quorum"), fake_github.token)
    client = github_api.GitHubClient.from_token(
        fake_github.api_url, fake_github.token, timeout_s=10, gate=github_rate.RateGate(pacer=pacer)
    )

    with caplog.at_level(logging.WARNING, logger=github_rate.__name__):
        ids = [await client.comment(h.REPO, 1, f"comment {n}") for n in range(3)]
    await client.aclose()
    await nowhere.aclose()

    assert len(ids) == len(fake_github.comments(h.REPO, 1)) == 3
    [gaps] = fake_github.write_gaps().values()
    assert min(gaps) >= github_rate.WRITE_INTERVAL_S
    assert len([r for r in caplog.records if "pacing" in r.getMessage()]) == 1
