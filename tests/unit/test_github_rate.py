"""Rate limits: which replies are limits and for how long, and how the shared gate holds calls back."""

from __future__ import annotations

import itertools
import logging

import pytest

from bot import errors
from bot.adapters.github import rate as github_rate
from bot.adapters.memory import pacer as memory_pacer
from guardrails import pacing

NOW = 1_000_000.0


class FakeClock:
    """Wall time that only moves when the gate sleeps."""

    def __init__(self) -> None:
        self.now = NOW
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def gate(clock: FakeClock, pacer: pacing.WritePacer | None = None, **kwargs: float) -> github_rate.RateGate:
    return github_rate.RateGate(now=clock.time, sleep=clock.sleep, pacer=pacer, **kwargs)


class DownPacer:
    """A shared pacer whose store is unreachable."""

    def __init__(self) -> None:
        self.claims = 0

    async def claim(self, token: str) -> float:
        self.claims += 1
        raise errors.CoordinationUnavailable("GitHub write pacing: Redis failed (refused)", retryable=True)

    async def release(self, token: str) -> None:
        raise AssertionError("nothing was claimed")

    async def block(self, seconds: float) -> None:
        raise errors.CoordinationUnavailable("GitHub rate limit: Redis failed (refused)", retryable=True)

    async def blocked(self) -> float:
        raise errors.CoordinationUnavailable("GitHub rate limit: Redis failed (refused)", retryable=True)


@pytest.mark.parametrize(
    ("status", "headers", "message", "expected"),
    [
        (
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 120)},
            "API rate limit exceeded",
            121.0,
        ),
        (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) + 5)}, "", 6.0),
        (403, {"retry-after": "30"}, "You have exceeded a secondary rate limit", 30.0),
        (429, {"retry-after": "7"}, "", 7.0),
        (
            403,
            {},
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            60.0,
        ),
        (429, {}, "", 60.0),
        (403, {"x-ratelimit-remaining": "12"}, "Resource not accessible by integration", None),
        (404, {"retry-after": "30"}, "Not Found", None),
        (500, {}, "", None),
    ],
)
def test_limit_delay_reads_primary_and_secondary_limits(
    status: int, headers: dict[str, str], message: str, expected: float | None
) -> None:
    assert github_rate.limit_delay(status, headers, message, NOW) == expected


async def test_a_read_waits_out_a_short_limit() -> None:
    clock = FakeClock()
    limits = gate(clock, max_read_wait_s=10)
    await limits.block(4)

    await limits.before_read()

    assert clock.slept == [4]
    assert await limits.remaining() == 0


async def test_a_read_raises_when_the_limit_outlasts_its_bound() -> None:
    clock = FakeClock()
    limits = gate(clock, max_read_wait_s=10)
    await limits.block(60)

    with pytest.raises(errors.RateLimited) as caught:
        await limits.before_read()

    assert caught.value.retry_after == 60
    assert clock.slept == []


async def test_a_write_raises_at_once_while_limited() -> None:
    clock = FakeClock()
    limits = gate(clock, write_interval_s=0)
    await limits.block(3)

    with pytest.raises(errors.RateLimited) as caught:
        async with limits.write_slot():
            pytest.fail("a write must not be sent while a limit lasts")

    assert caught.value.retry_after == 3
    assert caught.value.retryable


async def test_writes_are_spaced_by_the_interval_from_the_end_of_the_last_one() -> None:
    clock = FakeClock()
    limits = gate(clock, write_interval_s=1.0)

    for _ in range(3):
        async with limits.write_slot():
            clock.now += 0.25  # the write itself takes a while

    assert clock.slept == [1.0, 1.0]


async def test_a_shorter_limit_never_shortens_a_longer_one() -> None:
    clock = FakeClock()
    limits = gate(clock)

    await limits.block(60)
    await limits.block(5)

    assert await limits.remaining() == 60


async def test_two_gates_sharing_a_pacer_space_their_writes_from_the_end_of_the_other_ones() -> None:
    clock = FakeClock()
    shared = memory_pacer.InMemoryWritePacer(pacing.PacingPolicy(interval_s=1.0), now=clock.time)
    replicas = [gate(clock, shared), gate(clock, shared)]
    started: list[float] = []

    for i in range(4):
        async with replicas[i % 2].write_slot():
            started.append(clock.now)
            clock.now += 0.25

    assert [b - a for a, b in itertools.pairwise(started)] == [1.25, 1.25, 1.25]


async def test_writes_past_the_minute_cap_wait_for_the_window() -> None:
    clock = FakeClock()
    limits = gate(clock, write_interval_s=0, writes_per_minute=3)

    for _ in range(4):
        async with limits.write_slot():
            pass

    assert clock.slept == [60.0]


async def test_a_pacer_that_is_down_never_fails_a_write_paces_locally_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, down = FakeClock(), DownPacer()
    limits = gate(clock, down, write_interval_s=1.0)
    sent = 0

    with caplog.at_level(logging.WARNING, logger=github_rate.__name__):
        for _ in range(3):
            async with limits.write_slot():
                sent += 1
        clock.now += github_rate.PACER_RETRY_S
        async with limits.write_slot():
            sent += 1

    assert sent == 4
    assert clock.slept == [1.0, 1.0]
    assert down.claims == 2  # skipped while known down, asked again after the retry period
    assert len([r for r in caplog.records if "pacing" in r.getMessage()]) == 1


async def test_a_limit_one_gate_met_holds_back_every_gate_sharing_the_pacer() -> None:
    clock = FakeClock()
    shared = memory_pacer.InMemoryWritePacer(now=clock.time)
    met, other = gate(clock, shared, max_read_wait_s=10), gate(clock, shared, max_read_wait_s=10)

    await met.block(4)

    with pytest.raises(errors.RateLimited) as caught:
        async with other.write_slot():
            pytest.fail("a write must not be sent while another replica's limit lasts")
    await other.before_read()
    assert caught.value.retry_after == 4
    assert clock.slept == [4]


async def test_a_limit_met_while_the_pacer_is_down_still_holds_this_process() -> None:
    clock = FakeClock()
    limits = gate(clock, DownPacer(), max_read_wait_s=10)

    await limits.block(7)

    assert await limits.remaining() == 7
    with pytest.raises(errors.RateLimited):
        async with limits.write_slot():
            pytest.fail("a write must not be sent while a limit lasts")


async def test_a_write_past_the_hourly_cap_is_deferred_not_held_for_the_hour() -> None:
    clock = FakeClock()
    shared = memory_pacer.InMemoryWritePacer(pacing.PacingPolicy(interval_s=0, per_hour=3), now=clock.time)
    limits = gate(clock, shared, write_interval_s=0, writes_per_hour=3)
    sent = 0
    for _ in range(3):
        async with limits.write_slot():
            sent += 1
        clock.now += 600

    with pytest.raises(errors.RateLimited) as caught:
        async with limits.write_slot():
            pytest.fail("a write past the hourly cap must not be sent")

    assert sent == 3
    assert caught.value.retry_after == pytest.approx(pacing.HOUR_S - 1800)
    assert clock.slept == []


async def test_a_short_wait_for_the_hourly_cap_is_waited_out() -> None:
    clock = FakeClock()
    limits = gate(clock, write_interval_s=0, writes_per_hour=2)
    for _ in range(2):
        async with limits.write_slot():
            clock.now += 1795

    async with limits.write_slot():
        pass

    assert clock.slept == [pytest.approx(10.0)]
