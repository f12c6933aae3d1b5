"""Budget alerts, one suite over both ledgers: each threshold of each cap fires once per period, also when
many spenders on separate handles (separate Redis connections) cross it at the same moment."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from bot.adapters.memory import review_ports as memory
from bot.adapters.redis import budget as redis_budget
from bot.adapters.redis import conn as redis_conn
from guardrails import budget

IMPLS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
PERCENTS = (50, 80, 100)
Factory = Callable[[], budget.BudgetLedger]


@pytest.fixture(params=IMPLS)
async def handles(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Factory, list[budget.BudgetAlert]]]:
    """A factory of ledger handles on one store (each Redis handle on its own client) and the alerts."""
    fired: list[budget.BudgetAlert] = []
    if request.param == "memory":
        shared = memory.InMemoryBudgetLedger(alert_percents=PERCENTS, on_alert=fired.append)
        yield (lambda: shared), fired
        return
    url = request.getfixturevalue("redis_url")
    clients = []

    def make() -> budget.BudgetLedger:
        client = redis_conn.client(url)
        clients.append(client)
        return redis_budget.RedisBudgetLedger(
            client, redis_conn.Keys("quorum"), alert_percents=PERCENTS, on_alert=fired.append
        )

    yield make, fired
    for client in clients:
        await client.aclose()


def caps(day: str = "2026-12-07", limit: int = 1_000) -> tuple[budget.Cap, ...]:
    scope = budget.BudgetScope("o/r", "o/r#1", 1, "abc")
    return budget.caps_for(scope, budget.BudgetLimits(limit, limit, limit * 2, limit * 4), day)


def res(of: tuple[budget.Cap, ...], amount: int) -> budget.Reservation:
    return budget.Reservation(uuid.uuid4().hex, amount, of, ttl_s=60)


def seen(fired: list[budget.BudgetAlert]) -> list[tuple[str, int]]:
    return sorted((a.cap, a.percent) for a in fired)


async def test_each_threshold_fires_once_and_the_round_cap_never(
    handles: tuple[Factory, list[budget.BudgetAlert]],
) -> None:
    make, fired = handles
    ledger, of = make(), caps()

    await ledger.reserve(res(of, 400))  # pr 40 %
    after_first = seen(fired)
    await ledger.reserve(res(of, 450))  # pr 85 %: 50 and 80 at once
    await ledger.reserve(res(of, 100))  # pr 95 %
    await ledger.reserve(res(of, 50))  # pr 100 %, repo_day 50 %

    assert after_first == []
    assert seen(fired) == [("pr", 50), ("pr", 80), ("pr", 100), ("repo_day", 50)]
    alert = next(a for a in fired if a.percent == 100)
    assert (alert.key, alert.used_micro, alert.limit_micro) == ("pr:o/r#1", 1_000, 1_000)


async def test_an_over_billed_settle_fires_what_it_crosses(
    handles: tuple[Factory, list[budget.BudgetAlert]],
) -> None:
    make, fired = handles
    ledger, of = make(), caps()
    reservation = res(of, 100)
    await ledger.reserve(reservation)

    await ledger.settle(reservation.id, 5_000)  # the provider billed 50x the bound

    assert seen(fired) == [("day", 50), ("day", 80), ("day", 100), ("pr", 50), ("pr", 80), ("pr", 100),
                           ("repo_day", 50), ("repo_day", 80), ("repo_day", 100)]  # fmt: skip
    assert {a.used_micro for a in fired} == {5_000}


async def test_a_new_period_fires_again(handles: tuple[Factory, list[budget.BudgetAlert]]) -> None:
    make, fired = handles
    ledger = make()

    for day, amount in (("2026-12-07", 500), ("2026-12-07", 100), ("2026-12-08", 300), ("2026-12-08", 300)):
        await ledger.reserve(res((budget.Cap("day", f"day:{day}", 1_000),), amount))

    assert sorted((a.key, a.percent) for a in fired) == [("day:2026-12-07", 50), ("day:2026-12-08", 50)]


async def test_concurrent_spenders_on_separate_handles_fire_each_alert_exactly_once(
    handles: tuple[Factory, list[budget.BudgetAlert]],
) -> None:
    make, fired = handles
    ledgers = [make() for _ in range(5)]
    of = caps(limit=3_000)
    go = asyncio.Event()

    async def spender(i: int) -> None:
        await go.wait()
        for _ in range(4):
            reservation = res(of, 40)
            if (await ledgers[i % 5].reserve(reservation)).allowed:
                await ledgers[(i + 1) % 5].settle(reservation.id, 40)

    tasks = [asyncio.create_task(spender(i)) for i in range(30)]
    go.set()
    await asyncio.gather(*tasks)

    # 30 x 4 x 40 = 4800: pr (3000) passes 50/80/100, repo_day (6000) 50, day (12000) none.
    assert seen(fired) == [("pr", 50), ("pr", 80), ("pr", 100), ("repo_day", 50)]
