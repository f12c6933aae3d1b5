"""One suite for every `BudgetLedger`: in memory and on a real redis-server (invariants 6, 7 and 10)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.memory import review_ports as memory
from bot.adapters.redis import budget as redis_budget
from bot.adapters.redis import conn as redis_conn
from guardrails import budget

LIMITS = {"round": 1_000, "pr": 2_000, "repo_day": 3_000, "day": 4_000}
IMPLS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.fixture(params=IMPLS)
async def ledger(request: pytest.FixtureRequest) -> AsyncIterator[budget.BudgetLedger]:
    """A fresh ledger of each implementation; the Redis one on a flushed server."""
    if request.param == "memory":
        yield memory.InMemoryBudgetLedger()
        return
    client = redis_conn.client(request.getfixturevalue("redis_url"))
    await redis_conn.check_server(client)
    yield redis_budget.RedisBudgetLedger(client, redis_conn.Keys("quorum"))
    await client.aclose()


def make_caps(ns: str, limits: dict[str, int] = LIMITS) -> tuple[budget.Cap, ...]:
    """The four caps of one call, under keys unique to `ns`."""
    return tuple(budget.Cap(name, f"{name}:{ns}", limit) for name, limit in limits.items())


def reservation(caps: tuple[budget.Cap, ...], amount: int, rid: str | None = None) -> budget.Reservation:
    return budget.Reservation(rid or uuid.uuid4().hex, amount, caps, ttl_s=60)


async def counters(ledger: budget.BudgetLedger, caps: tuple[budget.Cap, ...]) -> list[int]:
    return [await ledger.used(cap.key) for cap in caps]


async def test_reserve_charges_every_cap(ledger: budget.BudgetLedger) -> None:
    caps = make_caps("a")

    decision = await ledger.reserve(reservation(caps, 250))

    assert decision.allowed
    assert await counters(ledger, caps) == [250, 250, 250, 250]


async def test_unknown_counter_is_zero(ledger: budget.BudgetLedger) -> None:
    assert await ledger.used("day:never") == 0


async def test_reserve_up_to_the_limit_fits_and_one_more_does_not(ledger: budget.BudgetLedger) -> None:
    caps = make_caps("edge")

    exact = await ledger.reserve(reservation(caps, LIMITS["round"]))
    over = await ledger.reserve(reservation(caps, 1))

    assert exact.allowed
    assert over == budget.BudgetDecision(False, "round", LIMITS["round"], LIMITS["round"])


@pytest.mark.parametrize("tight", ["round", "pr", "repo_day", "day"])
async def test_refusal_names_the_cap_and_changes_no_counter(ledger: budget.BudgetLedger, tight: str) -> None:
    limits = {name: 10_000 for name in LIMITS} | {tight: 500}
    caps = make_caps(f"t-{tight}", limits)
    await ledger.reserve(reservation(caps, 300))

    decision = await ledger.reserve(reservation(caps, 201))

    assert decision == budget.BudgetDecision(False, tight, 300, 500)
    assert await counters(ledger, caps) == [300, 300, 300, 300]


async def test_reserve_is_all_or_nothing_when_only_the_last_cap_is_full(ledger: budget.BudgetLedger) -> None:
    day_only = (budget.Cap("day", "day:shared", 1_000),)
    await ledger.reserve(reservation(day_only, 900))
    caps = (*make_caps("fresh")[:3], budget.Cap("day", "day:shared", 1_000))

    decision = await ledger.reserve(reservation(caps, 200))

    assert not decision.allowed
    assert decision.cap == "day"
    assert await counters(ledger, caps) == [0, 0, 0, 900]


async def test_reserve_is_idempotent_by_id(ledger: budget.BudgetLedger) -> None:
    caps = make_caps("idem")
    first = reservation(caps, 400, "r-1")

    decisions = [await ledger.reserve(first), await ledger.reserve(first)]

    assert all(d.allowed for d in decisions)
    assert await counters(ledger, caps) == [400, 400, 400, 400]


async def test_reserve_resent_after_settle_adds_nothing(ledger: budget.BudgetLedger) -> None:
    caps = make_caps("late")
    res = reservation(caps, 400, "r-late")
    await ledger.reserve(res)
    await ledger.settle("r-late", 100)

    again = await ledger.reserve(res)

    assert again.allowed
    assert await counters(ledger, caps) == [100, 100, 100, 100]


@pytest.mark.parametrize("actual", [0, 150, 400, 650])
async def test_settle_replaces_the_estimate_by_the_actual_cost(
    ledger: budget.BudgetLedger, actual: int
) -> None:
    caps = make_caps(f"s-{actual}")
    await ledger.reserve(reservation(caps, 100))
    await ledger.reserve(reservation(caps, 400, "r-settle"))

    settled = await ledger.settle("r-settle", actual)

    assert settled
    assert await counters(ledger, caps) == [100 + actual] * 4


async def test_second_settle_returns_false_and_changes_nothing(ledger: budget.BudgetLedger) -> None:
    caps = make_caps("twice")
    await ledger.reserve(reservation(caps, 400, "r-twice"))
    await ledger.settle("r-twice", 100)

    again = await ledger.settle("r-twice", 0)

    assert again is False
    assert await counters(ledger, caps) == [100, 100, 100, 100]


async def test_settle_of_an_unknown_id_returns_false(ledger: budget.BudgetLedger) -> None:
    assert await ledger.settle("never-reserved", 10) is False


async def test_amounts_beyond_fourteen_digits_stay_exact(ledger: budget.BudgetLedger) -> None:
    huge = 2**53
    caps = make_caps("huge", {name: huge for name in LIMITS})
    amount = 2**52 + 7

    await ledger.reserve(reservation(caps, amount, "r-huge"))
    await ledger.settle("r-huge", amount - 6)

    assert await counters(ledger, caps) == [2**52 + 1] * 4


async def test_settled_spend_frees_room_for_the_next_reservation(ledger: budget.BudgetLedger) -> None:
    caps = make_caps("room")
    await ledger.reserve(reservation(caps, 1_000, "r-big"))
    refused = await ledger.reserve(reservation(caps, 600))

    await ledger.settle("r-big", 300)
    admitted = await ledger.reserve(reservation(caps, 600))

    assert not refused.allowed
    assert admitted.allowed
    assert await counters(ledger, caps) == [900] * 4


async def test_fifty_concurrent_spenders_never_exceed_a_cap(ledger: budget.BudgetLedger) -> None:
    estimate = 100
    limits = {"round": 300, "pr": 500, "repo_day": 800, "day": 900}
    caps_of = [
        (
            budget.Cap("round", f"round:c:{i % 3}", limits["round"]),
            budget.Cap("pr", f"pr:c:{i % 2}", limits["pr"]),
            budget.Cap("repo_day", "repo_day:c", limits["repo_day"]),
            budget.Cap("day", "day:c", limits["day"]),
        )
        for i in range(50)
    ]
    all_caps = {cap.key: cap.limit_micro for caps in caps_of for cap in caps}
    refusals: list[str] = []
    overshoots: list[tuple[str, int]] = []
    done = asyncio.Event()

    async def spender(i: int) -> int:
        rng = random.Random(i)
        for attempt in range(200):
            decision = await ledger.reserve(reservation(caps_of[i], estimate, f"c-{i}-{attempt}"))
            if decision.allowed:
                break
            refusals.append(decision.cap or "?")
            await asyncio.sleep(rng.uniform(0, 0.004))
        else:
            return 0
        await asyncio.sleep(rng.uniform(0, 0.01))
        actual = rng.randint(0, estimate)
        assert await ledger.settle(f"c-{i}-{attempt}", actual)
        return actual

    async def sampler() -> int:
        samples = 0
        while not done.is_set():
            for key, limit in all_caps.items():
                used = await ledger.used(key)
                if used > limit:
                    overshoots.append((key, used))
            samples += 1
            await asyncio.sleep(0)
        return samples

    watcher = asyncio.create_task(sampler())
    actuals = await asyncio.gather(*(spender(i) for i in range(50)))
    done.set()
    samples = await watcher

    assert overshoots == []
    assert samples > 10
    assert refusals, "the caps never bound: the test proves nothing"
    expected: dict[str, int] = {}
    for caps, actual in zip(caps_of, actuals, strict=True):
        for cap in caps:
            expected[cap.key] = expected.get(cap.key, 0) + actual
    assert {key: await ledger.used(key) for key in all_caps} == expected


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), st.integers(0, 600), st.floats(0, 1)),
        st.tuples(st.just("settle"), st.integers(0, 40), st.floats(0, 1)),
        st.tuples(st.just("crash"), st.integers(0, 40), st.floats(0, 1)),
        st.tuples(st.just("resend"), st.integers(0, 40), st.floats(0, 1)),
    ),
    max_size=25,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, limits=st.lists(st.integers(0, 1_500), min_size=4, max_size=4))
async def test_used_is_settled_plus_open_and_never_above_a_cap(
    ledger: budget.BudgetLedger, ops: list[tuple[str, int, float]], limits: list[int]
) -> None:
    caps = make_caps(uuid.uuid4().hex, dict(zip(LIMITS, limits, strict=True)))
    made: list[budget.Reservation] = []
    state: dict[str, str] = {}  # id -> open | settled | crashed (its holder died: nobody settles it)
    charged = 0  # settled actuals + estimates still open or crashed
    for op, n, fraction in ops:
        if op == "reserve":
            res = reservation(caps, n)
            refuser = next((cap for cap in caps if charged + n > cap.limit_micro), None)
            decision = await ledger.reserve(res)
            assert (decision.allowed, decision.cap) == (refuser is None, refuser and refuser.name)
            if decision.allowed:
                made.append(res)
                state[res.id] = "open"
                charged += n
        elif made:
            res = made[n % len(made)]
            if op == "resend":
                assert (await ledger.reserve(res)).allowed
            elif state[res.id] == "open" and op == "crash":
                state[res.id] = "crashed"
            elif state[res.id] != "crashed" and op == "settle":
                actual = int(res.amount_micro * fraction)
                assert await ledger.settle(res.id, actual) is (state[res.id] == "open")
                charged += actual - res.amount_micro if state[res.id] == "open" else 0
                state[res.id] = "settled"
        for cap in caps:
            assert await ledger.used(cap.key) == charged <= cap.limit_micro


REAPERS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]


@pytest.mark.parametrize("ledger", REAPERS, indirect=True)
async def test_reaper_charges_a_dead_reservation_in_full_exactly_once(ledger: budget.BudgetReaper) -> None:
    caps = make_caps("dead")
    await ledger.reserve(budget.Reservation("r-dead", 700, caps, ttl_s=0.05))
    await ledger.reserve(budget.Reservation("r-alive", 100, caps, ttl_s=60))
    await asyncio.sleep(0.1)

    first = await ledger.reap_expired()
    second = await ledger.reap_expired()
    late = await ledger.settle("r-dead", 10)

    assert (first, second, late) == (1, 0, False)
    assert await counters(ledger, caps) == [800] * 4
    assert await ledger.settle("r-alive", 50)
    assert await counters(ledger, caps) == [750] * 4


async def test_counters_read_back_spend_under_a_prefix(ledger: budget.BudgetLedger) -> None:
    day = "2026-12-07"
    for repo, job, amount in (("o/a", "o/a#1", 120), ("o/a", "o/a#2", 30), ("o/b*", "o/b*#1", 7)):
        caps = (
            budget.Cap("pr", budget.pipeline_key(job), 1_000),
            budget.Cap("repo_day", f"repo_day:{repo}:{day}", 1_000),
            budget.Cap("day", f"day:{day}", 1_000),
        )
        held = reservation(caps, 500)
        assert (await ledger.reserve(held)).allowed
        await ledger.settle(held.id, amount)

    repos = await ledger.counters("repo_day:")
    prs = await ledger.counters("pr:o/a#")
    days = await ledger.counters("day:")

    assert repos == {f"repo_day:o/a:{day}": 150, f"repo_day:o/b*:{day}": 7}
    assert prs == {"pr:o/a#1": 120, "pr:o/a#2": 30}
    assert days == {f"day:{day}": 157}
    assert await ledger.counters("pr:o/?") == {}  # a glob character in a prefix is taken literally
    assert len(await ledger.counters("pr:", limit=2)) == 2
