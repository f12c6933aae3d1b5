"""A call the provider pause holds back never reached the provider: it tells the circuit breaker nothing.

Seen from outside: what reached the wire-level fake provider, and the breaker as every replica and
`quorum breaker list` see it. The breaker here was opened by another replica; its half-open probe must be
answered by the provider, not by this process's own pause.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from bot import errors
from bot.adapters.llm.openai import OpenAICompatibleModel
from bot.adapters.memory.breakers import InMemoryCircuitBreakers
from bot.adapters.memory.review_ports import InMemoryBudgetLedger
from bot.ports import ChatMessage, CompletionRequest
from bot.retry_policy import RetryPolicy
from bot.review.llm_call import GuardedModel, PricedModel
from guardrails import breaker, budget, deadlines
from guardrails.clock import SystemClock
from guardrails.pricing import Price
from tests.fakes.llm_servers import FakeLLMServer, Reply

PRICE = Price.from_usd(1.0, 2.0)
LIMITS = budget.BudgetLimits(10**9, 10**9, 10**9, 10**9)
SCOPE = budget.BudgetScope("o/r", "o/r#1", 1)
REQUEST = CompletionRequest((ChatMessage("user", "review this"),), max_tokens=100)
NAME = "openai/fake-model"
# The cooldown ends at once; a probe that is never answered would hold the breaker for a minute.
POLICY = breaker.BreakerPolicy(failure_threshold=5, cooldown_s=0.01, probe_ttl_s=60.0)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_a_probe_held_back_by_the_pause_neither_closes_the_breaker_nor_keeps_the_probe(
    http: httpx.AsyncClient,
) -> None:
    clock, breakers = SystemClock(), InMemoryCircuitBreakers(POLICY)
    with FakeLLMServer("openai") as fake:
        model = OpenAICompatibleModel(http, base_url=fake.base_url, model="fake-model", api_key=None)
        guarded = GuardedModel(
            [PricedModel(model, PRICE)], InMemoryBudgetLedger(), LIMITS, clock, call_timeout_s=10.0,
            retry=RetryPolicy(0, 0.01, 0.01), breakers=breakers,
        )  # fmt: skip
        fake.push(Reply(status=429, error_message="slow down", headers={"Retry-After": "1"}))
        with pytest.raises(errors.ProviderError):
            await guarded.call(REQUEST, SCOPE, deadlines.Deadline.after(clock, "review_job", 30))
        # Another replica saw the provider misbehave and opened the breaker; its cooldown is over.
        await breakers.observe(NAME, "another-replica", breaker.Event.TRIP, "usage_over_reservation")
        await asyncio.sleep(0.05)

        with pytest.raises(errors.ProviderError, match="not sent"):
            await guarded.call(REQUEST, SCOPE, deadlines.Deadline.after(clock, "review_job", 30))
        held_back = (await breakers.states())[0]

        await asyncio.sleep(1.1)  # the pause the provider asked for is over
        fake.push(Reply("ok", input_tokens=5, output_tokens=5))
        completion, _cost = await guarded.call(
            REQUEST, SCOPE, deadlines.Deadline.after(clock, "review_job", 30)
        )
        answered = (await breakers.states())[0]
        requests = len(fake.chat_bodies())

    # The held-back probe reached nobody, so it said nothing of the model: the breaker is not closed.
    assert requests == 2
    assert held_back.state is not breaker.State.CLOSED, held_back
    # Its turn was given back: the next call probed at once (not refused for the probe's minute) and the
    # provider's answer closed the breaker.
    assert completion.text == "ok" and answered.state is breaker.State.CLOSED
