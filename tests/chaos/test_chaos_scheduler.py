"""A smaller chaos run of the Redis scheduler: worker processes killed, one paused, Redis restarted."""

from __future__ import annotations

import pytest

from tests.chaos import scheduler as chaos

pytestmark = pytest.mark.redis


async def test_invariants_hold_under_kills_a_pause_and_a_redis_restart() -> None:
    options = chaos.Options(workers=3, jobs=60, repos=10, kills=5, timeout_s=120.0)

    figures = await chaos.run(options)

    assert figures.broken(options) == [], figures.line()
    assert (figures.done, figures.lost, figures.double_runs, figures.stale_writes_accepted) == (60, 0, 0, 0)
    assert figures.max_global <= 6 and figures.max_repo <= 2
    # The faults really happened, and the paused holder really tried to write with its old fence.
    assert (figures.kills, figures.stops, figures.redis_restarts) == (5, 1, 1)
    assert figures.stale_writes_rejected >= 1
    assert figures.samples > 100
