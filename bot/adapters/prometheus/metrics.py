"""Per-process Prometheus counters and histograms, fed by the metric documents every part already emits.

`PrometheusMetrics` is a `MetricsSink`: each document kind updates its metrics (an LLM call its calls,
tokens, cost and latency; a review its decision; a merge, publish, guardrail block or queue wait theirs).
Lease renewals and webhook deliveries have no document, so they are counted through `MeteredLeases` and
`delivered`. Everything lives on a registry of its own, never the library's global one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from guardrails import lease

log = logging.getLogger(__name__)

# Seconds. Model calls run from under a second (small local models) to minutes (large diffs).
_LLM_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0)
_WAIT_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


def _get(fields: Mapping[str, Any], *path: str) -> Any:
    value: Any = fields
    for name in path:
        value = value[name]
    return value


class PrometheusMetrics:
    """A `MetricsSink` counting into its own registry; `emit` never raises."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        model = ["provider", "model"]
        self.llm_calls = Counter(
            "quorum_llm_calls", "Model call attempts, by outcome.", [*model, "outcome"], registry=r
        )
        self.llm_tokens = Counter(
            "quorum_llm_tokens", "Tokens the providers reported.", [*model, "direction"], registry=r
        )
        self.llm_cost = Counter("quorum_llm_cost_usd", "What model calls cost, in USD.", model, registry=r)
        self.llm_latency = Histogram(
            "quorum_llm_call_duration_seconds",
            "Model call attempts.",
            model,
            buckets=_LLM_BUCKETS,
            registry=r,
        )
        self.decisions = Counter("quorum_decisions", "Review decisions.", ["decision", "reason"], registry=r)
        self.rounds = Counter("quorum_review_rounds", "Review rounds, by verdict.", ["verdict"], registry=r)
        self.published = Counter(
            "quorum_reviews_published", "Reviews posted, by event.", ["event"], registry=r
        )
        self.merges = Counter("quorum_merges", "Merge attempts, by outcome.", ["outcome"], registry=r)
        self.blocks = Counter("quorum_guardrail_blocks", "Guardrail refusals.", ["guardrail"], registry=r)
        self.queue_wait = Histogram(
            "quorum_queue_wait_seconds", "A job's wait for a slot.", buckets=_WAIT_BUCKETS, registry=r
        )
        self.renewals = Counter("quorum_lease_renewals", "Lease renewals, by result.", ["result"], registry=r)
        self.deliveries = Counter(
            "quorum_webhook_deliveries", "Webhook answers, by status.", ["status"], registry=r
        )
        self._handlers = self._by_kind()

    def _by_kind(self) -> dict[str, Callable[[Mapping[str, Any]], None]]:
        return {
            "llm_call": self._llm_call,
            "review": self._review,
            "round": lambda doc: self.rounds.labels(_get(doc, "quorum", "verdict")).inc(),
            "publish": lambda doc: self.published.labels(
                _get(doc, "quorum", "publish", "review_event")
            ).inc(),
            "merge": lambda doc: self.merges.labels(_get(doc, "quorum", "merge", "outcome")).inc(),
            "guardrail": lambda doc: self.blocks.labels(_get(doc, "quorum", "guardrail", "name")).inc(),
            "queue": lambda doc: self.queue_wait.observe(_get(doc, "quorum", "queue", "wait_ms") / 1000),
        }

    def emit(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Count one document (kinds without metrics are ignored)."""
        handler = self._handlers.get(kind)
        if handler is None:
            return
        try:
            handler(fields)
        except Exception as exc:  # the sink's boundary: a malformed document loses a sample, never a review
            log.debug("no metric from a %s document: %r", kind, exc)

    def _llm_call(self, doc: Mapping[str, Any]) -> None:
        ai, q = doc["gen_ai"], doc["quorum"]
        labels = (ai["provider"]["name"], ai["request"]["model"])
        self.llm_calls.labels(*labels, q["outcome"]).inc()
        self.llm_tokens.labels(*labels, "input").inc(ai["usage"]["input_tokens"])
        self.llm_tokens.labels(*labels, "output").inc(ai["usage"]["output_tokens"])
        self.llm_cost.labels(*labels).inc(q["cost_micro_usd"] / 1_000_000)
        self.llm_latency.labels(*labels).observe(q["duration_ms"] / 1000)

    def _review(self, doc: Mapping[str, Any]) -> None:
        self.decisions.labels(doc["quorum"]["decision"], doc["quorum"]["reason"]).inc()

    def delivered(self, status: int) -> None:
        """Count one webhook delivery answered with `status`."""
        self.deliveries.labels(str(status)).inc()

    def metered(self, inner: lease.LeaseManager) -> MeteredLeases:
        """`inner` with its renewals counted."""
        return MeteredLeases(inner, self.renewals)


class MeteredLeases:
    """A `LeaseManager` counting each renewal: ok, lost (refused), or error (the store failed)."""

    def __init__(self, inner: lease.LeaseManager, renewals: Counter) -> None:
        self._inner = inner
        self._renewals = renewals

    async def renew(self, held: lease.Lease) -> bool:
        try:
            renewed = await self._inner.renew(held)
        except Exception:
            self._renewals.labels("error").inc()
            raise
        self._renewals.labels("ok" if renewed else "lost").inc()
        return renewed
