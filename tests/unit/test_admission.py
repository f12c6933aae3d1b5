"""The pure admission policy: job ids, the pick rule, fences, backoff."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import errors
from guardrails import admission

LIMITS = admission.Limits(max_concurrent_agents=3, max_per_repo=2)


def test_job_id_round_trips() -> None:
    ref = admission.parse_job_id("octo/cat#42")

    assert (ref.repo, ref.number, ref.id) == ("octo/cat", 42, "octo/cat#42")


@pytest.mark.parametrize("bad", ["octo#1", "octo/cat", "octo/cat#0", "octo/cat#x", "o/c#1 ", "a/b/c#1", ""])
def test_malformed_job_ids_are_refused(bad: str) -> None:
    with pytest.raises(errors.InputError):
        admission.parse_job_id(bad)


def test_pick_takes_the_oldest_job_whose_repo_has_room() -> None:
    pending = ["o/a#1", "o/a#2", "o/b#1"]

    chosen = admission.pick_next(pending, set(), 2, {"o/a": 2}, LIMITS)

    assert chosen == "o/b#1"


def test_pick_starts_the_longest_backlog_first_and_oldest_first_within_it() -> None:
    pending = ["o/a#1", "o/b#1", "o/b#2", "o/c#1", "o/c#2", "o/c#3"]
    limits = admission.Limits(max_concurrent_agents=10, max_per_repo=2)

    assert admission.pick_next(pending, set(), 0, {}, limits) == "o/c#1"
    assert admission.pick_next(pending, set(), 2, {"o/c": 2}, limits) == "o/b#1"  # c is full: b is next
    assert admission.pick_next(["o/b#1", "o/a#1", "o/c#1"], set(), 0, {}, limits) == "o/b#1"  # tie: oldest


def test_pick_starts_the_oldest_first_once_it_waited_long_enough() -> None:
    pending = ["o/lone#1", "o/busy#1", "o/busy#2"]
    limits = admission.Limits(max_concurrent_agents=10, max_per_repo=2, oldest_first_after_s=60)

    fresh = admission.pick_next(pending, set(), 0, {}, limits, {"o/lone#1": 59.0})
    overdue = admission.pick_next(pending, set(), 0, {}, limits, {"o/lone#1": 60.0})

    assert (fresh, overdue) == ("o/busy#1", "o/lone#1")


def test_pick_weighs_the_oldest_window_first_and_a_later_one_only_when_none_of_it_may_start() -> None:
    window = admission.PICK_WINDOW
    limits = admission.Limits(max_concurrent_agents=10, max_per_repo=1)
    first = [f"o/a{i}#1" for i in range(window)]  # one job each of many repositories
    backlog = [f"o/big#{n}" for n in range(1, 6)]  # the longest backlog, but younger than a whole window

    assert admission.pick_next(first + backlog, set(), 0, {}, limits) == "o/a0#1"
    busy = {f"o/a{i}": 1 for i in range(window)}  # every repository of the first window is full
    assert admission.pick_next(first + backlog, set(), 0, busy, limits) == "o/big#1"


def test_pick_takes_nothing_when_the_global_limit_is_reached() -> None:
    assert admission.pick_next(["o/b#1"], set(), 3, {}, LIMITS) is None


def test_pick_skips_a_job_already_running() -> None:
    assert admission.pick_next(["o/a#1", "o/b#1"], {"o/a#1"}, 1, {"o/a": 1}, LIMITS) == "o/b#1"


@given(st.integers(min_value=0, max_value=2**52), st.integers(min_value=0, max_value=2**52))
def test_next_fence_is_above_the_stored_one_and_the_clock(stored: int, now_us: int) -> None:
    fence = admission.next_fence(stored, now_us)

    assert fence > stored and fence >= now_us


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    backoff = admission.Backoff(max_attempts=9, base_s=10.0, cap_s=60.0)

    low = [backoff.delay_s(n, lambda: 0.0) for n in range(1, 6)]
    high = [backoff.delay_s(n, lambda: 0.999) for n in range(1, 6)]

    assert low == [5.0, 10.0, 20.0, 30.0, 30.0]
    assert all(h < 2 * lo for lo, h in zip(low, high, strict=True))
    assert all(h > lo for lo, h in zip(low, high, strict=True))
