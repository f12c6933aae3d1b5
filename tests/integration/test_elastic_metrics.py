"""The Elasticsearch sink against the wire-level fake: batching, per-item verdicts, outages, shutdown."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot import ports, telemetry
from bot.adapters.elastic import metrics as elastic_metrics
from bot.retry_policy import RetryPolicy
from bot.review.llm_call import CallRecord
from config import sections
from guardrails.text import redaction
from tests.fakes.elastic_server import FakeElasticsearch
from tests.support.clock import FakeClock

CTX = telemetry.DocContext("acme/widgets", 7, "c" * 40, 1, "d-1", "job-7")


def sink_for(url: str, **overrides: Any) -> elastic_metrics.ElasticMetrics:
    options: dict[str, Any] = {
        "environment": "test",
        "batch_size": 100,
        "flush_interval_s": 60.0,
        "shutdown_flush_s": 2.0,
        "retry": RetryPolicy(None, 0.02, 0.05, jitter=1.0),
        "owns_client": True,
    } | overrides
    settings = sections.ElasticsearchSettings(hosts=[url])
    return elastic_metrics.ElasticMetrics(elastic_metrics.connect(settings, request_timeout_s=2.0), **options)


def doc(i: int, **quorum: Any) -> dict[str, Any]:
    fields = telemetry.queue_doc(i / 1000, CTX, at=1_767_225_600 + i)
    fields["quorum"].update(quorum)
    return fields


async def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def test_ships_a_full_batch_without_waiting_for_the_timer(fake_es: FakeElasticsearch):
    sink = sink_for(fake_es.url, batch_size=10)
    async with sink.running():
        for i in range(3):
            sink.emit("queue", doc(i))
        await asyncio.sleep(0.2)
        assert fake_es.bulk_sizes == []  # under a batch and long before the timer

        for i in range(3, 25):
            sink.emit("queue", doc(i))
        await wait_until(lambda: sink.sent == 25)

    assert fake_es.bulk_sizes == [10, 10, 5]
    assert len(fake_es.documents("metrics-quorum.review-test")) == 25


async def test_ships_a_partial_batch_when_the_interval_passes(fake_es: FakeElasticsearch):
    sink = sink_for(fake_es.url, flush_interval_s=0.1)
    async with sink.running():
        for i in range(3):
            sink.emit("queue", doc(i))
        await wait_until(lambda: sink.sent == 3, timeout=2.0)

    assert fake_es.bulk_sizes == [3]


async def test_documents_land_in_their_data_stream_with_their_id(fake_es: FakeElasticsearch):
    record = CallRecord("m", "openai", "query", 10, 5, 20, 30, "ok")
    llm = telemetry.llm_call_doc(record, CTX, at=1_767_225_600)
    sink = sink_for(fake_es.url)
    async with sink.running():
        sink.emit("llm_call", llm)

    stored = fake_es.documents("metrics-quorum.llm-test")
    assert fake_es.ids("metrics-quorum.llm-test") == [llm["event"]["id"]]
    assert stored[0]["data_stream"] == {"type": "metrics", "dataset": "quorum.llm", "namespace": "test"}
    assert stored[0]["service"] == {"name": "quorum", "environment": "test"}


async def test_item_429s_are_retried_and_stored_once(fake_es: FakeElasticsearch):
    fake_es.fail_items(429, 2)
    sink = sink_for(fake_es.url)
    async with sink.running():
        for i in range(5):
            sink.emit("queue", doc(i))
        await sink.flush()

    ids = fake_es.ids()
    assert len(ids) == len(set(ids)) == 5
    assert (sink.sent, sink.retries, sink.duplicates, sink.dropped_rejected) == (5, 2, 0, 0)
    assert fake_es.bulk_sizes == [5, 2]


async def test_a_resent_document_is_not_doubled(fake_es: FakeElasticsearch):
    sink = sink_for(fake_es.url)
    async with sink.running():
        sink.emit("queue", doc(1))
        sink.emit("queue", doc(1))
        await sink.flush()

    assert len(fake_es.ids()) == 1
    assert (sink.sent, sink.duplicates) == (1, 1)


async def test_rejected_items_are_dropped_and_counted_by_reason(fake_es: FakeElasticsearch):
    fake_es.reject_when(lambda d: 400 if d["quorum"].get("poison") else None)
    sink = sink_for(fake_es.url)
    async with sink.running():
        for i in range(5):
            sink.emit("queue", doc(i, poison=i % 2 == 1))
        await sink.flush()

    assert (sink.sent, sink.dropped_rejected, sink.retries) == (3, 2, 0)
    assert dict(sink.rejected_reasons) == {"400 document_parsing_exception": 2}
    assert len(fake_es.ids()) == 3


@pytest.mark.parametrize("status", [429, 503])
async def test_whole_request_429_or_503_is_retried(fake_es: FakeElasticsearch, status: int):
    fake_es.fail_requests(status, 2)
    sink = sink_for(fake_es.url)
    async with sink.running():
        for i in range(4):
            sink.emit("queue", doc(i))
        await sink.flush()

    assert len(fake_es.ids()) == 4
    assert (sink.bulk_failures, sink.retries, sink.sent) == (2, 8, 4)


async def test_no_document_is_lost_while_elasticsearch_recovers(fake_es: FakeElasticsearch):
    sink = sink_for(fake_es.url, batch_size=50, flush_interval_s=0.05, buffer_size=1000)
    fake_es.down()
    async with sink.running():
        emitted = []
        for i in range(300):
            fields = doc(i)
            emitted.append(fields["event"]["id"])
            sink.emit("queue", fields)
            if i % 50 == 0:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        assert sink.sent == 0 and sink.buffered == 300 and sink.retries > 0

        fake_es.up()
        await wait_until(lambda: sink.sent == 300)

    assert sorted(fake_es.ids()) == sorted(emitted)
    assert sink.dropped_full == sink.dropped_rejected == sink.dropped_shutdown == 0


async def test_a_full_buffer_drops_the_oldest_and_counts_them(fake_es: FakeElasticsearch):
    sink = sink_for(fake_es.url, buffer_size=10)
    emitted = [doc(i) for i in range(25)]
    for fields in emitted:
        sink.emit("queue", fields)

    assert (sink.buffered, sink.dropped_full) == (10, 15)
    async with sink.running():
        await sink.flush()
    assert sorted(fake_es.ids()) == sorted(d["event"]["id"] for d in emitted[15:])


async def _review_path(sink: Any, emits: int) -> float:
    """A stand-in for the review path: build and emit documents, yielding to the loop now and then."""
    record = CallRecord("m", "openai", "query", 100, 50, 7, 12, "ok")
    started = time.perf_counter()
    for i in range(emits):
        sink.emit("llm_call", telemetry.llm_call_doc(record, CTX, at=1_767_225_600 + i))
        if i % 20 == 0:
            await asyncio.sleep(0)
    return time.perf_counter() - started


async def _timed_with(sink: elastic_metrics.ElasticMetrics) -> float:
    async with sink.running():
        elapsed = min([await _review_path(sink, 1000) for _ in range(2)])
        assert sink.bulk_requests > 0 and sink.sent == 0  # the shipper ran, and failed or waited, meanwhile
    return elapsed


async def test_review_path_latency_is_unchanged_when_elasticsearch_is_down_or_slow(
    fake_es: FakeElasticsearch,
):
    assert not inspect.iscoroutinefunction(elastic_metrics.ElasticMetrics.emit)
    redactor = redaction.Redactor(["es-api-key-Zq9xR2mT7vB4nK8p"])

    def redact(text: str) -> str:  # as in production: the shipper scrubs every document
        return redactor.redact(text)[0]

    fake_es.delay_s = 1.0
    null, down, slow = [], [], []
    for _ in range(3):  # interleaved, best of each: load on a shared machine hits all three alike
        null.append(min([await _review_path(ports.NULL_METRICS, 1000) for _ in range(2)]))
        options = {"batch_size": 50, "flush_interval_s": 0.01, "shutdown_flush_s": 0.2, "redact": redact}
        down.append(await _timed_with(sink_for("http://127.0.0.1:1", **options)))
        slow.append(await _timed_with(sink_for(fake_es.url, **options)))

    baseline, with_down, with_slow = min(null), min(down), min(slow)
    print(f"review path ms: null {baseline * 1e3:.2f} down {with_down * 1e3:.2f} slow {with_slow * 1e3:.2f}")
    assert with_down < 3 * baseline, (with_down, baseline)
    assert with_slow < 3 * baseline, (with_slow, baseline)


async def test_shutdown_flushes_what_is_buffered(fake_es: FakeElasticsearch):
    sink = sink_for(fake_es.url, batch_size=20)
    await sink.start()
    for i in range(50):
        sink.emit("queue", doc(i))

    started = time.monotonic()
    await sink.aclose()

    assert time.monotonic() - started < 1.0
    assert len(fake_es.ids()) == 50 and sink.dropped_shutdown == 0
    sink.emit("queue", doc(99))  # after shutdown: counted, never buffered
    assert (sink.dropped_shutdown, sink.buffered) == (1, 0)


async def test_shutdown_gives_up_at_the_deadline_and_counts_the_loss(fake_es: FakeElasticsearch):
    fake_es.delay_s = 5.0
    sink = sink_for(fake_es.url, shutdown_flush_s=0.3)
    await sink.start()
    for i in range(40):
        sink.emit("queue", doc(i))

    started = time.monotonic()
    await sink.aclose()

    assert time.monotonic() - started < 1.5
    assert sink.dropped_shutdown == 40 and sink.buffered == 0
    assert sink.stats().dropped_shutdown == 40


async def test_configured_secrets_never_reach_elasticsearch(fake_es: FakeElasticsearch):
    secret = "es-api-key-Zq9xR2mT7vB4nK8p"
    redactor = redaction.Redactor([secret])
    sink = sink_for(fake_es.url, redact=lambda text: redactor.redact(text)[0])
    record = CallRecord("m", "openai", "query", 0, 0, 0, 5, "error", f"401 for key {secret}")
    async with sink.running():
        sink.emit("llm_call", telemetry.llm_call_doc(record, CTX, at=1_767_225_600))
        sink.emit("guardrail", telemetry.guardrail_doc("redaction", f"saw {secret}", CTX, at=1_767_225_600))

    stored = json.dumps(fake_es.documents())
    assert len(fake_es.ids()) == 2
    assert secret not in stored and "[REDACTED:known_secret]" in stored


async def test_the_api_key_from_settings_authenticates():
    with FakeElasticsearch(api_key="aWQ6c2VjcmV0") as server:
        settings = sections.ElasticsearchSettings(
            hosts=[server.url], api_key="aWQ6c2VjcmV0", environment="prod"
        )
        sink = elastic_metrics.ElasticMetrics.from_settings(settings)
        async with sink.running():
            sink.emit("queue", doc(1))

        assert server.ids("metrics-quorum.review-prod") == [doc(1)["event"]["id"]]
        assert sink.stats().sent == 1


async def test_a_refused_key_drops_and_counts_instead_of_retrying_forever():
    with FakeElasticsearch(api_key="the-right-key") as server:
        sink = sink_for(server.url)
        async with sink.running():
            for i in range(3):
                sink.emit("queue", doc(i))
            await sink.flush()

    assert (sink.sent, sink.dropped_rejected, sink.retries) == (0, 3, 0)
    assert dict(sink.rejected_reasons) == {"request 401 security_exception": 3}


def bulk_calls(fake: FakeElasticsearch) -> int:
    return sum(path.endswith("/_bulk") for _, path in fake.requests)


async def test_a_429_bulk_is_sent_again_after_a_jittered_wait_and_stored_once(fake_es: FakeElasticsearch):
    fake_es.fail_requests(429, 1)
    clock = FakeClock()
    sink = sink_for(fake_es.url, retry=RetryPolicy(None, 0.5, 30.0, jitter=1.0), sleep=clock.skip)

    async with sink.running():
        for i in range(3):
            sink.emit("queue", doc(i))
        await sink.flush()

    assert bulk_calls(fake_es) == 2 and fake_es.bulk_sizes == [3]  # the refused one, then the stored one
    assert len(fake_es.ids()) == len(set(fake_es.ids())) == 3 and sink.failing == 0
    assert len(clock.slept) == 1 and 0.0 <= clock.slept[0] <= 0.5  # full jitter under the first step


async def test_a_long_outage_backs_off_to_the_cap_and_loses_nothing(fake_es: FakeElasticsearch):
    fake_es.fail_requests(503, 6)
    clock = FakeClock()
    sink = sink_for(fake_es.url, retry=RetryPolicy(None, 0.5, 2.0, jitter=1.0), sleep=clock.skip)

    async with sink.running():
        sink.emit("queue", doc(1))
        await sink.flush()

    ceilings = [0.5, 1.0, 2.0, 2.0, 2.0, 2.0]
    assert len(clock.slept) == 6 and all(0 <= w <= c for w, c in zip(clock.slept, ceilings, strict=True))
    assert bulk_calls(fake_es) == 7 and len(fake_es.ids()) == 1
