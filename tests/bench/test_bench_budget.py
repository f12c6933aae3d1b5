"""Smoke test of the budget bench, so it keeps running as the ledger changes."""

from __future__ import annotations

import math

import pytest

from tests.bench import bench_budget


@pytest.mark.redis
async def test_bench_reports_a_positive_finite_ratio(redis_url: str) -> None:
    result = await bench_budget.measure(redis_url, iterations=30)

    assert result.iterations == 30
    assert math.isfinite(result.ratio)
    assert result.ratio > 0
    assert result.line().startswith("reserve_settle_per_s=")
