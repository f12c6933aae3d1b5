"""Metric and audit documents: pure builders turning domain values into ECS documents, and simple sinks.

Field names follow ECS where it has one (`@timestamp`, `event.*`, `error.*`, `service.name`, `gen_ai.*` for
model, provider and tokens); everything of ours lives under `quorum.*`. Every document carries the
`DocContext` (repo, PR, head SHA, round, delivery and job id) and a deterministic `event.id`, a hash of
its identifying fields, which the shipper uses as the document `_id`: a document sent twice is stored once.

Redaction happens in one place, the sink (`scrub`), off the review path: builders copy values as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot import errors
from bot.domain import Decision, Reason, ReviewOutcome, RoundResult, Severity, Usage, Verdict
from bot.ports import MetricsSink
from bot.review.llm_call import CallRecord
from guardrails import budget
from statemachine.lifecycle import Transition

Doc = dict[str, Any]
SERVICE = "quorum"
LLM_DATASET = "quorum.llm"
REVIEW_DATASET = "quorum.review"
# kind -> dataset: LLM calls are many and small, the rest is one stream of review events.
DATASETS: dict[str, str] = {
    "llm_call": LLM_DATASET,
    "round": REVIEW_DATASET,
    "review": REVIEW_DATASET,
    "transition": REVIEW_DATASET,
    "guardrail": REVIEW_DATASET,
    "budget_state": REVIEW_DATASET,
    "queue": REVIEW_DATASET,
    "breaker": REVIEW_DATASET,
}
_NS_PER_MS = 1_000_000
_MICRO = 1_000_000
_LLM_ERROR_TYPES = {
    "retry": "provider_error",
    "error": "provider_error",
    "timeout": "timeout",
    "breaker_open": "breaker_open",
    "usage_over_reservation": "usage_over_reservation",
}


@dataclass(frozen=True, slots=True)
class DocContext:
    """What every document says it is about."""

    repo: str = ""
    pr: int = 0
    head_sha: str = ""
    round: int = 0
    delivery_id: str = ""
    job_id: str = ""


def stream_name(kind: str, environment: str) -> str:
    """The data stream a document of `kind` goes to: `metrics-<dataset>-<environment>`."""
    return f"metrics-{DATASETS.get(kind, REVIEW_DATASET)}-{environment}"


def timestamp(at: float) -> str:
    """UTC ISO 8601 with milliseconds, as Elasticsearch's `date` type reads it."""
    return datetime.fromtimestamp(at, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def doc_id(kind: str, ctx: DocContext, at: float, *parts: object) -> str:
    """A stable id from the identifying fields: the same event always hashes to the same id."""
    fields = (
        kind,
        ctx.repo,
        ctx.pr,
        ctx.head_sha,
        ctx.round,
        ctx.delivery_id,
        ctx.job_id,
        round(at * _MICRO),
    )
    key = "\x1f".join(str(p) for p in (*fields, *parts))
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _base(kind: str, action: str, ctx: DocContext, at: float, ident: tuple[object, ...]) -> Doc:
    quorum: Doc = {"kind": kind, "round": ctx.round}
    if ctx.repo:
        quorum["repo"] = ctx.repo
    if ctx.pr:
        quorum["pr"] = {"number": ctx.pr, "key": f"{ctx.repo}#{ctx.pr}"}
    for name in ("head_sha", "delivery_id", "job_id"):
        value = getattr(ctx, name)
        if value:
            quorum[name] = value
    dataset = DATASETS[kind]
    return {
        "@timestamp": timestamp(at),
        "event": {
            "id": doc_id(kind, ctx, at, *ident),
            "kind": "event",
            "category": ["process"],
            "type": ["info"],
            "dataset": dataset,
            "action": action,
        },
        "service": {"name": SERVICE},
        "data_stream": {"type": "metrics", "dataset": dataset},
        "quorum": quorum,
    }


def _usd(micro: int) -> float:
    return micro / _MICRO


def _cost(micro: int) -> Doc:
    return {"cost_micro_usd": micro, "cost_usd": _usd(micro)}


def _outcome(doc: Doc, ok: bool, error_type: str | None = None, message: str | None = None) -> None:
    doc["event"]["outcome"] = "success" if ok else "failure"
    doc["quorum"]["failed"] = 0 if ok else 1  # numeric, so a failure rate is an average in Lens
    if error_type:
        doc["error"] = {"type": error_type}
        if message:
            doc["error"]["message"] = message


def llm_call_doc(
    record: CallRecord,
    ctx: DocContext,
    *,
    at: float,
    seq: int = 0,
    attempt: int = 0,
    prompt_version: str = "",
) -> Doc:
    """One LLM attempt; `at` is when it started (epoch seconds), `seq` tells apart calls of one instant."""
    doc = _base("llm_call", "llm.call", ctx, at, (seq, record.model, attempt, record.outcome))
    doc["event"]["duration"] = record.duration_ms * _NS_PER_MS
    doc["gen_ai"] = {
        "provider": {"name": record.provider},
        "request": {"model": record.model},
        "operation": {"name": "chat"},
        "usage": {"input_tokens": record.input_tokens, "output_tokens": record.output_tokens},
    }
    q = doc["quorum"]
    q.update(_cost(record.cost_micro))
    q.update(
        llm_kind=record.kind,
        outcome=record.outcome,
        attempt=attempt,
        retried=1 if record.outcome == "retry" else 0,
        duration_ms=record.duration_ms,
        tokens_total=record.input_tokens + record.output_tokens,
    )
    if prompt_version:
        q["prompt_version"] = prompt_version
    if record.call_id:
        q.update(call_id=record.call_id, reserved_micro_usd=record.reserved_micro)
    if record.breaker != "none":
        state = "open" if record.breaker == "opened" else "closed"
        q["breaker"] = {"name": f"{record.provider}/{record.model}", "state": state}
    if record.input_tokens:
        q["output_per_input"] = record.output_tokens / record.input_tokens
    ok = record.outcome == "ok"
    error_type = None if ok else _LLM_ERROR_TYPES.get(record.outcome, "budget_exceeded")
    _outcome(doc, ok, error_type, record.error)
    return doc


def round_doc(result: RoundResult, ctx: DocContext, *, at: float) -> Doc:
    """One full review round of one head commit."""
    doc = _base("round", "review.round", ctx, at, (result.index, result.model))
    usage = result.usage
    doc["event"]["duration"] = usage.duration_ms * _NS_PER_MS
    doc["gen_ai"] = {
        "request": {"model": result.model},
        "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
    }
    by_severity = {s.value: 0 for s in Severity}
    for finding in result.findings:
        by_severity[finding.severity.value] += 1
    q = doc["quorum"]
    q.update(_cost(usage.cost_micro_usd))
    q.update(
        round=result.index,
        verdict=result.verdict.value,
        findings={
            "total": len(result.findings),
            "blocking": sum(1 for f in result.findings if f.severity.blocking),
            **by_severity,
        },
        dropped_comments=len(result.dropped),
    )
    ok = result.verdict is not Verdict.NONE and result.error is None
    _outcome(doc, ok, None if ok else "no_verdict", result.error)
    return doc


def review_doc(outcome: ReviewOutcome, ctx: DocContext, *, at: float, duration_ms: int | None = None) -> Doc:
    """The end of a review: decision, reason, rounds, cost and coverage."""
    escalated = outcome.decision is Decision.ESCALATED
    action = "review.escalated" if escalated else "review.completed"
    doc = _base("review", action, ctx, at, (outcome.decision.value, outcome.reason.value))
    if duration_ms is not None:
        doc["event"]["duration"] = duration_ms * _NS_PER_MS
    usage = sum((r.usage for r in outcome.rounds), start=Usage())
    cov = outcome.coverage
    q = doc["quorum"]
    q.update(_cost(outcome.cost_micro_usd))
    q.update(
        decision=outcome.decision.value,
        reason=outcome.reason.value,
        rounds_total=len(outcome.rounds),
        consensus=outcome.reason is Reason.CONSENSUS,
        escalated=1 if escalated else 0,
        comments=len(outcome.comments),
        coverage={
            "files_total": cov.files_total,
            "files_reviewed": cov.files_reviewed,
            "files_skipped": len(cov.skipped),
            "complete": cov.complete,
            "redactions": cov.redactions,
        },
    )
    if outcome.head_sha and "head_sha" not in q:
        q["head_sha"] = outcome.head_sha
    doc["gen_ai"] = {"usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}}
    _outcome(doc, not escalated, outcome.reason.value if escalated else None, outcome.detail or None)
    return doc


def transition_doc(transition: Transition, ctx: DocContext, *, seq: int = 0) -> Doc:
    """One audited state change (its own time is the document's)."""
    doc = _base("transition", "state.transition", ctx, transition.at, (seq, transition.trigger))
    doc["event"]["type"] = ["change"]
    doc["quorum"]["transition"] = {
        "trigger": transition.trigger,
        "from": transition.source.value,
        "to": transition.dest.value,
        "actor": transition.actor,
        "reason": transition.reason,
    }
    _outcome(doc, True)
    return doc


def guardrail_doc(guardrail: str, reason: str, ctx: DocContext, *, at: float, error_type: str = "") -> Doc:
    """A guardrail blocked something: which one, and why."""
    doc = _base("guardrail", "guardrail.blocked", ctx, at, (guardrail, error_type))
    doc["event"]["type"] = ["denied"]
    doc["quorum"]["guardrail"] = {"name": guardrail, "reason": reason}
    _outcome(doc, False, error_type or guardrail, reason)
    return doc


def guardrail_error_doc(exc: errors.GuardrailError, ctx: DocContext, *, at: float) -> Doc:
    """A guardrail's exception as a block document (a budget refusal also names its cap)."""
    doc = guardrail_doc(exc.guardrail, exc.message, ctx, at=at, error_type=type(exc).__name__)
    if isinstance(exc, errors.BudgetExceeded):
        doc["quorum"]["budget"] = {
            "cap": exc.cap,
            "limit_micro_usd": exc.limit_micro,
            "limit_usd": _usd(exc.limit_micro),
            "needed_micro_usd": exc.needed_micro,
        }
    return doc


def budget_doc(cap: budget.Cap, used_micro: int, ctx: DocContext, *, at: float) -> Doc:
    """A cap's state: spent (with what is still reserved) against its limit."""
    doc = _base("budget_state", "budget.state", ctx, at, (cap.key,))
    doc["event"]["kind"] = "metric"
    limit = cap.limit_micro
    doc["quorum"]["budget"] = {
        "cap": cap.name,
        "key": cap.key,
        "spent_micro_usd": used_micro,
        "spent_usd": _usd(used_micro),
        "limit_micro_usd": limit,
        "limit_usd": _usd(limit),
        # Set here so a dashboard needs only max/last_value, never a formula.
        "utilisation": used_micro / limit if limit > 0 else 0.0,
    }
    return doc


def budget_alert_doc(alert: budget.BudgetAlert, ctx: DocContext, *, at: float) -> Doc:
    """A cap passed an alert threshold (sent once per threshold and period across replicas)."""
    doc = budget_doc(budget.Cap(alert.cap, alert.key, alert.limit_micro), alert.used_micro, ctx, at=at)
    doc["event"].update(id=doc_id("budget", ctx, at, alert.key, alert.percent), action="budget.alert")
    doc["event"]["type"] = ["info"]
    doc["quorum"]["budget"]["percent"] = alert.percent
    return doc


def breaker_doc(name: str, state: str, reason: str, ctx: DocContext, *, at: float) -> Doc:
    """A model's circuit breaker changed state (opened by failures or an over-billed call)."""
    doc = _base("breaker", "breaker.state", ctx, at, (name, state))
    doc["event"]["type"] = ["change"]
    doc["quorum"]["breaker"] = {"name": name, "state": state, "reason": reason}
    _outcome(doc, state != "open", "breaker_open" if state == "open" else None, reason or None)
    return doc


def queue_doc(wait_s: float, ctx: DocContext, *, at: float, depth: int | None = None) -> Doc:
    """How long a job waited for a slot (`at` is when it was claimed)."""
    doc = _base("queue", "queue.claimed", ctx, at, ())
    doc["event"]["kind"] = "metric"
    wait_ms = round(wait_s * 1000)
    doc["event"]["duration"] = wait_ms * _NS_PER_MS
    doc["quorum"]["queue"] = {"wait_ms": wait_ms} | ({} if depth is None else {"depth": depth})
    return doc


# Made by us from hashes and clocks, so nothing to redact; a hash would look like a random token.
_GENERATED = frozenset({"event.id", "@timestamp"})


def scrub(value: Any, redact: Callable[[str], str], path: str = "") -> Any:
    """A copy of a document with `redact` applied to every string in it but the ids we generate."""
    if isinstance(value, str):
        return value if path in _GENERATED else redact(value)
    if isinstance(value, Mapping):
        return {k: scrub(v, redact, f"{path}.{k}" if path else k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, redact, path) for v in value]
    return value


class FanOutSink:
    """Sends every document to each of its sinks (Elasticsearch and Prometheus)."""

    def __init__(self, *sinks: MetricsSink) -> None:
        self._sinks = sinks

    def emit(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Pass one document on to every sink."""
        for sink in self._sinks:
            sink.emit(kind, fields)


class InMemorySink:
    """Keeps every document in order, scrubbed like the shipper does; for tests and local runs."""

    def __init__(self, redact: Callable[[str], str] | None = None) -> None:
        self.documents: list[tuple[str, Doc]] = []
        self._redact = redact

    def emit(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Record one document."""
        doc = dict(fields) if self._redact is None else scrub(fields, self._redact)
        self.documents.append((kind, doc))

    def of_kind(self, kind: str) -> list[Doc]:
        """The documents of one kind, in emit order."""
        return [doc for k, doc in self.documents if k == kind]
