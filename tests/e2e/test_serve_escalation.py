"""An escalation reaches GitHub: the review that says a human must look, and a failing check, are posted
for the head that escalated (the stored review is published even though the PR now waits for a human)."""

from __future__ import annotations

from pathlib import Path

import pytest

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

    def posted() -> list:  # type: ignore[type-arg]
        return [r for r in fake_github.reviews(h.REPO, number) if lease.parse_marker(r.body) is not None]

    async with h.serving(fake_github, llm, redis_url, tmp_path, QUORUM_CONSENSUS__MAX_ROUNDS="2") as daemon:
        number, head = daemon.open_buggy_pull()
        await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
        await h.wait_for(lambda: bool(posted()), what="the escalation's review")

    (review,) = posted()
    assert review.commit_id == head and "human" in review.body
    assert not fake_github.merged(h.REPO, number)
    # A token posts a commit status (check runs are for Apps); the harness runs with a token.
    assert [s.state for s in fake_github.statuses(h.REPO, head)][-1:] == ["failure"]
