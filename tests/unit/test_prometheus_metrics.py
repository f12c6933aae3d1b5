"""The Prometheus exporter: documents become counters, a malformed one is skipped, and the shared gauges
say when Redis could not be read instead of showing stale numbers."""

from __future__ import annotations

import asyncio

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot import errors, telemetry
from bot.adapters.memory import board as memory_board
from bot.adapters.memory import coordination as memory_coordination
from bot.adapters.memory import review_ports as memory
from bot.adapters.prometheus import metrics as prometheus_metrics
from bot.adapters.prometheus import shared as prometheus_shared
from bot.review.llm_call import CallRecord
from guardrails import admission, budget
from tests.support.clock import FakeClock

LIMITS = budget.BudgetLimits(
    per_round=1_000_000, per_pr=4_000_000, per_repo_day=9_000_000, per_day=20_000_000
)


def samples(
    exporter: prometheus_metrics.PrometheusMetrics,
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(exporter.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def test_an_llm_call_document_counts_the_call_tokens_cost_and_latency() -> None:
    exporter = prometheus_metrics.PrometheusMetrics()
    record = CallRecord("gpt-4o", "openai", "query", 1200, 300, 4_500, 850, "ok")

    exporter.emit("llm_call", telemetry.llm_call_doc(record, telemetry.DocContext(), at=0.0))
    got = samples(exporter)

    model = {"model": "gpt-4o", "provider": "openai"}
    assert got[key("quorum_llm_calls_total", outcome="ok", **model)] == 1
    assert got[key("quorum_llm_tokens_total", direction="input", **model)] == 1200
    assert got[key("quorum_llm_tokens_total", direction="output", **model)] == 300
    assert got[key("quorum_llm_cost_usd_total", **model)] == 0.0045
    assert got[key("quorum_llm_call_duration_seconds_sum", **model)] == 0.85


def test_a_malformed_or_unknown_document_is_skipped_without_raising() -> None:
    exporter = prometheus_metrics.PrometheusMetrics()

    exporter.emit("llm_call", {"gen_ai": {}})
    exporter.emit("merge", {"quorum": {}})
    exporter.emit("agent_step", {"anything": 1})
    exporter.emit("merge", {"quorum": {"merge": {"outcome": "merged"}}})

    assert samples(exporter)[("quorum_merges_total", (("outcome", "merged"),))] == 1
    assert not [k for k in samples(exporter) if k[0] == "quorum_llm_calls_total"]


def test_two_exporters_keep_separate_registries() -> None:
    one, two = prometheus_metrics.PrometheusMetrics(), prometheus_metrics.PrometheusMetrics()

    one.delivered(202)

    assert samples(one)[("quorum_webhook_deliveries_total", (("status", "202"),))] == 1
    assert ("quorum_webhook_deliveries_total", (("status", "202"),)) not in samples(two)


class Unavailable(memory_coordination.InMemoryScheduler):
    async def counts(self) -> admission.QueueCounts:
        raise errors.CoordinationUnavailable("counts: connection refused")


class Stuck(memory_coordination.InMemoryScheduler):
    async def counts(self) -> admission.QueueCounts:
        await asyncio.sleep(30)
        raise AssertionError("never")


def collector(
    scheduler: admission.Scheduler, ledger: budget.BudgetLedger
) -> prometheus_shared.SharedStateCollector:
    return prometheus_shared.SharedStateCollector(
        scheduler, ledger, None, LIMITS, ["o/a"], FakeClock(86_400.0), timeout_s=0.2
    )


async def test_shared_gauges_read_the_queue_and_the_spend() -> None:
    board, ledger = memory_board.Board(), memory.InMemoryBudgetLedger()
    scheduler = memory_coordination.InMemoryScheduler(board)
    await scheduler.enqueue("o/a#1", "a1")
    await scheduler.enqueue("o/a#2", "a1")
    held = await scheduler.claim("c1")
    assert held is not None
    caps = (budget.Cap("day", "day:1970-01-02", 1), budget.Cap("pr", "pr:o/a#1", 1))
    await ledger.reserve(budget.Reservation("r1", 0, caps, 60))
    await ledger.settle("r1", 250_000)
    shared = collector(scheduler, ledger)
    exporter = prometheus_metrics.PrometheusMetrics()
    exporter.registry.register(shared)

    await shared.refresh()
    got = samples(exporter)

    assert got[("quorum_shared_state_up", ())] == 1
    assert got[("quorum_queue_jobs", (("state", "waiting"),))] == 1
    assert got[("quorum_jobs_running_by_repo", (("repo", "o/a"),))] == 1
    assert got[("quorum_budget_spent_usd", (("cap", "day"), ("scope", "all")))] == 0.25
    assert got[("quorum_budget_spent_usd", (("cap", "pr"), ("scope", "o/a#1")))] == 0.25
    assert got[("quorum_budget_spent_usd", (("cap", "repo_day"), ("scope", "o/a")))] == 0
    assert got[("quorum_budget_limit_usd", (("cap", "day"),))] == 20.0


async def test_shared_gauges_are_absent_when_redis_fails_or_hangs() -> None:
    for kind in (Unavailable, Stuck):
        shared = collector(kind(memory_board.Board()), memory.InMemoryBudgetLedger())
        exporter = prometheus_metrics.PrometheusMetrics()
        exporter.registry.register(shared)

        await shared.refresh()
        got = samples(exporter)

        assert got[("quorum_shared_state_up", ())] == 0
        assert not [k for k in got if k[0] in ("quorum_queue_jobs", "quorum_budget_spent_usd")]
