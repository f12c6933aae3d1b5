"""The readiness report: ready while Redis is up, degraded naming whatever else is down, and a probe that
fails or hangs counts as down; the backoff grows, stays bounded and resets."""

from __future__ import annotations

import asyncio

from bot import health
from tests.support.clock import FakeClock


async def test_a_report_is_ready_while_redis_is_up_and_names_the_rest_that_is_down() -> None:
    states = health.Health(FakeClock(start=100.0))
    states.mark("github", False, "503 Service Unavailable")

    async def redis_up() -> health.DependencyState:
        return health.DependencyState(True)

    async def hangs() -> health.DependencyState:
        await asyncio.sleep(10)
        raise AssertionError("never")

    async def breaks() -> health.DependencyState:
        raise OSError("refused")

    probes = {"redis": redis_up, "github": states.probe("github"), "model": states.probe("model"),
              "elasticsearch": hangs, "discord": breaks}  # fmt: skip
    report = await health.report(probes, timeout_s=0.05)

    assert report.ready and report.down == ["discord", "elasticsearch", "github"]
    body = report.to_json()
    assert body["status"] == "degraded"
    assert body["dependencies"]["github"] == {
        "up": False,
        "detail": "503 Service Unavailable",
        "since": 100.0,
    }
    assert body["dependencies"]["model"] == {"up": None}  # not used yet: neither up nor down


async def test_a_report_without_redis_is_not_ready() -> None:
    async def redis_down() -> health.DependencyState:
        return health.DependencyState(False, "ConnectionError")

    report = await health.report({"redis": redis_down})

    assert not report.ready and report.to_json()["status"] == "not ready"


async def test_a_state_keeps_the_time_it_changed_and_wakes_waiters_on_a_change() -> None:
    clock = FakeClock(start=100.0)
    states = health.Health(clock)
    states.mark("github", False, "refused")
    waiter = asyncio.create_task(states.changed("github"))
    await asyncio.sleep(0)
    clock.advance(50.0)
    states.mark("github", False, "refused again")  # no change of state: no wake-up, same `since`
    await asyncio.sleep(0)
    assert not waiter.done() and states.state("github").since == 100.0

    states.mark("github", True)
    await asyncio.wait_for(waiter, 1)

    assert states.state("github") == health.DependencyState(True, "", 150.0)


def test_the_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = health.Backoff(base_s=1.0, cap_s=8.0)

    delays = [backoff.next_delay() for _ in range(8)]
    backoff.reset()

    ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert backoff.next_delay() <= 1.0
