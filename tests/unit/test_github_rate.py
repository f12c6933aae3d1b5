"""Rate limits: which replies are limits and for how long, and how the shared gate holds calls back."""

from __future__ import annotations

import pytest

from bot import errors
from bot.adapters.github import rate as github_rate

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


def gate(clock: FakeClock, **kwargs: float) -> github_rate.RateGate:
    return github_rate.RateGate(now=clock.time, sleep=clock.sleep, **kwargs)


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
    limits.block(4)

    await limits.before_read()

    assert clock.slept == [4]
    assert limits.remaining() == 0


async def test_a_read_raises_when_the_limit_outlasts_its_bound() -> None:
    clock = FakeClock()
    limits = gate(clock, max_read_wait_s=10)
    limits.block(60)

    with pytest.raises(errors.RateLimited) as caught:
        await limits.before_read()

    assert caught.value.retry_after == 60
    assert clock.slept == []


async def test_a_write_raises_at_once_while_limited() -> None:
    clock = FakeClock()
    limits = gate(clock, write_interval_s=0)
    limits.block(3)

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


def test_a_shorter_limit_never_shortens_a_longer_one() -> None:
    clock = FakeClock()
    limits = gate(clock)

    limits.block(60)
    limits.block(5)

    assert limits.remaining() == 60
