"""Budget policy and the in-memory ledger: upper bounds, all-or-nothing reserve, no overshoot."""

from __future__ import annotations

import asyncio
import random

import pytest

from bot.adapters.memory.review_ports import InMemoryBudgetLedger
from bot.errors import BudgetExceeded
from guardrails import budget
from guardrails.pricing import Price, lookup

LIMITS = budget.BudgetLimits(per_round=1_000, per_pr=2_500, per_repo_day=10_000, per_day=20_000)
SCOPE = budget.BudgetScope("o/r", "o/r#1", 1)


def reservation(rid: str, amount: int, scope: budget.BudgetScope = SCOPE) -> budget.Reservation:
    return budget.Reservation(rid, amount, budget.caps_for(scope, LIMITS, "2026-11-24"), 60)


def test_unpriced_model_or_missing_max_tokens_cannot_be_bounded():
    with pytest.raises(BudgetExceeded, match="cannot be bounded") as unpriced:
        budget.upper_bound_micro(100, 100, None, "mystery")
    with pytest.raises(BudgetExceeded):
        budget.upper_bound_micro(100, None, Price(1, 1), "m")

    assert unpriced.value.cap == "unbounded"


def test_upper_bound_counts_every_byte_and_all_output_tokens():
    price = Price.from_usd(2.0, 8.0)
    tokens = budget.input_tokens_upper_bound(["héllo"])  # 6 bytes

    assert tokens >= 6
    assert budget.upper_bound_micro(tokens, 1000, price, "m") == price.cost_micro(tokens, 1000)
    assert price.cost_micro(1, 0) == 2  # rounded up, never down


def test_local_providers_are_free_and_dated_models_match_the_table():
    assert lookup("local", "anything") == Price(0, 0)
    assert lookup("openai", "gpt-4o-mini-2024-07-18") == Price.from_usd(0.15, 0.60)
    assert lookup("openai", "unknown-model") is None


async def test_reserve_is_all_or_nothing_and_settle_is_idempotent():
    ledger = InMemoryBudgetLedger()

    first = await ledger.reserve(reservation("a", 900))
    refused = await ledger.reserve(reservation("b", 200))  # round cap 1000 refuses
    again = await ledger.reserve(reservation("a", 900))  # a re-sent reserve adds nothing

    assert first.allowed and again.allowed and not refused.allowed and refused.cap == "round"
    assert await ledger.used("pr:o/r#1") == 900
    assert await ledger.settle("a", 300) is True
    assert await ledger.settle("a", 300) is False
    assert await ledger.used("round:o/r#1:1") == 300 and await ledger.used("day:2026-11-24") == 300


async def test_concurrent_spenders_never_exceed_any_cap():
    ledger = InMemoryBudgetLedger()
    rng = random.Random(7)
    peak = {"pr": 0}

    async def spender(i: int) -> None:
        scope = budget.BudgetScope("o/r", "o/r#1", i % 4)
        res = reservation(f"r{i}", rng.randint(50, 400), scope)
        decision = await ledger.reserve(res)
        peak["pr"] = max(peak["pr"], await ledger.used("pr:o/r#1"))
        if decision.allowed:
            await asyncio.sleep(rng.random() / 100)
            await ledger.settle(res.id, rng.randint(0, res.amount_micro))

    await asyncio.gather(*(spender(i) for i in range(50)))

    assert peak["pr"] <= LIMITS.per_pr
    for index in range(4):
        assert await ledger.used(f"round:o/r#1:{index}") <= LIMITS.per_round


async def test_round_one_of_a_new_push_has_its_own_round_budget_but_shares_the_pr_cap():
    ledger = InMemoryBudgetLedger()
    old, new = (budget.BudgetScope("o/r", "o/r#1", 1, head) for head in ("a" * 40, "b" * 40))

    first = await ledger.reserve(reservation("r-old", 1_000, old))
    again = await ledger.reserve(reservation("r-old-2", 1, old))
    pushed = await ledger.reserve(reservation("r-new", 1_000, new))
    third = await ledger.reserve(reservation("r-new-2", 600, budget.BudgetScope("o/r", "o/r#1", 2, "b" * 40)))

    assert first.allowed and pushed.allowed
    assert (again.allowed, again.cap) == (False, "round")
    assert (third.allowed, third.cap) == (False, "pr")  # 2000 spent of the PR's 2500 across both heads
    assert await ledger.used("pr:o/r#1") == 2_000


def test_the_pr_key_ignores_the_head_and_the_round_key_does_not():
    keys = [
        {
            cap.name: cap.key
            for cap in budget.caps_for(budget.BudgetScope("o/r", "o/r#1", 1, head), LIMITS, "d")
        }
        for head in ("a" * 40, "b" * 40)
    ]

    assert keys[0]["pr"] == keys[1]["pr"] == "pr:o/r#1"
    assert keys[0]["round"] == "round:o/r#1@" + "a" * 16 + ":1" != keys[1]["round"]
