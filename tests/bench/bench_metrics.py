"""Events per second through emit → fake Elasticsearch, and the cost of one emit against an empty call.

    python -m tests.bench.bench_metrics [--events 20000]

Starts the wire-level fake Elasticsearch on 127.0.0.1, ships `--events` documents through the real
client, then times `emit` and an empty function with the same arguments in one run; prints one line.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass
from typing import Any

from bot import telemetry
from bot.adapters.elastic import metrics as elastic_metrics
from bot.review.llm_call import CallRecord
from config import sections
from tests.fakes.elastic_server import FakeElasticsearch

CTX = telemetry.DocContext("bench/repo", 1, "e" * 40, 1, "delivery", "job")


@dataclass(frozen=True)
class BenchFigures:
    events: int
    events_per_s: float
    emit_ns: float
    empty_call_ns: float

    @property
    def emit_ratio(self) -> float:
        return self.emit_ns / self.empty_call_ns

    def line(self) -> str:
        return (
            f"events={self.events} events_per_s={self.events_per_s:.0f} emit_ns={self.emit_ns:.0f} "
            f"empty_call_ns={self.empty_call_ns:.0f} emit_ratio={self.emit_ratio:.1f}"
        )


def _docs(n: int) -> list[dict[str, Any]]:
    record = CallRecord("bench-model", "openai", "query", 1000, 200, 300, 40, "ok")
    return [telemetry.llm_call_doc(record, CTX, at=1_767_225_600 + i / 1000) for i in range(n)]


def _sink(url: str, events: int) -> elastic_metrics.ElasticMetrics:
    settings = sections.ElasticsearchSettings(hosts=[url])
    client = elastic_metrics.connect(settings)
    return elastic_metrics.ElasticMetrics(
        client, buffer_size=events, batch_size=500, flush_interval_s=0.05, owns_client=True
    )


async def throughput(url: str, events: int) -> float:
    """Documents per second from the first emit until Elasticsearch acknowledged the last one."""
    docs = _docs(events)
    sink = _sink(url, events)
    async with sink.running():
        started = time.perf_counter()
        for i, doc in enumerate(docs):
            sink.emit("llm_call", doc)
            if i % 500 == 0:
                await asyncio.sleep(0)  # a review path yields to the loop now and then
        while sink.sent + sink.duplicates < events:
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
    return events / elapsed


def _empty(kind: str, fields: Any) -> None:
    """The baseline: a call with emit's arguments that does nothing."""


def per_call_ns(fn: Any, doc: dict[str, Any], n: int) -> float:
    """Best of five timed loops of `n` calls, in nanoseconds per call."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter_ns()
        for _ in range(n):
            fn("llm_call", doc)
        best = min(best, (time.perf_counter_ns() - started) / n)
    return best


async def emit_cost(url: str, n: int) -> tuple[float, float]:
    """(emit, empty call) in ns per call; the sink is never started, so nothing else runs meanwhile."""
    client = elastic_metrics.connect(sections.ElasticsearchSettings(hosts=[url]))
    sink = elastic_metrics.ElasticMetrics(client, buffer_size=n * 5, batch_size=500)
    doc = _docs(1)[0]
    empty = per_call_ns(_empty, doc, n)
    emit = per_call_ns(sink.emit, doc, n)
    empty = min(empty, per_call_ns(_empty, doc, n))
    await client.close()  # the buffered copies are never shipped
    return emit, empty


async def measure(url: str, events: int) -> BenchFigures:
    """Throughput through the fake, then the per-call cost, in one run."""
    await throughput(url, min(events, 1000))  # warm up connections and the server
    rate = await throughput(url, events)
    emit, empty = await emit_cost(url, max(events, 10_000))
    return BenchFigures(events, rate, emit, empty)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    events = parser.parse_args(argv).events
    with FakeElasticsearch() as server:
        figures = asyncio.run(measure(server.url, events))
    print(figures.line())


if __name__ == "__main__":
    main()
