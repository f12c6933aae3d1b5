"""`quorum serve` with a provider that over-bills: the review escalates after one call, the model's breaker
opens in Redis, and operators hear of it on Discord and in Elasticsearch (with the budget alerts the
billed cost set off)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.adapters.redis import breakers as redis_breakers
from bot.adapters.redis import conn as redis_conn
from bot.entrypoints import serve
from guardrails import breaker
from tests.e2e import serve_harness as h
from tests.e2e.test_review_provider_faults import over_billing
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis


async def test_an_over_billing_provider_is_cut_off_and_operators_are_told(
    fake_github: FakeGitHub,
    fake_llm: FakeLLMFactory,
    fake_es,
    redis_url: str,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", over_billing)
    port = h.free_port()
    with FakeDiscord(limit=50) as discord, discord.redirect():
        env = h.environment(fake_github, llm, redis_url, tmp_path, port) | {
            "QUORUM_ELASTICSEARCH__HOSTS": f'["{fake_es.url}"]',
            "QUORUM_ELASTICSEARCH__FLUSH_INTERVAL_S": "0.2",
            "QUORUM_DISCORD__WEBHOOK_URL": discord.webhook_url,
            "QUORUM_BUDGET__PER_PR_USD": "0.05",
        }  # fmt: skip
        settings = h.load_settings(env)
        stopping = asyncio.Event()
        task = asyncio.create_task(serve.serve(settings, poll=False, stopping=stopping))
        daemon = h.Daemon(fake_github, llm, {}, port)
        await h.wait_until_up(daemon.url)
        try:
            number, head = daemon.open_buggy_pull()
            await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
            titles = lambda: [e.get("title", "") for b in discord.delivered for e in b.get("embeds", [])]  # noqa: E731
            await h.wait_for(lambda: any("escalated" in t.lower() for t in titles()), what="the escalation")
            await h.wait_for(lambda: len(fake_es.documents("metrics-quorum.review-*")) > 5, what="documents")
        finally:
            stopping.set()
            await asyncio.wait_for(task, 30)

    assert not fake_github.merged(h.REPO, number) and len(llm.chat_bodies()) == 1
    sent = titles()
    assert (
        "Provider over-billed: openai/gpt-4o-mini" in sent
        and "Circuit breaker open: openai/gpt-4o-mini" in sent
    )
    assert [t for t in sent if t.startswith("Budget:")] == [
        "Budget: 50% of the pr cap reached",
        "Budget: 80% of the pr cap reached",
        "Budget: 100% of the pr cap reached",
    ]  # fmt: skip
    [call] = fake_es.documents("metrics-quorum.llm-*")
    assert (call["quorum"]["outcome"], call["error"]["type"]) == (
        "usage_over_reservation",
        "usage_over_reservation",
    )
    docs = fake_es.documents("metrics-quorum.review-*")
    assert any(d["event"]["action"] == "breaker.state" for d in docs)
    alerts = sorted(d["quorum"]["budget"]["percent"] for d in docs if d["event"]["action"] == "budget.alert")
    assert alerts == [50, 80, 100]
    client = redis_conn.client(redis_url)
    [status] = await redis_breakers.RedisCircuitBreakers(
        client, redis_conn.Keys(settings.redis.key_prefix)
    ).states()
    await client.aclose()
    assert (status.state, status.reason) == (breaker.State.OPEN, "usage_over_reservation")
