"""A smaller chaos run of the scheduler and budget on Redis: workers killed, one paused, Redis restarted."""

from __future__ import annotations

import pytest

from bot.adapters.redis import conn as redis_conn
from guardrails import budget
from tests.chaos import scheduler as chaos
from tests.chaos import scheduler_budget as spending

pytestmark = pytest.mark.redis


async def test_invariants_and_budget_caps_hold_under_kills_a_pause_and_a_redis_restart() -> None:
    options = chaos.Options(workers=3, jobs=60, repos=10, kills=5, timeout_s=120.0)

    figures = await chaos.run(options)

    assert figures.broken(options) == [], figures.line()
    assert (figures.done, figures.lost, figures.double_runs, figures.stale_writes_accepted) == (60, 0, 0, 0)
    assert figures.max_global <= 6 and figures.max_repo <= 2
    assert figures.budget_overshoot_usd == "0", figures.line()
    # The caps really refused calls, and reservations of killed or paused workers were charged by the reaper.
    assert figures.budget_refusals > 0
    assert figures.budget_reaped >= 1
    # The faults really happened, and the paused holder really tried to write with its old fence.
    assert (figures.kills, figures.stops, figures.redis_restarts) == (5, 1, 1)
    assert figures.stale_writes_rejected >= 1
    assert figures.samples > 100
    assert figures.budget_samples > 10


async def test_budget_watch_reports_how_far_a_counter_stood_above_its_cap(redis_url: str) -> None:
    client = redis_conn.client(redis_url)
    keys = redis_conn.Keys("quorum")
    limits = budget.BudgetLimits(per_round=10, per_pr=20, per_repo_day=30, per_day=40)
    watch = spending.BudgetWatch(client, keys, limits)
    await client.set(keys("budget", "pr", "o/r#1"), 20)
    await client.set(keys("budget", "day", "2024-01-01"), 40)
    await watch.sample()
    within = watch.overshoot_micro
    await client.set(keys("budget", "repo_day", "o/r", "2024-01-01"), 37)
    await client.set(keys("budget", "round", "o/r#1", "0"), 12)

    await watch.sample()
    await client.aclose()

    assert within == 0
    assert watch.overshoot_micro == 7
    assert watch.counters == 4
