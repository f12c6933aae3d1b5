"""The parts of a round at once: bounded, none started after a failure, the first failure by index."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import BudgetExceeded, ProviderError
from bot.review import parallel


async def test_a_failure_lets_running_parts_finish_and_starts_no_other() -> None:
    started: list[int] = []
    finished: list[int] = []

    async def work(index: int) -> None:
        started.append(index)
        if index == 1:
            raise ProviderError("down", provider="p")
        await asyncio.sleep(0.05)
        finished.append(index)

    with pytest.raises(ProviderError):
        await parallel.in_order(6, 2, work, (ProviderError,))

    assert started == [0, 1] and finished == [0]  # part 0 was running; 2 to 5 never started


async def test_the_failure_of_the_lowest_part_is_raised_whatever_finished_first() -> None:
    async def work(index: int) -> None:
        await asyncio.sleep(0.05 if index == 0 else 0.0)
        raise BudgetExceeded(f"part {index}", cap="round") if index == 0 else ProviderError("x", provider="p")

    with pytest.raises(BudgetExceeded, match="part 0"):
        await parallel.in_order(3, 3, work, (BudgetExceeded, ProviderError))


async def test_an_error_that_is_no_stop_propagates_as_a_bug() -> None:
    async def work(index: int) -> None:
        raise KeyError(index)

    with pytest.raises(ExceptionGroup):
        await parallel.in_order(2, 2, work, (ProviderError,))
