"""The guarded call with circuit breakers: over-billed usage, failures that count, open breakers skipped."""

from __future__ import annotations

import contextlib
import random

import pytest

from bot.adapters.memory.breakers import InMemoryCircuitBreakers
from bot.adapters.memory.review_ports import InMemoryBudgetLedger
from bot.adapters.memory.scripted_model import ScriptedModel
from bot.errors import BreakerOpen, ProviderError, UsageOverReservation
from bot.ports import ChatMessage, Completion, CompletionRequest
from bot.retry_policy import RetryPolicy
from bot.review.llm_call import GuardedModel, PricedModel
from guardrails import breaker, budget, deadlines
from guardrails.clock import SystemClock, utc_day
from guardrails.pricing import Price

CLOCK = SystemClock()
PRICE = Price.from_usd(1.0, 2.0)
LIMITS = budget.BudgetLimits(10**6, 10**6, 10**7, 10**7)
SCOPE = budget.BudgetScope("o/r", "o/r#1", 1, "abc")
REQUEST = CompletionRequest((ChatMessage("user", "review this"),), max_tokens=100)


def guarded(*models: ScriptedModel, breakers: InMemoryCircuitBreakers, ledger=None, records=None):
    return GuardedModel(
        [PricedModel(m, PRICE) for m in models], ledger or InMemoryBudgetLedger(), LIMITS, CLOCK,
        call_timeout_s=5.0, retry=RetryPolicy(0, 0.01, 0.05), rng=random.Random(1), breakers=breakers,
        observe=(records.append if records is not None else lambda r: None),
    )  # fmt: skip


def deadline() -> deadlines.Deadline:
    return deadlines.Deadline.after(CLOCK, "review_job", 10.0)


def status(code: int | None) -> ProviderError:
    return ProviderError("boom", provider="p", status_code=code, retryable=False)


async def test_over_billed_usage_is_settled_as_billed_trips_the_breaker_and_calls_no_fallback() -> None:
    ledger, breakers, records = InMemoryBudgetLedger(), InMemoryCircuitBreakers(), []
    primary = ScriptedModel([Completion("{}", 40, 10_000, "m")], model="m", provider="p")
    fallback = ScriptedModel([Completion("{}", 40, 10, "f")], model="f", provider="q")
    model = guarded(primary, fallback, breakers=breakers, ledger=ledger, records=records)

    with pytest.raises(UsageOverReservation) as caught:
        await model.call(REQUEST, SCOPE, deadline())

    billed = PRICE.cost_micro(40, 10_000)
    assert (caught.value.billed_micro, caught.value.call_id) == (billed, records[-1].call_id)
    assert caught.value.reserved_micro < billed and await ledger.used("pr:o/r#1") == billed
    assert "output 10000 tokens > max_tokens 100" in caught.value.message
    assert fallback.requests == []
    [record] = records
    assert (record.outcome, record.breaker, record.cost_micro) == (
        "usage_over_reservation",
        "opened",
        billed,
    )
    [state] = await breakers.states()
    assert (state.name, state.state, state.reason) == ("p/m", breaker.State.OPEN, "usage_over_reservation")


async def test_an_open_breaker_is_skipped_without_a_call_and_the_next_model_answers() -> None:
    breakers, records = InMemoryCircuitBreakers(), []
    await breakers.observe("p/m", "x", breaker.Event.TRIP, "usage_over_reservation")
    primary = ScriptedModel([Completion("{}", 40, 10, "m")], model="m", provider="p")
    fallback = ScriptedModel([Completion("{}", 40, 10, "f")], model="f", provider="q")

    completion, _ = await guarded(primary, fallback, breakers=breakers, records=records).call(
        REQUEST, SCOPE, deadline()
    )

    assert completion.model == "f" and primary.requests == []
    assert [r.outcome for r in records] == ["breaker_open", "ok"] and records[0].cost_micro == 0


async def test_when_every_breaker_is_open_the_call_fails_with_breaker_open_and_costs_nothing() -> None:
    ledger, breakers = InMemoryBudgetLedger(), InMemoryCircuitBreakers()
    await breakers.observe("p/m", "x", breaker.Event.TRIP, "over")

    with pytest.raises(BreakerOpen):
        await guarded(ScriptedModel([], model="m", provider="p"), breakers=breakers, ledger=ledger).call(
            REQUEST, SCOPE, deadline()
        )

    assert await ledger.used(f"day:{utc_day(CLOCK)}") == 0


@pytest.mark.parametrize(
    ("code", "counts"), [(503, True), (None, True), (408, True), (400, False), (429, False)]
)
async def test_which_failures_count_toward_opening_the_breaker(code: int | None, counts: bool) -> None:
    breakers = InMemoryCircuitBreakers(breaker.BreakerPolicy(failure_threshold=1))
    model = ScriptedModel([status(code)], model="m", provider="p")

    with pytest.raises(ProviderError):
        await guarded(model, breakers=breakers).call(REQUEST, SCOPE, deadline())

    assert (not (await breakers.admit("p/m", "next")).allowed) is counts


async def test_an_answer_the_caller_cannot_read_is_returned_and_leaves_the_breaker_alone() -> None:
    # A PR's text can make any model answer garbage: such answers must not open a breaker every PR shares.
    breakers, records = InMemoryCircuitBreakers(breaker.BreakerPolicy(failure_threshold=2)), []
    model = ScriptedModel([Completion("not a review", 40, 10, "m")] * 3, model="m", provider="p")
    guard = guarded(model, breakers=breakers, records=records)

    answers = [
        await guard.call(REQUEST, SCOPE, deadline(), valid=lambda c: c.text.startswith("{")) for _ in "abc"
    ]

    assert [c.text for c, _ in answers] == ["not a review"] * 3
    assert [(r.error, r.breaker) for r in records] == [("invalid output", "none")] * 3
    assert (await breakers.admit("p/m", "next")).allowed


@pytest.mark.parametrize("answer", ["unreadable", "http 400"])
async def test_a_probe_the_provider_answers_closes_the_breaker_instead_of_holding_it(answer: str) -> None:
    breakers = InMemoryCircuitBreakers(breaker.BreakerPolicy(failure_threshold=1, cooldown_s=0.0))
    reply = Completion("not a review", 40, 10, "m") if answer == "unreadable" else status(400)
    guard = guarded(ScriptedModel([status(503), reply], model="m", provider="p"), breakers=breakers)
    with pytest.raises(ProviderError):
        await guard.call(REQUEST, SCOPE, deadline())  # opens the breaker

    with contextlib.suppress(ProviderError):  # the 400 itself goes back to the caller
        await guard.call(REQUEST, SCOPE, deadline(), valid=lambda c: c.text.startswith("{"))  # the probe

    # Answered means alive: the breaker is closed for everyone, not held half-open for the probe's lifetime.
    assert (await breakers.admit("p/m", "someone-else")).allowed
