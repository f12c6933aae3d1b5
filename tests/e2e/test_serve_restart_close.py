"""A PR closed on GitHub while no `quorum serve` runs is noticed after the restart (no webhook for it)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import state as redis_state
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis


def request_changes(request: llm_servers.RecordedRequest) -> llm_servers.Reply:
    return llm_servers.Reply(h.review_json("request_changes"))


async def test_a_close_made_while_no_replica_ran_is_recorded_after_restart(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    gh = fake_github
    gh.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", request_changes)
    port = h.free_port()
    env = h.environment(gh, llm, redis_url, tmp_path, port)
    daemon = h.Daemon(gh, llm, env, port)
    number, _ = daemon.open_buggy_pull()
    job = f"{h.REPO}#{number}"
    log = tmp_path / "serve.log"
    keys = redis_conn.Keys(env["QUORUM_REDIS__KEY_PREFIX"])

    async def state() -> str:
        client = redis_conn.client(redis_url)
        try:
            record = await redis_state.RedisStateStore(client, keys).load(job)
        finally:
            await client.aclose()
        return "" if record is None else record.state

    async def state_is(expected: str) -> bool:
        return await state() == expected

    first = h.spawn(env, log)
    try:
        await h.wait_until_up(daemon.url, first)
        # No webhook: the reconciler's first pass lists the open PR and reviews it.
        await h.wait_for(lambda: state_is("changes_requested"), timeout=60, what="the first review")
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0, log.read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
    gh.close_pull(h.REPO, number)  # while nothing runs; GitHub never redelivers the missed webhook

    second = h.spawn(env, log)
    try:
        await h.wait_until_up(daemon.url, second)
        await h.wait_for(lambda: state_is("closed"), timeout=30, what="the close noticed after restart")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)

    assert await state() == "closed"
