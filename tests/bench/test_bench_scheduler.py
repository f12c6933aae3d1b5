"""The scheduler benchmark still runs and measures something (a few cycles, not a performance gate)."""

from __future__ import annotations

import pytest

from tests.bench import bench_scheduler

pytestmark = pytest.mark.redis


async def test_benchmark_measures_both_loops(redis_url: str) -> None:
    figures = await bench_scheduler.measure(redis_url, 50)

    assert figures.claim_finish_per_s > 0 and figures.set_nx_del_per_s > 0
    assert figures.line().startswith("cycles=50 claim_finish_per_s=")
