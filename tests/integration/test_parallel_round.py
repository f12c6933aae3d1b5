"""The parts of a round run at once over real HTTP, against the fake provider: bounded, in budget, in
order, and held back together by a rate limit."""

from __future__ import annotations

import json
import random
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from bot import ports
from bot.adapters.llm import openai as llm_openai
from bot.adapters.memory import review_ports as memory
from bot.errors import BudgetExceeded
from bot.retry_policy import RetryPolicy
from bot.review import chunking, diffparse, prompts
from bot.review.llm_call import GuardedModel, PricedModel
from bot.review.rounds import Change, Reviewer, RoundAborted, RoundConfig, RoundRunner
from guardrails import budget, deadlines
from guardrails.clock import SystemClock
from guardrails.pricing import Price
from tests.fakes.llm_servers import FakeLLMServer, RecordedRequest, Reply

CLOCK = SystemClock()
MAX_TOKENS = 400
# Input is free, so every call's reservation is exactly its max_tokens at the output price.
PRICE = Price(0, 1_000_000)
ESTIMATE = MAX_TOKENS
WIDE = budget.BudgetLimits(10**7, 10**7, 10**8, 10**8)
_PART = re.compile(r"m(\d+)\.py")


def diff(files: int) -> bytes:
    """A change adding `files` small modules, each one a part of its own."""
    return "".join(
        f"diff --git a/m{i}.py b/m{i}.py\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/m{i}.py\n@@ -0,0 +1,2 @@\n+def f{i}():\n+    return {i}\n"
        for i in range(files)
    ).encode()


def change(files: int) -> Change:
    parsed = diffparse.parse(diff(files))
    chunks, _ = chunking.build_chunks(parsed, 40)
    assert len(chunks) == files
    return Change("o/r", "o/r#1", tuple(chunks), {f.path: f for f in parsed}, "Add modules")


def part_of(request: RecordedRequest) -> int:
    return int(_PART.findall(json.dumps(request.body["messages"][-1]["content"]))[-1])


def review(request: RecordedRequest, delay_s: float) -> Reply:
    body = {"verdict": "approve", "summary": f"part m{part_of(request)}", "confidence": 0.9, "findings": []}
    return Reply(text=json.dumps(body), delay_s=delay_s)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def runner(
    server: FakeLLMServer,
    client: httpx.AsyncClient,
    *,
    parallel: int,
    limits: budget.BudgetLimits = WIDE,
    retries: int = 0,
) -> RoundRunner:
    model = llm_openai.OpenAICompatibleModel(client, base_url=server.base_url, model="m", api_key="sk-x")
    guarded = GuardedModel(
        [PricedModel(model, PRICE)],
        memory.InMemoryBudgetLedger(),
        limits,
        CLOCK,
        call_timeout_s=20.0,
        retry=RetryPolicy(retries, 0.01, 0.01),
        rng=random.Random(1),
    )
    config = RoundConfig(MAX_TOKENS, 0.0, 10, 60, 30.0, parallel_calls=parallel)
    return RoundRunner(
        prompts.load("review-v1"), [Reviewer("correctness", guarded)], memory.InMemoryQueryCache(),
        CLOCK, config, ports.NO_PROGRESS,
    )  # fmt: skip


async def test_parts_run_at_once_up_to_the_limit_and_merge_in_part_order(fake_llm, client) -> None:
    # The first part answers last: the round still lists the parts in their order.
    server = fake_llm("openai", lambda r: review(r, 0.6 if part_of(r) == 0 else 0.2))
    round_runner = runner(server, client, parallel=4)

    result = await round_runner.run(1, change(6), [], deadlines.Deadline.after(CLOCK, "job", 60))

    assert server.max_in_flight == 4  # bounded by review.parallel_calls, and really concurrent
    assert len(server.chat_bodies()) == 6
    assert result.summary.split("\n\n") == [f"part m{i}" for i in range(6)]
    assert result.verdict.value == "approve" and result.error is None


async def test_one_part_at_a_time_when_the_limit_is_one(fake_llm, client) -> None:
    server = fake_llm("openai", lambda r: review(r, 0.05))

    result = await runner(server, client, parallel=1).run(
        1, change(3), [], deadlines.Deadline.after(CLOCK, "job", 60)
    )

    assert server.max_in_flight == 1
    assert [part_of(r) for r in server.requests] == [0, 1, 2]
    assert result.verdict.value == "approve"


async def test_parallel_calls_that_would_pass_the_round_cap_together_are_refused_before_sending(
    fake_llm, client
) -> None:
    # Room for three reservations: all four parts start at once, and each call is slow enough that
    # none settles before the fourth reserves.
    server = fake_llm("openai", lambda r: review(r, 0.8))
    limits = budget.BudgetLimits(3 * ESTIMATE + ESTIMATE // 2, 10**7, 10**8, 10**8)

    with pytest.raises(RoundAborted) as aborted:
        await runner(server, client, parallel=4, limits=limits).run(
            1, change(4), [], deadlines.Deadline.after(CLOCK, "job", 60)
        )

    assert isinstance(aborted.value.cause, BudgetExceeded)
    assert len(server.chat_bodies()) == 3  # the fourth call never reached the provider
    assert server.max_in_flight == 3
    partial = aborted.value.partial
    assert partial.verdict.value == "none" and partial.usage.cost_micro_usd == 3 * 50  # 50 output tokens


async def test_a_rate_limit_holds_back_every_part_of_the_round(fake_llm, client) -> None:
    server = fake_llm("openai", lambda r: review(r, 0.2))
    server.push(Reply(status=429, headers={"Retry-After": "1"}, error_message="slow down"))

    result = await runner(server, client, parallel=2, retries=2).run(
        1, change(3), [], deadlines.Deadline.after(CLOCK, "job", 60)
    )

    first, second, *later = server.requests
    limited_at = first.received_at
    # The part that was not limited finished at about 0.2 s; the third part then waited for the
    # Retry-After it was never told about, like the retry of the limited part.
    assert later and all(r.received_at - limited_at >= 0.95 for r in later)
    assert second.received_at - limited_at < 0.5
    assert result.verdict.value == "approve"
