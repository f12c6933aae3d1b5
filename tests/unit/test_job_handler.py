"""The job handler on in-memory coordination and the in-memory code host: an illegal transition escalates
the PR, is audited, and nothing of the refused step reaches the code host; commands are answered by
permission."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bot import forge
from bot.adapters.memory import board as memory_board
from bot.adapters.memory import coordination as memory_coordination
from bot.adapters.memory.inbox import InMemoryInbox
from bot.daemon.context import DaemonDeps, ReviewFn, ServerPolicy
from bot.daemon.handler import JobHandler
from bot.domain import Coverage, Decision, OpenFinding, Reason, ReviewOutcome
from bot.errors import IllegalTransition, LeaseLost
from bot.ports import InboxItem, ItemKind
from config import repo_policy, sections
from guardrails import admission, lease
from tests.fakes.code_host import HEAD, InMemoryCodeHost, pull


class Daemon:
    """One PR's job, run again and again on the same in-memory coordination and code host."""

    def __init__(self, host: InMemoryCodeHost, review: ReviewFn) -> None:
        self.board = memory_board.Board()
        self.scheduler = memory_coordination.InMemoryScheduler(self.board)
        self.store = memory_coordination.InMemoryStateStore(self.board)
        self.inbox = InMemoryInbox()
        self.claims = 0
        policy = ServerPolicy(sections.MergeSettings(enabled=True), 2, 5, "quorum")
        self.deps = DaemonDeps(
            host, host, self.store, self.inbox, self.scheduler.leases, self.scheduler, review,
            self.board.clock, policy, forge.Identity("quorum-bot", False),
        )  # fmt: skip

    async def run(self, *items: InboxItem) -> admission.FinishOutcome:
        for item in items:
            await self.inbox.push("o/r#1", item)
        await self.scheduler.enqueue("o/r#1", HEAD)
        self.claims += 1
        claim = await self.scheduler.claim(f"claim-{self.claims}")
        assert claim is not None
        finished = await JobHandler(self.deps).handle(claim)
        await self.scheduler.finish(claim, finished)
        return finished


async def _handle(host: InMemoryCodeHost, review: ReviewFn) -> tuple[admission.FinishOutcome, Any]:
    daemon = Daemon(host, review)
    return await daemon.run(), daemon.store


def command(verb: str, actor: str, comment_id: int) -> InboxItem:
    return InboxItem(ItemKind.COMMAND, actor=actor, verb=verb, comment_id=comment_id, at=1.0)


async def _never(
    pr: forge.PullRequest, policy: repo_policy.EffectivePolicy, open_blockers: tuple[OpenFinding, ...] = ()
) -> ReviewOutcome:
    raise AssertionError("no review may run")


async def test_an_illegal_transition_escalates_is_audited_and_never_reaches_the_code_host() -> None:
    host = InMemoryCodeHost()
    host.add(pull())

    async def review(
        pr: forge.PullRequest,
        policy: repo_policy.EffectivePolicy,
        open_blockers: tuple[OpenFinding, ...] = (),
    ) -> ReviewOutcome:
        # The lifecycle refusing a move in the middle of the review step.
        raise IllegalTransition("'approve' is not allowed from 'open'", state="open", trigger="approve")

    finished, store = await _handle(host, review)

    assert finished is admission.FinishOutcome.DONE
    record = await store.load("o/r#1")
    assert record is not None and record.state == "escalated" and record.outbox == ""
    trail = [(e.from_state, e.to_state) for e in await store.audit("o/r#1")]
    assert trail == [("open", "in_review"), ("in_review", "escalated")]
    assert host.writes == []


async def test_drafts_and_bot_pull_requests_are_left_alone_and_remembered_for_their_head() -> None:
    for changes in ({"draft": True}, {"author_is_bot": True}):
        host = InMemoryCodeHost()
        host.add(pull(**changes))
        finished, store = await _handle(host, _never)

        assert finished is admission.FinishOutcome.DONE
        record = await store.load("o/r#1")
        assert record is not None and (record.state, record.reviewed_sha, record.decision) == (
            "open", HEAD, "skipped",
        )  # fmt: skip
        assert host.writes == []


async def test_commands_act_by_permission_once_per_comment_and_a_paused_pr_is_not_reviewed() -> None:
    host = InMemoryCodeHost(permissions={"bob": forge.Permission.WRITE})
    host.add(pull())
    daemon = Daemon(host, _never)

    await daemon.run(command("pause", "bob", 10))
    # A replayed delivery of the same comment, then a reader trying to undo the pause.
    await daemon.run(command("pause", "bob", 10), command("resume", "eve", 11))

    replies = host.writes_of("comment")
    assert len(replies) == 2, replies
    assert replies[0].startswith("Paused by @bob")
    assert replies[1].startswith("Sorry @eve, only people with write access")
    record = await daemon.store.load("o/r#1")
    assert record is not None and record.paused
    assert [kind for kind, _ in host.writes] == ["comment", "comment"]  # no review, no check, no merge


def _approving(meanwhile: Any) -> ReviewFn:
    """A review that approves the head after `meanwhile()` happened in the world."""

    async def review(
        pr: forge.PullRequest,
        policy: repo_policy.EffectivePolicy,
        open_blockers: tuple[OpenFinding, ...] = (),
    ) -> ReviewOutcome:
        await meanwhile()
        approved = (Decision.APPROVED, Reason.CONSENSUS)
        return ReviewOutcome(*approved, pr.base_sha, pr.head_sha, (), (), "ok", Coverage(1, 1))

    return review


async def test_a_push_during_the_review_finishes_the_job_and_posts_nothing() -> None:
    host = InMemoryCodeHost()
    host.add(pull())

    async def push() -> None:
        await daemon.scheduler.enqueue("o/r#1", "d" * 40)

    daemon = Daemon(host, _approving(push))
    finished = await daemon.run()

    assert finished is admission.FinishOutcome.DONE
    assert host.writes == []


class RefusingGate:
    """The publish gate of a world where the lease went away (`refusal`) while the review ran."""

    def __init__(self, inner: Any, refusal: lease.GateRefusal) -> None:
        self._inner, self._refusal = inner, refusal

    async def check_publish(self, held: lease.Lease, head_sha: str) -> lease.GateDecision:
        return lease.GateDecision(False, self._refusal)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize("refusal", [r for r in lease.GateRefusal if r is not lease.GateRefusal.HEAD_MOVED])
async def test_any_other_publish_refusal_fails_the_job_as_a_lost_lease_and_posts_nothing(refusal) -> None:
    host = InMemoryCodeHost()
    host.add(pull())
    daemon = Daemon(host, _approving(_nothing))
    daemon.deps = dataclasses.replace(daemon.deps, gate=RefusingGate(daemon.deps.gate, refusal))

    with pytest.raises(LeaseLost, match=f"publish gate refused o/r#1: {refusal.value}"):
        await daemon.run()

    assert host.writes == []


async def _nothing() -> None:
    return None
