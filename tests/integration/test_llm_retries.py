"""LLM retries seen from outside: what reached a wire-level fake provider, when, and what the budget
ledger was asked to reserve and settle for each attempt."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot import errors
from bot.adapters.llm.openai import OpenAICompatibleModel
from bot.adapters.memory.review_ports import InMemoryBudgetLedger
from bot.ports import ChatMessage, CompletionRequest
from bot.retry_policy import RetryPolicy
from bot.review.llm_call import GuardedModel, PricedModel
from guardrails import budget, deadlines
from guardrails.clock import Clock, SystemClock
from guardrails.pricing import Price
from tests.fakes.llm_servers import FakeLLMServer, Reply
from tests.support.clock import FakeClock

PRICE = Price.from_usd(1.0, 2.0)
LIMITS = budget.BudgetLimits(10**9, 10**9, 10**9, 10**9)
SCOPE = budget.BudgetScope("o/r", "o/r#1", 1)
REQUEST = CompletionRequest((ChatMessage("user", "review this"),), max_tokens=100)
# What one attempt must reserve: the byte bound of its input and the whole output cap, at list price.
ESTIMATE = PRICE.cost_micro(budget.input_tokens_upper_bound(["review this"]), 100)


class SkippingClock(FakeClock):
    """The fake clock whose sleep moves time itself: the retry loop is the only one waiting here."""

    async def sleep(self, seconds: float) -> None:
        await self.skip(seconds)


class Ledger(InMemoryBudgetLedger):
    """The in-memory ledger, noting each reservation with the requests the provider had seen by then."""

    def __init__(self, fake: FakeLLMServer) -> None:
        super().__init__()
        self.fake = fake
        self.reserved: list[tuple[int, int]] = []  # (amount, chat requests the provider saw before it)
        self.settled: list[int] = []

    async def reserve(self, reservation: budget.Reservation) -> budget.BudgetDecision:
        seen = len(self.fake.chat_bodies())
        self.reserved.append((reservation.amount_micro, seen))
        return await super().reserve(reservation)

    async def settle(self, reservation_id: str, actual_micro: int) -> bool:
        self.settled.append(actual_micro)
        return await super().settle(reservation_id, actual_micro)


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer("openai") as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def guarded(
    http: httpx.AsyncClient,
    fake: FakeLLMServer,
    ledger: Ledger,
    clock: Clock,
    *,
    retries: int = 3,
    **kw: object,
) -> GuardedModel:
    model = OpenAICompatibleModel(http, base_url=fake.base_url, model="fake-model", api_key=None)
    return GuardedModel(
        [PricedModel(model, PRICE)], ledger, LIMITS, clock, call_timeout_s=30.0,
        retry=RetryPolicy(retries, 1.0, 30.0), **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def failure(status: int, **headers: str) -> Reply:
    return Reply(status=status, error_message=f"scripted {status}", headers=headers)


async def test_two_503s_then_an_answer_is_three_requests_each_reserved_before_it_is_sent(
    http: httpx.AsyncClient, fake: FakeLLMServer
) -> None:
    fake.push(failure(503), failure(503), Reply("ok", input_tokens=40, output_tokens=10))
    clock, ledger = SkippingClock(), Ledger(fake)
    model = guarded(http, fake, ledger, clock)

    completion, cost = await model.call(REQUEST, SCOPE, deadlines.Deadline.after(clock, "review_job", 600))

    assert completion.text == "ok" and len(fake.chat_bodies()) == 3
    # Each attempt reserved the full bound before its own request left (and after the previous answer).
    assert ledger.reserved == [(ESTIMATE, 0), (ESTIMATE, 1), (ESTIMATE, 2)]
    # The 503s were answers the provider refused to work on: settled at 0; the answer as billed.
    assert ledger.settled == [0, 0, PRICE.cost_micro(40, 10)] and cost == PRICE.cost_micro(40, 10)
    assert await ledger.used("pr:o/r#1") == cost and ledger._open == {}
    # Backed off without a real wait: half to all of 1 s, then of 2 s.
    assert len(clock.slept) == 2 and 0.5 <= clock.slept[0] <= 1.0 and 1.0 <= clock.slept[1] <= 2.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
async def test_a_4xx_other_than_408_or_429_is_sent_once(
    http: httpx.AsyncClient, fake: FakeLLMServer, status: int
) -> None:
    fake.push(failure(status), Reply("never asked for"))
    clock, ledger = SkippingClock(), Ledger(fake)

    with pytest.raises(errors.ProviderError) as raised:
        await guarded(http, fake, ledger, clock).call(
            REQUEST, SCOPE, deadlines.Deadline.after(clock, "review_job", 600)
        )

    assert raised.value.status_code == status
    assert len(fake.chat_bodies()) == 1 and clock.slept == []
    assert ledger.reserved == [(ESTIMATE, 0)] and ledger.settled == [0]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 529])
async def test_a_timeout_a_rate_limit_and_a_5xx_are_retried(
    http: httpx.AsyncClient, fake: FakeLLMServer, status: int
) -> None:
    # `retry-after-ms` keeps the real wait of a 429 (every caller of the model is held back) short.
    fake.push(failure(status, **{"retry-after-ms": "20"}), Reply("ok", input_tokens=40, output_tokens=10))
    clock = SkippingClock()

    completion, _ = await guarded(http, fake, Ledger(fake), clock).call(
        REQUEST, SCOPE, deadlines.Deadline.after(clock, "review_job", 600)
    )

    assert completion.text == "ok" and len(fake.chat_bodies()) == 2


async def test_the_next_request_arrives_no_earlier_than_retry_after_said(
    http: httpx.AsyncClient, fake: FakeLLMServer
) -> None:
    fake.push(failure(503, **{"Retry-After": "1"}), Reply("ok", input_tokens=40, output_tokens=10))
    clock = SystemClock()  # the real clock and sleep: the fake stamps arrivals on the wall

    await guarded(http, fake, Ledger(fake), clock, retries=1).call(
        REQUEST, SCOPE, deadlines.Deadline.after(clock, "review_job", 60)
    )

    first, second = fake.requests
    assert second.received_at - first.received_at >= 1.0


async def test_no_wait_outlives_the_deadline_whatever_the_retries_left(
    http: httpx.AsyncClient, fake: FakeLLMServer
) -> None:
    fake.script = lambda request: failure(503, **{"Retry-After": "20"})
    clock, ledger = SkippingClock(), Ledger(fake)
    started = clock.monotonic()

    with pytest.raises(errors.ProviderError):
        await guarded(http, fake, ledger, clock, retries=10).call(
            REQUEST, SCOPE, deadlines.Deadline.after(clock, "review_job", 50)
        )

    # t=0 and t=20 and t=40 fit in 50 s; a fourth would start at 60: not waited for, not reserved.
    assert len(fake.chat_bodies()) == 3 and len(ledger.reserved) == 3
    assert clock.monotonic() - started == pytest.approx(40.0)
    assert clock.slept == [20.0, 20.0]
