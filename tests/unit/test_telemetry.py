"""The metric document builders: ECS shapes, deterministic ids, mapped fields, and redaction by the sink."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot import errors, ports, telemetry
from bot.domain import (
    Coverage,
    Decision,
    Finding,
    Reason,
    ReviewOutcome,
    RoundResult,
    Severity,
    Side,
    SkippedFile,
    SkipReason,
    Usage,
    Verdict,
)
from bot.review.llm_call import CallRecord
from guardrails import budget
from guardrails.text import redaction
from statemachine.lifecycle import State, Transition

ROOT = Path(__file__).resolve().parents[2]
AT = 1_767_225_600.125  # 2026-01-01T00:00:00.125Z
CTX = telemetry.DocContext("acme/widgets", 42, "a" * 40, 2, "1f6e1c3e-7b8a-4c1d-9e2f-0a1b2c3d4e5f", "job-42")
SECRET = "sk-live-Zq9xR2mT7vB4nK8pL3wJ6yH1"


def call(outcome: str = "ok", error: str | None = None, model: str = "gpt-4o-mini") -> CallRecord:
    return CallRecord(model, "openai", "query", 1200, 300, 4_500, 850, outcome, error)


def finding(severity: Severity) -> Finding:
    return Finding("app.py", 3, Side.RIGHT, severity, "body")


def round_result(verdict: Verdict = Verdict.APPROVE, error: str | None = None) -> RoundResult:
    findings = (finding(Severity.NIT), finding(Severity.MAJOR), finding(Severity.CRITICAL))
    return RoundResult(2, "gpt-4o-mini", verdict, "ok", findings, Usage(2000, 500, 9_000, 1_500), error=error)


def outcome(decision: Decision, reason: Reason) -> ReviewOutcome:
    rounds = (round_result(), round_result())
    coverage = Coverage(5, 4, (SkippedFile("big.bin", SkipReason.BINARY),), redactions=1)
    return ReviewOutcome(decision, reason, "b" * 40, "a" * 40, rounds, (), "summary", coverage)


def all_docs() -> list[dict[str, Any]]:
    transition = Transition(AT, "quorum", "approve", State.IN_REVIEW, State.APPROVED, "consensus")
    exceeded = errors.BudgetExceeded("round cap", cap="round", limit_micro=50_000, needed_micro=70_000)
    return [
        telemetry.llm_call_doc(call(), CTX, at=AT, prompt_version="v3"),
        telemetry.llm_call_doc(call("timeout", "deadline"), CTX, at=AT, seq=1),
        telemetry.round_doc(round_result(), CTX, at=AT),
        telemetry.review_doc(outcome(Decision.APPROVED, Reason.CONSENSUS), CTX, at=AT, duration_ms=9000),
        telemetry.review_doc(outcome(Decision.ESCALATED, Reason.MAX_ROUNDS), CTX, at=AT),
        telemetry.transition_doc(transition, CTX),
        telemetry.guardrail_error_doc(exceeded, CTX, at=AT),
        telemetry.budget_doc(budget.Cap("pr", "budget:pr:job-42", 200_000), 150_000, CTX, at=AT),
        telemetry.queue_doc(1.5, CTX, at=AT, depth=3),
    ]


def leaves(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out |= leaves(value, path + ".")
        else:
            out[path] = value
    return out


def mapped_paths() -> set[str]:
    body = json.loads((ROOT / "bot/assets/elasticsearch/component-template-mappings.json").read_text())

    def walk(props: dict[str, Any], prefix: str) -> set[str]:
        paths: set[str] = set()
        for name, spec in props.items():
            if "properties" in spec:
                paths |= walk(spec["properties"], f"{prefix}{name}.")
            else:
                paths.add(f"{prefix}{name}")
        return paths

    return walk(body["template"]["mappings"]["properties"], "")


def test_llm_call_document_uses_ecs_names_and_our_namespace():
    doc = telemetry.llm_call_doc(call(), CTX, at=AT, attempt=1, prompt_version="v3")

    assert doc["@timestamp"] == "2026-01-01T00:00:00.125Z"
    assert doc["event"] | {"id": "x"} == {
        "id": "x",
        "kind": "event",
        "category": ["process"],
        "type": ["info"],
        "dataset": "quorum.llm",
        "action": "llm.call",
        "duration": 850_000_000,
        "outcome": "success",
    }
    assert doc["service"] == {"name": "quorum"}
    assert doc["gen_ai"]["request"]["model"] == "gpt-4o-mini"
    assert doc["gen_ai"]["provider"]["name"] == "openai"
    assert doc["gen_ai"]["usage"] == {"input_tokens": 1200, "output_tokens": 300}
    q = doc["quorum"]
    assert (q["cost_micro_usd"], q["cost_usd"]) == (4_500, 0.0045)
    assert (q["llm_kind"], q["prompt_version"], q["attempt"], q["failed"]) == ("query", "v3", 1, 0)
    assert q["output_per_input"] == pytest.approx(0.25)
    assert "error" not in doc


def test_every_document_carries_the_context():
    for doc in all_docs():
        q = doc["quorum"]
        assert q["repo"] == "acme/widgets"
        assert q["pr"] == {"number": 42, "key": "acme/widgets#42"}
        assert (q["head_sha"], q["delivery_id"], q["job_id"]) == (CTX.head_sha, CTX.delivery_id, "job-42")
        assert "round" in q and doc["@timestamp"] and doc["event"]["id"]


def test_a_failed_call_names_its_error_class():
    doc = telemetry.llm_call_doc(call("timeout", "deadline"), CTX, at=AT)

    assert doc["event"]["outcome"] == "failure"
    assert doc["error"] == {"type": "timeout", "message": "deadline"}
    assert doc["quorum"]["failed"] == 1


@pytest.mark.parametrize(
    ("outcome_", "error_type"), [("retry", "provider_error"), ("budget", "budget_exceeded")]
)
def test_retried_and_refused_calls_are_failures(outcome_, error_type):
    doc = telemetry.llm_call_doc(call(outcome_, "x"), CTX, at=AT)

    assert doc["error"]["type"] == error_type
    assert doc["quorum"]["retried"] == (1 if outcome_ == "retry" else 0)


def test_ids_are_deterministic_and_tell_events_apart():
    first = telemetry.llm_call_doc(call(), CTX, at=AT)
    again = telemetry.llm_call_doc(call(), CTX, at=AT)
    next_call = telemetry.llm_call_doc(call(), CTX, at=AT, seq=1)
    later = telemetry.llm_call_doc(call(), CTX, at=AT + 0.001)
    other_pr = telemetry.llm_call_doc(call(), telemetry.DocContext("acme/widgets", 43), at=AT)

    assert first["event"]["id"] == again["event"]["id"]
    assert len({d["event"]["id"] for d in (first, next_call, later, other_pr)}) == 4
    assert len({d["event"]["id"] for d in all_docs()}) == len(all_docs())


def test_round_document_counts_findings_by_severity():
    doc = telemetry.round_doc(round_result(), CTX, at=AT)

    assert doc["event"]["action"] == "review.round"
    assert doc["quorum"]["verdict"] == "approve"
    assert doc["quorum"]["findings"] == {
        "total": 3,
        "blocking": 2,
        "nit": 1,
        "minor": 0,
        "major": 1,
        "critical": 1,
    }
    assert doc["quorum"]["cost_micro_usd"] == 9_000
    assert doc["event"]["outcome"] == "success"


def test_a_round_without_verdict_is_a_failure():
    doc = telemetry.round_doc(round_result(Verdict.NONE, "invalid output"), CTX, at=AT)

    assert doc["event"]["outcome"] == "failure"
    assert doc["error"] == {"type": "no_verdict", "message": "invalid output"}


def test_review_documents_tell_consensus_from_escalation():
    done = telemetry.review_doc(outcome(Decision.APPROVED, Reason.CONSENSUS), CTX, at=AT, duration_ms=9000)
    escalated = telemetry.review_doc(outcome(Decision.ESCALATED, Reason.MAX_ROUNDS), CTX, at=AT)

    assert done["event"]["action"] == "review.completed"
    assert (done["quorum"]["consensus"], done["quorum"]["rounds_total"], done["quorum"]["escalated"]) == (
        True,
        2,
        0,
    )
    assert done["quorum"]["cost_micro_usd"] == 18_000
    assert done["gen_ai"]["usage"] == {"input_tokens": 4000, "output_tokens": 1000}
    assert done["quorum"]["coverage"]["complete"] is True
    assert done["event"]["duration"] == 9_000_000_000
    assert escalated["event"]["action"] == "review.escalated"
    assert (escalated["quorum"]["reason"], escalated["quorum"]["escalated"]) == ("max_rounds", 1)
    assert escalated["error"]["type"] == "max_rounds"


def test_transition_document_is_the_audit_entry():
    transition = Transition(AT, "maintainer", "resume", State.ESCALATED, State.IN_REVIEW, "/quorum resume")
    doc = telemetry.transition_doc(transition, CTX)

    assert doc["@timestamp"] == "2026-01-01T00:00:00.125Z"
    assert doc["event"]["type"] == ["change"]
    assert doc["quorum"]["transition"] == {
        "trigger": "resume",
        "from": "escalated",
        "to": "in_review",
        "actor": "maintainer",
        "reason": "/quorum resume",
    }


def test_guardrail_document_names_the_guardrail_and_why():
    exceeded = errors.BudgetExceeded(
        "round cap reached", cap="round", limit_micro=50_000, needed_micro=70_000
    )
    doc = telemetry.guardrail_error_doc(exceeded, CTX, at=AT)

    assert doc["quorum"]["guardrail"] == {"name": "budget", "reason": "round cap reached"}
    assert doc["error"]["type"] == "BudgetExceeded"
    assert doc["quorum"]["budget"]["cap"] == "round"
    assert doc["quorum"]["budget"]["limit_usd"] == 0.05
    assert doc["event"]["type"] == ["denied"]


def test_budget_document_sets_utilisation():
    doc = telemetry.budget_doc(budget.Cap("day", "budget:day", 400_000), 100_000, CTX, at=AT)

    assert doc["quorum"]["budget"]["utilisation"] == 0.25
    assert doc["quorum"]["budget"]["spent_usd"] == 0.1
    assert doc["event"]["kind"] == "metric"


def test_queue_document_measures_the_wait_in_nanoseconds():
    doc = telemetry.queue_doc(1.5, CTX, at=AT, depth=3)

    assert doc["event"]["duration"] == 1_500_000_000
    assert doc["quorum"]["queue"] == {"wait_ms": 1500, "depth": 3}


def test_every_field_of_every_document_is_mapped():
    mapped = mapped_paths()

    for doc in all_docs():
        assert set(leaves(doc)) - mapped == set(), doc["event"]["action"]


def test_documents_go_to_two_data_streams_per_environment():
    assert telemetry.stream_name("llm_call", "prod") == "metrics-quorum.llm-prod"
    assert telemetry.stream_name("transition", "prod") == "metrics-quorum.review-prod"


def test_scrub_masks_a_configured_secret_everywhere_and_keeps_identifiers():
    redactor = redaction.Redactor([SECRET])
    leaky = telemetry.llm_call_doc(
        call("error", f"401: key {SECRET} refused", model=f"m-{SECRET}"), CTX, at=AT
    )

    clean = telemetry.scrub(leaky, lambda text: redactor.redact(text)[0])

    assert SECRET in json.dumps(leaky)  # builders copy values; the sink redacts
    assert SECRET not in json.dumps(clean)
    assert "[REDACTED:known_secret]" in clean["error"]["message"]
    assert leaves(clean)["quorum.head_sha"] == CTX.head_sha
    assert leaves(clean)["quorum.delivery_id"] == CTX.delivery_id
    assert leaves(clean)["quorum.pr.key"] == "acme/widgets#42"
    assert clean["event"]["id"] == leaky["event"]["id"]


def test_in_memory_sink_records_scrubbed_documents_in_order():
    redactor = redaction.Redactor([SECRET])
    sink = telemetry.InMemorySink(lambda text: redactor.redact(text)[0])

    sink.emit("guardrail", telemetry.guardrail_doc("redaction", f"found {SECRET}", CTX, at=AT))
    sink.emit("queue", telemetry.queue_doc(0.1, CTX, at=AT))

    assert [kind for kind, _ in sink.documents] == ["guardrail", "queue"]
    assert SECRET not in json.dumps(sink.documents)
    assert len(sink.of_kind("queue")) == 1


def test_the_null_sink_keeps_nothing():
    assert ports.NULL_METRICS.emit("queue", telemetry.queue_doc(0.1, CTX, at=AT)) is None
