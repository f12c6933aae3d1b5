"""Provider faults with real processes on one real redis-server: an over-billing provider under 50
concurrent spenders, a breaker opening, probing and closing across two replicas, and budget alerts that
fire exactly once across replicas. Figures are printed (`pytest -s`)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from bot import errors
from bot.adapters.llm.openai import OpenAICompatibleModel
from bot.adapters.memory import review_ports as memory
from bot.adapters.redis import breakers as redis_breakers
from bot.adapters.redis import conn as redis_conn
from bot.ports import ChatMessage, CompletionRequest
from bot.retry_policy import RetryPolicy
from bot.review.llm_call import GuardedModel, PricedModel
from guardrails import breaker, budget, deadlines
from guardrails.clock import SystemClock
from tests.chaos import provider_faults as faults
from tests.fakes.llm_servers import FakeLLMServer, RecordedRequest, Reply

pytestmark = pytest.mark.redis
KEYS = redis_conn.Keys("quorum")
BREAKER = "openai/fake-model"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    redis = redis_conn.client(redis_url)
    yield redis
    await redis.aclose()


async def counters(client: aioredis.Redis, kind: str) -> dict[str, int]:
    prefix = KEYS("budget", "")
    names = [n async for n in client.scan_iter(match=f"{prefix}{kind}:*")]
    values = await client.mget(names) if names else []
    return {n[len(prefix) :]: int(v) for n, v in zip(names, values, strict=True)}


async def test_an_over_billing_provider_is_cut_off_at_once_and_every_over_billed_call_is_named(
    redis_url: str, client: aioredis.Redis
) -> None:
    provider = faults.Provider(
        over_bills=lambda n: n >= 40 and n % 4 == 0, latency_s=lambda n: 0.1 + (n * 37 % 200) / 1000
    )
    with FakeLLMServer("openai", provider) as fake:
        start = time.time() + 3.0
        procs = [faults.spawn(redis_url, fake.base_url, f"p{i}", start, "--tasks", "25") for i in range(2)]
        lines = await faults.collect(procs)

    figures = faults.over_bill_figures(provider.served)
    outcomes = Counter(line["outcome"] for line in lines if "call" in line)
    print(f"\nover-billing: {figures.line()} outcomes={dict(outcomes)}")
    # No call starts once the first over-billed answer is known, beyond those already on their way.
    assert figures.started_after <= figures.in_flight_then
    assert outcomes["breaker_open"] > 0 and outcomes["ok"] >= 40
    # The report names every call the provider over-billed, and only those.
    flagged = {line["call"] for line in lines if line.get("outcome") == "usage_over_reservation"}
    assert flagged == {s.label for s in provider.served if s.over}
    # The ledger holds what the provider billed, to the micro-dollar.
    billed = sum(s.billed_micro for s in provider.served)
    assert list((await counters(client, "day")).values()) == [billed]
    assert billed > 100 * sum(line["cost"] for line in lines if line.get("outcome") == "ok") / outcomes["ok"]
    [status] = await redis_breakers.RedisCircuitBreakers(client, KEYS).states()
    assert (status.name, status.state, status.reason) == (
        BREAKER,
        breaker.State.OPEN,
        "usage_over_reservation",
    )


class Flaky:
    """A provider that fails with 503 until told otherwise; answers slowly enough to overlap callers."""

    def __init__(self) -> None:
        self.failing = True
        self.chat = 0

    def __call__(self, request: RecordedRequest) -> Reply:
        self.chat += 1
        if self.failing:
            return Reply(status=503, error_message="overloaded")
        return Reply(text="{}", input_tokens=20, output_tokens=5, delay_s=0.3)


def replica(http: httpx.AsyncClient, url: str, redis: aioredis.Redis, cooldown_s: float) -> GuardedModel:
    policy = breaker.BreakerPolicy(failure_threshold=3, cooldown_s=cooldown_s, probe_ttl_s=30.0)
    llm = OpenAICompatibleModel(http, base_url=url, model="fake-model", api_key=None)
    return GuardedModel(
        [PricedModel(llm, faults.PRICE)], memory.InMemoryBudgetLedger(),
        budget.BudgetLimits(10**9, 10**9, 10**9, 10**9), SystemClock(), call_timeout_s=10.0,
        retry=RetryPolicy(0, 0.01, 0.01), breakers=redis_breakers.RedisCircuitBreakers(redis, KEYS, policy),
    )  # fmt: skip


async def outcome(model: GuardedModel) -> str:
    request = CompletionRequest((ChatMessage("user", "review"),), max_tokens=50)
    try:
        await model.call(
            request, budget.BudgetScope("o/r", "o/r#1", 1), deadlines.Deadline.after(SystemClock(), "job", 30)
        )
    except errors.BreakerOpen:
        return "refused"
    except errors.ProviderError:
        return "failed"
    return "ok"


async def test_a_breaker_opens_probes_once_and_closes_across_two_replicas(redis_url: str) -> None:
    flaky, cooldown = Flaky(), 1.0
    states: list[str] = []
    clients = [redis_conn.client(redis_url), redis_conn.client(redis_url)]
    view = redis_breakers.RedisCircuitBreakers(clients[0], KEYS)

    async def state() -> None:
        found = await view.states()
        states.append(found[0].state.value if found else "closed")

    with FakeLLMServer("openai", flaky) as fake:
        async with httpx.AsyncClient() as http:
            a, b = (replica(http, fake.base_url, c, cooldown) for c in clients)
            failures = [await outcome(a) for _ in range(3)]
            await state()
            refused, reached = await outcome(b), flaky.chat
            await asyncio.sleep(cooldown + 0.1)
            flaky.failing = False
            burst = await asyncio.gather(*(outcome(a if i % 2 else b) for i in range(20)), state())
            probes = flaky.chat - reached
            await state()
            after = await outcome(b)
    for c in clients:
        await c.aclose()

    print(f"\nbreaker: states={states} burst={Counter(burst[:-1])} probes_reaching_provider={probes}")
    assert failures == ["failed"] * 3 and refused == "refused"
    assert probes == 1 and Counter(burst[:-1]) == {"ok": 1, "refused": 19}
    assert states == ["open", "half_open", "closed"] and after == "ok"


async def test_budget_alerts_fire_once_per_threshold_and_period_across_replica_processes(
    redis_url: str, client: aioredis.Redis
) -> None:
    caps = budget.BudgetLimits(per_round=10**9, per_pr=8_000, per_repo_day=30_000, per_day=36_000)
    with FakeLLMServer("openai", faults.Provider(latency_s=lambda n: 0.02)) as fake:
        start = time.time() + 3.0
        procs = [
            faults.spawn(redis_url, fake.base_url, f"p{i}", start, "--tasks", "10", "--caps",
                         *(str(c) for c in (caps.per_round, caps.per_pr, caps.per_repo_day, caps.per_day)))
            for i in range(3)
        ]  # fmt: skip
        lines = await faults.collect(procs)

    fired = Counter((line["alert"]["key"], line["alert"]["percent"]) for line in lines if "alert" in line)
    used = {
        **await counters(client, "pr"),
        **await counters(client, "repo_day"),
        **await counters(client, "day"),
    }
    limit = {"pr": caps.per_pr, "repo_day": caps.per_repo_day, "day": caps.per_day}
    print(f"\nalerts: {len(fired)} fired across 3 processes: {sorted(fired)}")
    assert fired and max(fired.values()) == 1
    # Whatever the counters stand at now, each threshold they passed was announced.
    for key, value in used.items():
        for pct in (50, 80):
            if value * 100 >= pct * limit[key.split(":", 1)[0]]:
                assert (key, pct) in fired, (key, pct, value)
    assert {p for (k, p) in fired if k.startswith("pr:")} >= {50, 80}
