"""`GET /metrics` of a running `quorum serve`, parsed with prometheus-client's own text parser: what a
review and merge did is counted in the process that did it, and the shared gauges (queue, budget) read
from Redis are the same on every replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.entrypoints import serve
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
Start = Callable[[], Awaitable[h.Daemon]]


async def scrape(daemon: h.Daemon) -> Samples:
    """Every sample of one scrape, keyed by name and sorted labels."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{daemon.url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def scrape_when_idle(daemon: h.Daemon) -> Samples:
    """A scrape once the job has finished (its merge comes a moment before its finish)."""
    scraped: list[Samples] = []

    async def idle() -> bool:
        scraped.append(await scrape(daemon))
        return value(scraped[-1], "quorum_jobs_running") == 0

    await h.wait_for(idle, what="no job running")
    return scraped[-1]


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
async def replicas(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Start, FakeGitHub, llm_servers.FakeLLMServer]]:
    """Starts `quorum serve` replicas sharing one Redis prefix (each on its own port)."""
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", lambda _r: llm_servers.Reply(h.review_json("approve")))
    base = h.environment(fake_github, llm, redis_url, tmp_path, 0)
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start() -> h.Daemon:
        port = h.free_port()
        env = {**base, "QUORUM_SERVER__PORT": str(port)}
        stopping = asyncio.Event()
        task = asyncio.create_task(serve.serve(h.load_settings(env), poll=False, stopping=stopping))
        running.append((stopping, task))
        daemon = h.Daemon(fake_github, llm, env, port)
        await h.wait_until_up(daemon.url)
        return daemon

    yield start, fake_github, llm
    for stopping, task in running:
        stopping.set()
        await asyncio.wait_for(task, 30)


async def test_metrics_after_a_merge_count_what_happened(replicas) -> None:  # type: ignore[no-untyped-def]
    start, gh, llm = replicas
    daemon = await start()
    number, head = daemon.open_buggy_pull()

    await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the merge")
    samples = await scrape_when_idle(daemon)

    calls = len(llm.chat_bodies())
    assert calls == 2
    assert value(samples, "quorum_merges_total", outcome="merged") == 1
    model = {"provider": "openai", "model": "gpt-4o-mini"}
    assert value(samples, "quorum_llm_calls_total", outcome="ok", **model) == calls
    assert value(samples, "quorum_llm_call_duration_seconds_count", **model) == calls
    assert value(samples, "quorum_llm_tokens_total", direction="input", **model) > 0
    cost = value(samples, "quorum_llm_cost_usd_total", **model)
    assert cost > 0
    assert value(samples, "quorum_decisions_total", decision="approved", reason="consensus") == 1
    assert value(samples, "quorum_reviews_published_total", event="APPROVE") == 1
    assert value(samples, "quorum_webhook_deliveries_total", status="202") == 1
    assert value(samples, "quorum_queue_wait_seconds_count") >= 1
    assert value(samples, "quorum_shared_state_up") == 1
    assert value(samples, "quorum_queue_jobs", state="waiting") == 0
    assert value(samples, "quorum_queue_jobs", state="delayed") == 0
    assert value(samples, "quorum_jobs_running") == 0 and value(samples, "quorum_dead_letters") == 0
    spent = value(samples, "quorum_budget_spent_usd", cap="day", scope="all")
    assert spent == pytest.approx(cost) and 0 < spent < value(samples, "quorum_budget_limit_usd", cap="day")
    assert value(samples, "quorum_budget_spent_usd", cap="repo_day", scope=h.REPO) == pytest.approx(cost)
    assert value(samples, "quorum_budget_limit_usd", cap="repo_day") == 50.0
    assert not [key for key in samples if key[0] == "quorum_guardrail_blocks_total"]


async def test_two_replicas_report_the_same_shared_gauges(replicas) -> None:  # type: ignore[no-untyped-def]
    start, gh, _llm = replicas
    one, two = await start(), await start()
    number, head = one.open_buggy_pull()
    await one.deliver("pull_request", h.pr_payload("opened", number, head))
    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the merge")

    first, second = await scrape_when_idle(one), await scrape(two)

    shared = ("quorum_queue_jobs", "quorum_jobs_running", "quorum_dead_letters", "quorum_budget_spent_usd",
              "quorum_budget_limit_usd", "quorum_shared_state_up")  # fmt: skip
    gauges = [{k: v for k, v in samples.items() if k[0] in shared} for samples in (first, second)]
    assert gauges[0] == gauges[1] and value(first, "quorum_budget_spent_usd", cap="day", scope="all") > 0
    merged = [s.get(("quorum_merges_total", (("outcome", "merged"),)), 0.0) for s in (first, second)]
    assert sorted(merged) == [0.0, 1.0]  # counters belong to the process that did the work
