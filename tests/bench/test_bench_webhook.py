"""The webhook bench still runs and measures both servers (a few requests, not a performance gate)."""

from __future__ import annotations

import math

from tests.bench import bench_webhook


async def test_bench_measures_the_webhook_and_the_bare_handler() -> None:
    result = await bench_webhook.measure(requests=60, concurrency=4)

    assert result.requests == 60
    assert result.webhook.per_s > 0 and result.bare.per_s > 0
    assert math.isfinite(result.throughput_ratio) and math.isfinite(result.p99_ratio)
    assert result.line().startswith("webhook_per_s=")
