"""What operators are told about budget thresholds, over-billed calls and breakers that open."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot import operator_alerts, telemetry
from bot.ports import Notification, NotificationKind
from bot.review.llm_call import CallRecord
from guardrails import budget
from tests.support.clock import FakeClock
from tests.unit.test_telemetry import leaves, mapped_paths


@dataclass
class Notes:
    sent: list[Notification] = field(default_factory=list)

    def notify(self, notification: Notification) -> None:
        self.sent.append(notification)


def over_billed(change: str = "opened") -> CallRecord:
    return CallRecord(
        "gpt-4o", "openai", "query", 500, 102_400, 1_024_500, 80, "usage_over_reservation",
        "usage_over_reservation: call call-1 to openai/gpt-4o reported 500+102400 tokens", "call-1", 3_000,
        change,
    )  # fmt: skip


def test_a_budget_alert_is_one_document_and_one_notification_naming_the_pr() -> None:
    sink, notes = telemetry.InMemorySink(), Notes()
    alert = budget.BudgetAlert("pr", "pr:acme/app#7", 80, 6_500_000, 8_000_000)

    operator_alerts.budget_alerts(sink, notes, FakeClock(start=1_767_225_600.0))(alert)

    [doc] = sink.of_kind("budget")
    assert doc["event"]["action"] == "budget.alert"
    b = doc["quorum"]["budget"]
    assert (b["cap"], b["key"], b["percent"], b["utilisation"]) == ("pr", "pr:acme/app#7", 80, 0.8125)
    assert (doc["quorum"]["repo"], doc["quorum"]["pr"]["number"]) == ("acme/app", 7)
    [note] = notes.sent
    assert (note.kind, note.repo, note.number) == (NotificationKind.BUDGET_ALERT, "acme/app", 7)
    assert note.title == "Budget: 80% of the pr cap reached"


def test_an_over_billed_call_that_opened_the_breaker_raises_two_alerts_and_a_breaker_document() -> None:
    sink, notes = telemetry.InMemorySink(), Notes()

    operator_alerts.provider_alerts(sink, notes, FakeClock(start=1_767_225_600.0))(over_billed())

    assert [n.title for n in notes.sent] == [
        "Provider over-billed: openai/gpt-4o", "Circuit breaker open: openai/gpt-4o",
    ]  # fmt: skip
    assert all(n.kind is NotificationKind.PROVIDER_ALERT for n in notes.sent)
    assert ("call", "call-1") in notes.sent[0].fields
    assert "quorum breaker reset openai/gpt-4o" in notes.sent[1].text
    [doc] = sink.of_kind("breaker")
    assert doc["quorum"]["breaker"] == {
        "name": "openai/gpt-4o",
        "state": "open",
        "reason": "usage_over_reservation",
    }


def test_a_probe_that_closed_the_breaker_leaves_a_closed_breaker_document_and_no_alert() -> None:
    sink, notes = telemetry.InMemorySink(), Notes()
    probe = CallRecord("gpt-4o", "openai", "query", 10, 5, 20, 80, "ok", None, "call-3", 3_000, "closed")

    operator_alerts.provider_alerts(sink, notes, FakeClock(start=1_767_225_600.0))(probe)

    [doc] = sink.of_kind("breaker")
    assert doc["quorum"]["breaker"] == {"name": "openai/gpt-4o", "state": "closed", "reason": ""}
    assert doc["event"]["outcome"] == "success" and notes.sent == []


def test_an_ordinary_call_tells_nobody() -> None:
    sink, notes = telemetry.InMemorySink(), Notes()
    ok = CallRecord("gpt-4o", "openai", "query", 10, 5, 20, 80, "ok", None, "call-2", 3_000)

    operator_alerts.provider_alerts(sink, notes, FakeClock(start=1_767_225_600.0))(ok)

    assert (sink.documents, notes.sent) == ([], [])


def test_the_new_documents_are_fully_mapped() -> None:
    ctx = telemetry.DocContext("acme/app", 7, "abc", 1, "", "job")
    docs = [
        telemetry.budget_alert_doc(budget.BudgetAlert("day", "day:2026-01-01", 50, 5, 10), ctx, at=1.0),
        telemetry.breaker_doc("openai/gpt-4o", "open", "timeout", ctx, at=1.0),
        telemetry.llm_call_doc(over_billed(), ctx, at=1.0),
    ]

    for doc in docs:
        assert set(leaves(doc)) - mapped_paths() == set(), doc["event"]["action"]
    assert docs[2]["error"]["type"] == "usage_over_reservation"
    assert docs[2]["quorum"]["reserved_micro_usd"] == 3_000
