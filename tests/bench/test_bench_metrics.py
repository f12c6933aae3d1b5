"""The metrics benchmark still runs and measures both figures (a few events, not a performance gate)."""

from __future__ import annotations

from tests.bench import bench_metrics
from tests.fakes.elastic_server import FakeElasticsearch


async def test_benchmark_measures_throughput_and_emit_cost():
    with FakeElasticsearch() as server:
        figures = await bench_metrics.measure(server.url, 600)

    assert figures.events_per_s > 0 and figures.emit_ns > 0 and figures.empty_call_ns > 0
    assert figures.line().startswith("events=600 events_per_s=")
    assert len(server.ids()) == 600  # the warm-up re-sends the same ids: stored once
