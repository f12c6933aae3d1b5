"""A 429 with Retry-After pauses every call to that provider endpoint: parallel parts and other rounds."""

from __future__ import annotations

import json
from pathlib import Path

from bot import pipeline, ports
from bot.bootstrap import review as review_root
from config.settings import load_settings
from guardrails import workspace
from tests.bench.bench_depth import build_change
from tests.fakes.llm_rate_limit import RateLimitOnce
from tests.fakes.llm_servers import FakeLLMServer

APPROVE = json.dumps({"verdict": "approve", "summary": "Looks right.", "confidence": 0.9, "findings": []})
MODEL = "gpt-4o-mini"


async def test_no_call_reaches_a_provider_in_the_pause_it_asked_for(tmp_path: Path) -> None:
    repo = build_change(tmp_path / "repo", 60, 1500).path
    script = RateLimitOnce(APPROVE)
    with FakeLLMServer("openai", script, models=(MODEL,)) as server:
        settings = load_settings(
            None,
            secrets_dirs=[],
            # Several parts a round, four at once, and both approving rounds started together.
            llm={
                "provider": "openai",
                "base_url": server.base_url,
                "model": MODEL,
                "api_key": "sk-test",
                "context_tokens": 8192,
                "retry_base_s": 0.05,
            },
            consensus={"speculative_rounds": True},
            workspace={"state_dir": tmp_path / "state"},
        )
        request = pipeline.ReviewRequest(
            workspace.RepoSource(str(repo), repo.name), "HEAD", "HEAD~1", job_id="pause"
        )
        async with review_root.local_review(settings, ports.NO_PROGRESS) as (deps, _observed):
            outcome = await pipeline.review(request, deps)
        posts = [r for r in server.requests if r.method == "POST"]

    _start, end = script.pause()
    assert script.arrived_in_pause() == []
    # The pause held back calls that were waiting to be sent: the review was not over before it ended.
    assert any(r.received_at >= end for r in posts) and len(posts) > 8
    assert outcome.decision.value == "approved"
