"""The guarded call: budget reservation, deadline, retries with backoff, fallback, settlement."""

from __future__ import annotations

import asyncio
import random

import pytest

from bot.adapters.memory.review_ports import InMemoryBudgetLedger
from bot.adapters.memory.scripted_model import ScriptedModel
from bot.errors import BudgetExceeded, DeadlineExceeded, ProviderError
from bot.ports import ChatMessage, Completion, CompletionRequest
from bot.retry_policy import RetryPolicy
from bot.review.llm_call import GuardedModel, PricedModel
from guardrails import budget, deadlines
from guardrails.clock import SystemClock
from guardrails.pricing import Price

CLOCK = SystemClock()
PRICE = Price.from_usd(1.0, 2.0)
LIMITS = budget.BudgetLimits(10**6, 10**6, 10**7, 10**7)
SCOPE = budget.BudgetScope("o/r", "o/r#1", 1)
REQUEST = CompletionRequest((ChatMessage("user", "review this"),), max_tokens=100)


def ok(model: str = "m") -> Completion:
    return Completion('{"verdict": "approve"}', 40, 10, model)


def err(retryable: bool, retry_after: float | None = None, billed: bool = False) -> ProviderError:
    return ProviderError(
        "boom", provider="p", status_code=503, retryable=retryable, retry_after=retry_after, billed=billed
    )


def guarded(*models: ScriptedModel, ledger=None, limits=LIMITS, timeout=5.0, retries=2, records=None):
    return GuardedModel(
        [PricedModel(m, PRICE) for m in models],
        ledger or InMemoryBudgetLedger(),
        limits,
        CLOCK,
        call_timeout_s=timeout,
        retry=RetryPolicy(retries, 0.01, 0.05),
        observe=(records.append if records is not None else lambda r: None),
        rng=random.Random(1),
    )


def deadline(seconds: float = 10.0) -> deadlines.Deadline:
    return deadlines.Deadline.after(CLOCK, "review_job", seconds)


async def test_settles_to_the_actual_cost():
    ledger = InMemoryBudgetLedger()

    _, cost = await guarded(ScriptedModel([ok()]), ledger=ledger).call(REQUEST, SCOPE, deadline())

    assert cost == PRICE.cost_micro(40, 10) == 60
    assert await ledger.used("pr:o/r#1") == 60


async def test_retries_retryable_errors_then_succeeds():
    records = []
    model = ScriptedModel([err(True), err(True, retry_after=0.05), ok()])

    await guarded(model, records=records).call(REQUEST, SCOPE, deadline())

    assert [r.outcome for r in records] == ["retry", "retry", "ok"]


async def test_a_non_retryable_error_falls_back_to_the_next_model():
    primary, fallback = ScriptedModel([err(False)], model="a"), ScriptedModel([ok("b")], model="b")

    completion, _ = await guarded(primary, fallback).call(REQUEST, SCOPE, deadline())

    assert completion.model == "b" and len(primary.requests) == 1


async def test_gives_up_after_max_retries_with_the_last_error():
    model = ScriptedModel([err(True)] * 5)

    with pytest.raises(ProviderError):
        await guarded(model, retries=2).call(REQUEST, SCOPE, deadline())

    assert len(model.requests) == 3


async def test_a_retry_after_longer_than_the_deadline_is_not_waited_for():
    model = ScriptedModel([err(True, retry_after=60.0), ok()])

    with pytest.raises(ProviderError):
        await guarded(model).call(REQUEST, SCOPE, deadline(1.0))

    assert len(model.requests) == 1


async def test_a_refused_reservation_makes_no_call():
    model = ScriptedModel([ok()])
    tiny = budget.BudgetLimits(per_round=10, per_pr=10**6, per_repo_day=10**6, per_day=10**6)

    with pytest.raises(BudgetExceeded) as refused:
        await guarded(model, limits=tiny).call(REQUEST, SCOPE, deadline())

    assert model.requests == [] and refused.value.cap == "round"


async def test_a_slow_call_times_out_and_is_charged_in_full():
    ledger = InMemoryBudgetLedger()
    model = ScriptedModel([5.0, ok()])

    with pytest.raises(DeadlineExceeded) as timed_out:
        await guarded(model, ledger=ledger, timeout=0.1).call(REQUEST, SCOPE, deadline())

    estimate = PRICE.cost_micro(budget.input_tokens_upper_bound(["review this"]), 100)
    assert timed_out.value.scope == "llm_call"
    assert await ledger.used("pr:o/r#1") == estimate


async def test_billed_failures_are_charged_and_unbilled_ones_are_free():
    ledger = InMemoryBudgetLedger()
    model = ScriptedModel([err(True, billed=False), err(True, billed=True), ok()])

    await guarded(model, ledger=ledger).call(REQUEST, SCOPE, deadline())

    estimate = PRICE.cost_micro(budget.input_tokens_upper_bound(["review this"]), 100)
    assert await ledger.used("pr:o/r#1") == estimate + 60


async def test_cancellation_settles_the_reservation_in_full():
    ledger = InMemoryBudgetLedger()
    task = asyncio.create_task(guarded(ScriptedModel([5.0]), ledger=ledger).call(REQUEST, SCOPE, deadline()))
    await asyncio.sleep(0.05)

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await ledger.used("pr:o/r#1") > 0
    assert ledger._open == {}  # nothing left reserved-but-unsettled
