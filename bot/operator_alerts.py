"""What operators are told about money and providers: budget thresholds, over-billing, open breakers.

Each hook turns one event into a metric document and a notification; both outlets never block and never
raise, so the hooks can run inside the budget ledger's and the guarded model's callbacks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot import telemetry
from bot.ports import MetricsSink, Notification, NotificationKind, Notifier
from bot.review.llm_call import CallRecord
from guardrails import budget
from guardrails.clock import Clock
from guardrails.pricing import micro_to_usd

log = logging.getLogger(__name__)


def _context(key: str) -> telemetry.DocContext:
    """The PR or repository a cap key names (`pr:o/r#7`, `repo_day:o/r:<day>`), for the documents."""
    kind, _, rest = key.partition(":")
    if kind == "pr" and "#" in rest:
        repo, _, number = rest.rpartition("#")
        return telemetry.DocContext(repo=repo, pr=int(number) if number.isdigit() else 0)
    if kind == "repo_day":
        return telemetry.DocContext(repo=rest.rsplit(":", 1)[0])
    return telemetry.DocContext()


def budget_alerts(
    metrics: MetricsSink, notifier: Notifier, clock: Clock
) -> Callable[[budget.BudgetAlert], None]:
    """The ledger's `on_alert`: one metric document and one notification per threshold and period."""

    def on_alert(alert: budget.BudgetAlert) -> None:
        ctx = _context(alert.key)
        metrics.emit("budget", telemetry.budget_alert_doc(alert, ctx, at=clock.now()))
        notifier.notify(
            Notification(
                NotificationKind.BUDGET_ALERT,
                f"Budget: {alert.percent}% of the {alert.cap} cap reached",
                alert.text(),
                repo=ctx.repo,
                number=ctx.pr,
                fields=(
                    ("cap", alert.key),
                    ("spent + reserved", f"{micro_to_usd(alert.used_micro):.4f} USD"),
                    ("limit", f"{micro_to_usd(alert.limit_micro):.2f} USD"),
                ),
            )
        )

    return on_alert


def provider_alerts(metrics: MetricsSink, notifier: Notifier, clock: Clock) -> Callable[[CallRecord], None]:
    """A `GuardedModel` observer: tells operators about an over-billed call and a breaker it opened."""

    def observe(record: CallRecord) -> None:
        name = f"{record.provider}/{record.model}"
        if record.outcome == "usage_over_reservation":
            log.error("%s", record.error)
            billed, reserved = micro_to_usd(record.cost_micro), micro_to_usd(record.reserved_micro)
            notifier.notify(
                Notification(
                    NotificationKind.PROVIDER_ALERT,
                    f"Provider over-billed: {name}",
                    record.error or "",
                    fields=(
                        ("call", record.call_id),
                        ("reserved", f"{reserved:.4f} USD"),
                        ("billed", f"{billed:.4f} USD"),
                    ),
                )
            )
        if record.breaker == "closed":
            log.warning("circuit breaker %s closed: its probe succeeded", name)
            metrics.emit(
                "breaker", telemetry.breaker_doc(name, "closed", "", telemetry.DocContext(), at=clock.now())
            )
        if record.breaker == "opened":
            reason = "usage_over_reservation" if record.outcome == "usage_over_reservation" else record.error
            log.warning("circuit breaker %s opened: %s", name, reason)
            doc = telemetry.breaker_doc(name, "open", reason or "", telemetry.DocContext(), at=clock.now())
            metrics.emit("breaker", doc)
            notifier.notify(
                Notification(
                    NotificationKind.PROVIDER_ALERT,
                    f"Circuit breaker open: {name}",
                    f"No call goes to {name} until its cooldown ends or `quorum breaker reset {name}`. "
                    f"Reason: {reason}",
                )
            )

    return observe
