"""The metrics sink that ships documents to Elasticsearch data streams from a background task.

`emit` only appends to a bounded deque (when full, the oldest document is dropped and counted) and
returns: no await, no I/O, nothing on the review path. The shipper sends batches by size or every
`flush_interval_s` with `create` operations and deterministic ids, and classifies each item of the bulk
reply: created or 409 (already stored) is done; 429 and 5xx, of an item or the whole request, and
connection errors go back to the front of the buffer, in order, and are retried with full-jitter
backoff (`bot.retry_policy`, until stored); any other 4xx is dropped and counted by reason. The client's
own retries are off so that retries happen here, where they never hold up an emit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, AsyncElasticsearch, TransportError

from bot import retry_policy, telemetry, version
from config import sections

log = logging.getLogger(__name__)

_WARN_EVERY_S = 60.0
_PREPARE_SLICE = 16


@dataclass(frozen=True, slots=True)
class MetricsStats:
    """A snapshot of the sink's counters (for `quorum doctor`, the readiness page and tests)."""

    sent: int
    duplicates: int
    dropped_full: int
    dropped_rejected: int
    dropped_shutdown: int
    retries: int
    bulk_requests: int
    bulk_failures: int
    buffered: int
    rejected_reasons: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A document ready to ship: scrubbed, stamped, with its stream and id."""

    index: str
    id: str
    doc: dict[str, Any]


def connect(
    settings: sections.ElasticsearchSettings, *, request_timeout_s: float = 10.0
) -> AsyncElasticsearch:
    """A client for `settings.hosts` with transport retries off: the caller decides what to retry."""
    api_key: str | tuple[str, str] | None = None
    if settings.api_key is not None:
        secret = settings.api_key.get_secret_value()
        # Either the encoded key Elasticsearch hands out, or "id:api_key".
        key_id, _, key = secret.partition(":")
        api_key = (key_id, key) if key else secret
    return AsyncElasticsearch(
        list(settings.hosts),
        api_key=api_key,
        request_timeout=request_timeout_s,
        max_retries=0,
        retry_on_status=(),
        retry_on_timeout=False,
        http_compress=True,
        headers=version.HEADERS,
    )


def _retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


class ElasticMetrics:
    """A `MetricsSink` writing to `metrics-<dataset>-<environment>` data streams."""

    def __init__(
        self,
        client: AsyncElasticsearch,
        *,
        environment: str = "default",
        buffer_size: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 2.0,
        shutdown_flush_s: float = 5.0,
        redact: Callable[[str], str] | None = None,
        retry: retry_policy.RetryPolicy | None = None,
        owns_client: bool = False,
        rng: random.Random | None = None,
        sleep: retry_policy.Sleep = asyncio.sleep,
    ) -> None:
        self._client, self._owns_client = client, owns_client
        self._environment = environment
        self._capacity, self._batch_size = max(1, buffer_size), max(1, batch_size)
        self._flush_interval_s, self._shutdown_flush_s = flush_interval_s, shutdown_flush_s
        self._redact = redact
        self._retry = retry or retry_policy.for_elasticsearch(sections.ElasticsearchSettings())
        self._rng, self._sleep = rng or random.Random(), sleep
        self._buffer: collections.deque[tuple[str, Mapping[str, Any]] | _Prepared] = collections.deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failures = 0  # consecutive failed attempts, for `/readyz`
        self._warned: dict[str, float] = {}
        self.rejected_reasons: collections.Counter[str] = collections.Counter()
        self.sent = self.duplicates = self.retries = 0
        self.dropped_full = self.dropped_rejected = self.dropped_shutdown = 0
        self.bulk_requests = self.bulk_failures = 0

    @classmethod
    def from_settings(
        cls, settings: sections.ElasticsearchSettings, *, redact: Callable[[str], str] | None = None
    ) -> ElasticMetrics:
        """A sink with its own client (closed by `aclose`), configured from `[elasticsearch]`."""
        return cls(
            connect(settings),
            environment=settings.environment,
            buffer_size=settings.buffer_size,
            batch_size=settings.batch_size,
            flush_interval_s=settings.flush_interval_s,
            shutdown_flush_s=settings.shutdown_flush_s,
            redact=redact,
            retry=retry_policy.for_elasticsearch(settings),
            owns_client=True,
        )

    # -- the review path ---------------------------------------------------------------------------

    def emit(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Buffer one document; never blocks, never raises (when full the oldest is dropped).

        Call it from the event loop's thread (another thread: `loop.call_soon_threadsafe(sink.emit, …)`).
        """
        try:
            if self._closed:  # nothing ships any more: count it as lost at shutdown
                self.dropped_shutdown += 1
                return
            buffer = self._buffer
            if len(buffer) >= self._capacity:
                buffer.popleft()
                self.dropped_full += 1
            buffer.append((kind, fields))
            if len(buffer) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        except Exception:  # the review path must never see a metrics failure
            self.dropped_full += 1

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Documents waiting to be shipped."""
        return len(self._buffer)

    @property
    def failing(self) -> int:
        """Consecutive failed bulk attempts now (0 while shipping works), for `/readyz`."""
        return self._failures

    def stats(self) -> MetricsStats:
        """The counters as one value."""
        return MetricsStats(
            self.sent,
            self.duplicates,
            self.dropped_full,
            self.dropped_rejected,
            self.dropped_shutdown,
            self.retries,
            self.bulk_requests,
            self.bulk_failures,
            len(self._buffer),
            tuple(sorted(self.rejected_reasons.items())),
        )

    async def start(self) -> None:
        """Start the shipper task on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="elastic-metrics")

    async def aclose(self) -> None:
        """Stop shipping: flush what is buffered within `shutdown_flush_s`, count the rest as lost."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            # Only our own cancel is absorbed: if the caller is being cancelled, let it through.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise asyncio.CancelledError
        try:
            async with asyncio.timeout(self._shutdown_flush_s):
                await self._drain(backoff_cap_s=min(self._retry.max_s, self._shutdown_flush_s / 4))
        except TimeoutError:
            pass
        finally:
            lost = len(self._buffer)
            if lost:
                self.dropped_shutdown += lost
                self._buffer.clear()
                log.warning("metrics: %d documents lost at shutdown (Elasticsearch did not take them)", lost)
            if self._owns_client:
                await self._client.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[ElasticMetrics]:
        """Ship in the background for the duration of the block; flush on the way out."""
        await self.start()
        try:
            yield self
        finally:
            await self.aclose()

    async def flush(self) -> None:
        """Ship everything buffered now, retrying until it is stored or rejected."""
        await self._drain(backoff_cap_s=self._retry.max_s)

    # -- the shipper -------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            await self._drain(backoff_cap_s=self._retry.max_s)

    async def _drain(self, *, backoff_cap_s: float) -> None:
        """Ship batch after batch until the buffer is empty; a batch not stored whole is sent again."""
        retrying = dataclasses.replace(self._retry, max_s=backoff_cap_s).retrying(
            retry_policy.on_result(lambda stored: not stored),
            sleep=self._sleep,
            rng=self._rng,
            before_retry=self._failed_attempt,
        )
        while self._buffer:
            await retrying(self._ship_batch)
            self._failures = 0

    def _failed_attempt(self, failure: BaseException | None, wait: float) -> None:
        self._failures += 1

    async def _ship_batch(self) -> bool:
        """Send one batch; True when nothing of it is left to retry."""
        batch: list[_Prepared] = []
        retry = batch  # filled by _take: on a cancel mid-way, what was taken goes back
        try:
            await self._take(batch)
            retry = await self._send(batch) if batch else []
        finally:
            if retry:  # back to the front, in order; also when cancelled mid-request
                self._buffer.extendleft(reversed(retry))
                while len(self._buffer) > self._capacity:
                    self._buffer.popleft()
                    self.dropped_full += 1
        return not retry

    async def _take(self, batch: list[_Prepared]) -> None:
        while self._buffer and len(batch) < self._batch_size:
            entry = self._buffer.popleft()
            if isinstance(entry, _Prepared):
                batch.append(entry)
                continue
            prepared = self._prepare(*entry)
            if prepared is not None:
                batch.append(prepared)
            if len(batch) % _PREPARE_SLICE == 0:
                # Redaction costs ~0.1 ms a document: yield so a batch never stalls the review path.
                await asyncio.sleep(0)

    def _prepare(self, kind: str, fields: Mapping[str, Any]) -> _Prepared | None:
        try:
            scrubbed = telemetry.scrub(fields, self._redact) if self._redact else fields
            # A JSON round trip: what cannot be serialised fails here, for this document alone.
            doc: dict[str, Any] = json.loads(json.dumps(scrubbed, default=str))
        except (TypeError, ValueError):
            self._reject("unserialisable")
            return None
        index = telemetry.stream_name(kind, self._environment)
        if not all(isinstance(doc.get(key, {}), dict) for key in ("event", "data_stream", "service")):
            self._reject("malformed")  # ECS objects given as scalars would break the mapping
            return None
        doc.setdefault("@timestamp", telemetry.timestamp(time.time()))
        event = doc.setdefault("event", {})
        event.setdefault("id", uuid.uuid4().hex)
        stream = doc.setdefault("data_stream", {})
        stream.update(type="metrics", dataset=telemetry.DATASETS.get(kind, telemetry.REVIEW_DATASET))
        stream["namespace"] = self._environment
        doc.setdefault("service", {})["environment"] = self._environment
        return _Prepared(index, str(event["id"]), doc)

    async def _send(self, batch: list[_Prepared]) -> list[_Prepared]:
        """Send `batch`; return the documents to retry."""
        operations: list[Mapping[str, Any]] = []
        for item in batch:
            operations.append({"create": {"_index": item.index, "_id": item.id}})
            operations.append(item.doc)
        self.bulk_requests += 1
        try:
            response = await self._client.bulk(operations=operations)
        except ApiError as exc:
            return self._request_failed(batch, exc.meta.status, _error_type(exc.body))
        except TransportError as exc:
            return self._request_failed(batch, 0, type(exc).__name__)
        except Exception as exc:  # an unexpected client failure: keep the documents and retry
            return self._request_failed(batch, 0, type(exc).__name__)
        return self._classify(batch, response.body.get("items", []))

    def _request_failed(self, batch: list[_Prepared], status: int, error_type: str) -> list[_Prepared]:
        self.bulk_failures += 1
        if status == 0 or _retryable(status):
            self.retries += len(batch)
            self._warn(
                f"request:{status}:{error_type}",
                "metrics: bulk request failed (%s %s), retrying",
                status or "connection",
                error_type,
            )
            return batch
        for _ in batch:
            self._reject(f"request {status} {error_type}")
        return []

    def _classify(self, batch: list[_Prepared], items: list[Any]) -> list[_Prepared]:
        retry: list[_Prepared] = []
        for index, item in enumerate(batch):
            if index >= len(items):
                retry.append(item)  # a reply shorter than the request: try the rest again
                continue
            result: Mapping[str, Any] = next(iter(items[index].values()), {})
            status = int(result.get("status", 0))
            if 200 <= status < 300:
                self.sent += 1
            elif status == 409:  # stored by an earlier attempt whose reply was lost
                self.duplicates += 1
            elif _retryable(status):
                retry.append(item)
            else:
                self._reject(f"{status} {_error_type(result)}")
        self.retries += len(retry)
        if retry:
            self._warn(
                "items", "metrics: %d of %d documents rejected for now, retrying", len(retry), len(batch)
            )
        return retry

    def _reject(self, reason: str) -> None:
        self.dropped_rejected += 1
        self.rejected_reasons[reason] += 1
        self._warn(f"reject:{reason}", "metrics: document dropped (%s)", reason)

    def _warn(self, key: str, message: str, *args: object) -> None:
        """Log at WARNING at most once per reason per minute."""
        now = time.monotonic()
        last = self._warned.get(key)
        if last is None or now - last >= _WARN_EVERY_S:
            self._warned[key] = now
            log.warning(message, *args)


def _error_type(body: Any) -> str:
    """The `error.type` of a bulk item or of an error reply (never its reason: it may quote the doc)."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            return str(error.get("type", "error"))
        if isinstance(error, str):
            return "error"
    return "error"
