"""GitHub's write pacing across replicas, seen from the fake GitHub: two `quorum serve` runtimes built by the
real composition root on one token and one Redis never send two content-creating requests less than the
interval apart (https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from bot.adapters.github import rate as github_rate
from bot.bootstrap import serve
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis
WRITES_EACH = 3


@pytest.fixture
async def fake_github(tmp_path: Path) -> AsyncIterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github") as gh:
        gh.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
        gh.push_branch(h.REPO, "change", {"calc.py": h.BUGGY_CALC}, "change")
        assert gh.open_pull(h.REPO, "change", title="Change") == 1
        yield gh


async def test_replicas_on_one_token_space_their_writes_a_full_interval_apart(
    fake_github: FakeGitHub, redis_url: str, tmp_path: Path
) -> None:
    with llm_servers.FakeLLMServer("openai") as llm:
        settings = h.load_settings(h.environment(fake_github, llm, redis_url, tmp_path, h.free_port()))
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
