"""`quorum serve` as a real process: SIGKILL in the middle of a review, restart, and the PR is still
reviewed and decided, with exactly one review posted; SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest

from guardrails import lease
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis


class SlowApprover:
    """Approves, slowly enough that a review is in flight when the daemon is killed."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.calls = 0
        self.asked = threading.Event()

    def __call__(self, request: llm_servers.RecordedRequest) -> llm_servers.Reply:
        self.calls += 1
        self.asked.set()
        return llm_servers.Reply(h.review_json("approve"), delay_s=self.delay_s)


async def test_sigkill_mid_review_then_restart_reviews_once_and_decides(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    gh = fake_github
    gh.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    script = SlowApprover(delay_s=1.0)
    llm = fake_llm("openai", script)
    port = h.free_port()
    env = h.environment(gh, llm, redis_url, tmp_path, port)
    daemon = h.Daemon(gh, llm, env, port)
    number, head = daemon.open_buggy_pull()
    log = tmp_path / "serve.log"

    first = h.spawn(env, log)
    try:
        await h.wait_until_up(daemon.url, first)
        assert (await daemon.deliver("pull_request", h.pr_payload("opened", number, head))).status_code == 202
        assert script.asked.wait(20)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    assert not gh.merged(h.REPO, number)
    assert [r for r in gh.reviews(h.REPO, number) if lease.parse_marker(r.body)] == []

    second = h.spawn(env, log)
    try:
        await h.wait_until_up(daemon.url, second)
        await h.wait_for(lambda: gh.merged(h.REPO, number), timeout=60, what="the merge after the restart")
        posted = [r for r in gh.reviews(h.REPO, number) if lease.parse_marker(r.body)]
        assert [(r.state, r.commit_id) for r in posted] == [("APPROVED", head)]

        second.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert second.wait(30) == 0, log.read_text()[-3000:]
        assert time.monotonic() - started < 30
    finally:
        if second.poll() is None:
            second.kill()
