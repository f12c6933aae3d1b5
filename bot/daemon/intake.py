"""From webhook events to queued work, in milliseconds: no code-host call, no review, only Redis.

A push enqueues the PR at its new head with the delivery id (dedupe and enqueue commit together). What
is not a push (a command, a human review, checks, a close) goes to the PR's inbox with the delivery id in
one step (a crash can lose neither half alone, and a re-sent delivery adds nothing), then wakes the PR's
job; a wake lost to a crash is made up by the reconciler, which re-queues every PR with a waiting inbox.
"""

from __future__ import annotations

import asyncio

from bot import events
from bot.ports import Inbox, InboxItem, ItemKind
from guardrails import admission

# Actions of `pull_request` that bring a head to review.
_REVIEW_ACTIONS = {"opened", "reopened", "synchronize", "ready_for_review", "edited", "converted_to_draft"}


class QueueIntake:
    """`events.Intake` on the scheduler and the inbox (which both record delivery ids)."""

    def __init__(
        self,
        scheduler: admission.Scheduler,
        inbox: Inbox,
        *,
        check_name: str,
        reconcile_now: asyncio.Event | None = None,
    ) -> None:
        self._scheduler = scheduler
        self._inbox = inbox
        self._check_name = check_name
        self._reconcile_now = reconcile_now

    async def accept(self, event: events.Event, delivery_id: str) -> str:
        if isinstance(event, events.Ping):
            return "pong"
        if isinstance(event, events.InstallationChanged):
            if self._reconcile_now is not None:
                self._reconcile_now.set()  # new repositories are listed by the next reconciler pass
            return "reconciling"
        if isinstance(event, events.PullRequestChanged):
            if event.action not in _REVIEW_ACTIONS:
                return "ignored"
            job = admission.JobRef(event.repo, event.number).id
            result = await self._scheduler.enqueue(job, event.head_sha, delivery_id)
            return "duplicate" if result is admission.EnqueueResult.DUPLICATE_DELIVERY else result.value
        if isinstance(event, events.ChecksChanged) and event.source == self._check_name:
            return "ignored"  # our own check run's echo
        targets = _targets(event, delivery_id)
        if not targets:
            return "ignored"
        items = [(admission.JobRef(event.repo, number).id, item) for number, item in targets]
        if not await self._inbox.push_delivery(delivery_id, items):
            return "duplicate"
        for job, _ in items:
            await self._scheduler.enqueue(job, "")  # a nudge: the head the queue knows stays
        return "queued"


def _targets(event: events.Event, delivery_id: str) -> list[tuple[int, InboxItem]]:
    """The PRs an event concerns, each with the inbox item that tells its job what happened."""
    if isinstance(event, events.PullRequestClosed):
        return [(event.number, InboxItem(ItemKind.CLOSED, actor=event.actor, delivery_id=delivery_id))]
    if isinstance(event, events.CommandIssued):
        command = event.command
        item = InboxItem(
            ItemKind.COMMAND,
            actor=event.actor,
            verb=command.verb.value if command.verb is not events.Verb.UNKNOWN else (command.raw or "")[:40],
            args=" ".join(command.args)[:200],
            delivery_id=delivery_id,
            comment_id=event.comment_id,
            at=event.created_at,
        )
        return [(event.number, item)]
    if isinstance(event, events.Reviewed):
        item = InboxItem(
            ItemKind.HUMAN_REVIEW, actor=event.actor, state=event.state, sha=event.commit_sha,
            delivery_id=delivery_id,
        )  # fmt: skip
        return [(event.number, item)]
    if isinstance(event, events.ChecksChanged):
        item = InboxItem(ItemKind.CHECKS, sha=event.head_sha, delivery_id=delivery_id)
        return [(number, item) for number in event.pr_numbers]
    return []
