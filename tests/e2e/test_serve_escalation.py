"""An escalation reaches GitHub: the review that says a human must look, and a failing check, are posted
for the head that escalated (the stored review is published even though the PR now waits for a human)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.entrypoints import serve
from guardrails import lease
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis


def _garbage(request: llm_servers.RecordedRequest) -> llm_servers.Reply:
    return llm_servers.Reply("I would rather not answer in JSON today.")


async def test_an_escalated_review_is_posted_with_a_failing_check(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", _garbage)
    port = h.free_port()
    env = {**h.environment(fake_github, llm, redis_url, tmp_path, port),
           "QUORUM_CONSENSUS__MAX_ROUNDS": "2"}  # fmt: skip
    stopping = asyncio.Event()
    task = asyncio.create_task(serve.serve(h.load_settings(env), poll=False, stopping=stopping))
    daemon = h.Daemon(fake_github, llm, {}, port)
    try:
        await h.wait_until_up(daemon.url)
        number, head = daemon.open_buggy_pull()
        await daemon.deliver("pull_request", h.pr_payload("opened", number, head))

        def posted() -> list:  # type: ignore[type-arg]
            return [r for r in fake_github.reviews(h.REPO, number) if lease.parse_marker(r.body) is not None]

        await h.wait_for(lambda: bool(posted()), what="the escalation's review")
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)

    (review,) = posted()
    assert review.commit_id == head and "human" in review.body
    assert not fake_github.merged(h.REPO, number)
    # A token posts a commit status (check runs are for Apps); the harness runs with a token.
    assert [s.state for s in fake_github.statuses(h.REPO, head)][-1:] == ["failure"]
