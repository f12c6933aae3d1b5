"""GitHub's hourly cap on content-creating requests, end to end: a review job whose next write would pass
`github.writes_per_hour` sends nothing past the cap, waits in the queue for the window's end without using
up an attempt (a rate limit delays a PR, it never escalates it), and completes once the cap allows (here:
the hour passing is the job's due time moved to now, and a replica configured with GitHub's own cap)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import lua as redis_lua
from bot.adapters.redis.scheduler import RedisScheduler
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import WRITE_METHODS, FakeGitHub

pytestmark = pytest.mark.redis

CAP = 2
QUIET_S = 1.5  # longer than a job takes to reach its next write


def writes(gh: FakeGitHub) -> list[str]:
    return [f"{a.method} {a.path}" for a in gh.arrivals if a.method in WRITE_METHODS]


async def test_a_job_past_the_hourly_write_cap_sends_nothing_more_and_completes_later_from_the_queue(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", lambda _: llm_servers.Reply(h.review_json("approve")))
    shared = {
        "QUORUM_REDIS__KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}",  # one queue across both runs
        "QUORUM_REDIS__JOB_RETRY_BASE_S": "4",
        "QUORUM_REDIS__JOB_RETRY_CAP_S": "4",
    }

    async with h.serving(
        fake_github, llm, redis_url, tmp_path, QUORUM_GITHUB__WRITES_PER_HOUR=str(CAP), **shared
    ) as daemon:
        number, head = daemon.open_buggy_pull()
        assert (await daemon.deliver("pull_request", h.pr_payload("opened", number, head))).status_code == 202
        await h.wait_for(lambda: len(writes(fake_github)) >= CAP, what="the writes up to the cap")
        await asyncio.sleep(QUIET_S)
        capped = writes(fake_github)
        assert not fake_github.merged(h.REPO, number)

    job = f"{h.REPO}#{number}"
    client = redis_conn.client(redis_url)
    try:
        keys = redis_conn.Keys(shared["QUORUM_REDIS__KEY_PREFIX"])
        queue = RedisScheduler(client, keys)
        waiting = {q.job_id: q for q in await queue.queued()}
        assert await queue.dead_letters() == []
        assert waiting[job].delayed and waiting[job].attempts == 0, waiting
        assert waiting[job].due_at - waiting[job].since > 3000  # the hour window's end, not a backoff
        delayed = dict(zip(redis_lua.QUEUE_PARTS, redis_lua.queue_keys(keys), strict=True))["q:delayed"]
        await client.zadd(delayed, {job: 0})  # the hour passes
    finally:
        await client.aclose()

    async with h.serving(fake_github, llm, redis_url, tmp_path, **shared):
        await h.wait_for(lambda: fake_github.merged(h.REPO, number), what="the merge after the retry")

    assert len(capped) == CAP, capped
    reviews = [r for r in fake_github.reviews(h.REPO, number) if r.commit_id == head]
    assert [r.state for r in reviews] == ["APPROVED"]  # retried, nothing posted twice or lost
