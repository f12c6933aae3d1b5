"""The one retry policy: its waits, its stops, and the policies each caller builds from settings."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import errors, retry_policy
from bot.retry_policy import RetryPolicy
from config import sections
from tests.support.clock import FakeClock


@given(
    retry=st.integers(1, 200),
    after=st.none() | st.floats(0, 1e6),
    jitter=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_a_wait_is_a_jittered_capped_step_never_shorter_than_retry_after(
    retry: int, after: float | None, jitter: float, seed: int
) -> None:
    policy = RetryPolicy(3, base_s=0.5, max_s=30.0, jitter=jitter)
    step = min(30.0, 0.5 * 2.0 ** (retry - 1))

    wait = policy.delay(retry, after, random.Random(seed))

    assert wait >= (after or 0.0)
    assert wait <= max(step, after or 0.0)
    assert wait >= (1.0 - jitter) * step - 1e-9


def test_max_wait_caps_even_a_retry_after() -> None:
    policy = RetryPolicy(3, base_s=1.0, max_s=60.0, jitter=0.0, max_wait_s=60.0)

    assert policy.delay(1, 3600.0, random.Random(0)) == 60.0
    assert policy.delay(3, None, random.Random(0)) == 4.0


@pytest.mark.parametrize("status", [None, 0, 408, 429, 500, 503, 529])
def test_no_answer_a_timeout_a_rate_limit_or_a_5xx_is_transient(status: int | None) -> None:
    assert retry_policy.transient_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422])
def test_any_other_4xx_is_not(status: int) -> None:
    assert not retry_policy.transient_status(status)


async def test_retries_until_it_works_then_returns_what_the_call_returned() -> None:
    clock, calls = FakeClock(), []

    async def flaky() -> str:
        calls.append(clock.monotonic())
        if len(calls) < 3:
            raise errors.ProviderError("busy", provider="p", status_code=503, retryable=True)
        return "done"

    retrying = RetryPolicy(5, 1.0, 30.0, jitter=0.0).retrying(
        retry_policy.on_exception(lambda exc: isinstance(exc, errors.ProviderError)), sleep=clock.skip
    )

    assert await retrying(flaky) == "done"
    assert [t - calls[0] for t in calls] == [0.0, 1.0, 3.0]


async def test_the_last_failure_is_raised_as_it_was_after_the_last_retry() -> None:
    clock, told = FakeClock(), []

    async def down() -> None:
        raise errors.ProviderError("down", provider="p", status_code=502, retryable=True)

    retrying = RetryPolicy(2, 1.0, 30.0, jitter=0.0).retrying(
        retry_policy.on_exception(lambda exc: True),
        sleep=clock.skip,
        before_retry=lambda failure, wait: told.append((type(failure).__name__, wait)),
    )

    with pytest.raises(errors.ProviderError, match="down"):
        await retrying(down)
    assert told == [("ProviderError", 1.0), ("ProviderError", 2.0)] and clock.slept == [1.0, 2.0]


async def test_a_result_can_ask_for_another_try_without_an_exception() -> None:
    clock, results = FakeClock(), iter([False, False, True])

    async def ship() -> bool:
        return next(results)

    retrying = RetryPolicy(None, 0.5, 30.0, jitter=1.0).retrying(
        retry_policy.on_result(lambda ok: not ok), sleep=clock.skip, rng=random.Random(3)
    )

    assert await retrying(ship) is True
    assert len(clock.slept) == 2 and 0 <= clock.slept[0] <= 0.5 and 0 <= clock.slept[1] <= 1.0


def test_each_caller_builds_its_policy_from_its_settings_with_the_defaults_it_had() -> None:
    llm, es, discord = sections.LlmSettings(), sections.ElasticsearchSettings(), sections.DiscordSettings()

    assert retry_policy.for_llm(llm) == RetryPolicy(3, 1.0, 30.0, jitter=0.5)
    assert retry_policy.for_elasticsearch(es) == RetryPolicy(None, 1.0, 30.0, jitter=1.0)
    assert retry_policy.for_discord(discord) == RetryPolicy(4, 1.0, 60.0, jitter=0.0, max_wait_s=60.0)
