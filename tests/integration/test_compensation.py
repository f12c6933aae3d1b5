"""Compensation against the strict fake GitHub: a write that lands after its holder lost the PR is
withdrawn as far as GitHub allows (a COMMENT review's body replaced, a comment deleted, a check run marked
withdrawn), a review the new holder adopted first is kept, a late duplicate is retired by the current
holder, and each case is in the PR's audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot import forge
from bot.adapters.github import api as github_api
from bot.adapters.github import rate as github_rate
from bot.adapters.memory import board as memory_board
from bot.adapters.memory import coordination as memory_coordination
from bot.adapters.memory.inbox import InMemoryInbox
from bot.daemon.context import DaemonDeps, ServerPolicy, Work
from bot.daemon.publishing import compensation, publisher
from bot.daemon.publishing.outbox import Pending
from bot.daemon.tracked import Tracked
from bot.domain import Decision
from bot.errors import LeaseLost
from config import repo_policy, sections
from guardrails import admission, lease
from statemachine import records
from tests.fakes.github_server import FakeGitHub
from tests.support.clock import FakeClock

REPO = "acme/tools"
SHORT = lease.LeasePolicy(ttl_s=10.0, max_hold_s=600.0)


Lose = Callable[[str, Any], Awaitable[None]]


class LosingWriter:
    """The real writer; after the write named `on`, the lease is lost (a pause while it was in flight)."""

    def __init__(self, inner: forge.PullRequestWriter, on: str, lose: Lose) -> None:
        self._inner, self._on, self._lose = inner, on, lose

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        async def call(*args: Any) -> Any:
            result = await method(*args)
            if name == self._on:
                await self._lose(name, result)
            return result

        return call


@dataclass
class World:
    gh: FakeGitHub
    client: github_api.GitHubClient
    board: memory_board.Board
    clock: FakeClock
    scheduler: memory_coordination.InMemoryScheduler
    number: int
    head: str

    async def work(self, writer: Any, claim_id: str = "c1") -> tuple[DaemonDeps, Work]:
        if claim_id == "c1":
            await self.scheduler.enqueue(f"{REPO}#{self.number}", self.head)
        claim = await self.scheduler.claim(claim_id)
        assert claim is not None
        return self.bind(writer, claim)

    def bind(self, writer: Any, claim: admission.Claim) -> tuple[DaemonDeps, Work]:
        store = memory_coordination.InMemoryStateStore(self.board)
        policy = ServerPolicy(sections.MergeSettings(), 2, 5, "quorum")
        deps = DaemonDeps(
            self.client, writer, store, InMemoryInbox(), self.scheduler.leases, self.scheduler,
            _never, self.board.clock, policy, forge.Identity(self.gh.login, False),
        )  # fmt: skip
        pr = forge.PullRequest(
            REPO, self.number, self.head, "main", "", "alice", False, False, forge.PullState.OPEN
        )
        tracked = Tracked(store, _record(pr), claim.fence, self.board.clock)
        effective = repo_policy.effective(
            sections.MergeSettings(), 2, repo_policy.parse(None).policy, max_rounds=5
        )
        return deps, Work(pr, tracked, claim, effective)

    async def take_over(self) -> admission.Claim:
        """The first holder's lease runs out and a second replica claims the PR."""
        self.clock.advance(SHORT.ttl_s + 1)
        await self.scheduler.reap_expired()
        claim = await self.scheduler.claim("c2")
        assert claim is not None
        return claim

    async def trail(self) -> list[tuple[str, str]]:
        store = memory_coordination.InMemoryStateStore(self.board)
        return [(e.trigger, e.reason) for e in await store.audit(f"{REPO}#{self.number}")]


def _record(pr: forge.PullRequest) -> records.PullRequestRecord:
    return records.PullRequestRecord(pr.repo, pr.number, "in_review", pr.head_sha)


async def _never(*_: Any) -> Any:
    raise AssertionError("no review runs here")


def _client(gh: FakeGitHub, *, app: bool = False) -> github_api.GitHubClient:
    gate = github_rate.RateGate(write_interval_s=0.0)
    if app:
        return github_api.GitHubClient.from_app(
            gh.api_url, gh.app_id, gh.app_private_key_pem, timeout_s=10, gate=gate
        )
    return github_api.GitHubClient.from_token(
        gh.api_url, gh.token, timeout_s=10, repositories=[REPO], gate=gate
    )


@pytest.fixture(params=[False, True], ids=["token", "app"])
async def world(request: pytest.FixtureRequest, fake_github: FakeGitHub) -> AsyncIterator[World]:
    gh = fake_github
    gh.create_repo(REPO, {"calc.py": "x = 1\n"})
    head = gh.push_branch(REPO, "feature", {"calc.py": "x = 2\n"}, "two")
    number = gh.open_pull(REPO, "feature", title="Two")
    clock = FakeClock(start=1_800_000_000.0)
    board = memory_board.Board(clock)
    client = _client(gh, app=request.param)
    scheduler = memory_coordination.InMemoryScheduler(board, policy=SHORT)
    yield World(gh, client, board, clock, scheduler, number, head)
    await client.aclose()


def _draft(world: World, event: forge.ReviewEvent, round_index: int = 1) -> forge.ReviewDraft:
    tag = lease.marker(f"{REPO}#{world.number}", 1, world.head, round_index)
    return forge.ReviewDraft(world.head, event, f"Quorum's review\n\n{tag}")


async def test_a_comment_review_that_landed_late_is_withdrawn_by_replacing_its_body(world: World) -> None:
    async def lose(_: str, __: Any) -> None:
        await world.take_over()

    deps, work = await world.work(LosingWriter(world.client, "post_review", lose))

    with pytest.raises(LeaseLost):
        await compensation.post_review(deps, work, _draft(world, forge.ReviewEvent.COMMENT))

    [review] = world.gh.reviews(REPO, world.number)
    assert review.state == "COMMENTED" and lease.parse_marker(review.body) is None
    assert "Withdrawn" in review.body
    assert [t for t, _ in await world.trail()] == [compensation.WITHDRAW]


async def test_a_late_review_the_new_holder_adopted_first_is_kept(world: World) -> None:
    async def lose(_: str, result: forge.PostResult) -> None:
        new = await world.take_over()
        adopted = await world.scheduler.leases.settle_review(
            new.lease, result.review_id, lease.ReviewClaim.ADOPTED
        )
        assert adopted is lease.ReviewClaim.ADOPTED

    deps, work = await world.work(LosingWriter(world.client, "post_review", lose))

    with pytest.raises(LeaseLost):
        await compensation.post_review(deps, work, _draft(world, forge.ReviewEvent.APPROVE))

    [review] = world.gh.reviews(REPO, world.number)
    assert review.state == "APPROVED" and lease.parse_marker(review.body) is not None
    assert [t for t, _ in await world.trail()] == [compensation.STALE_WRITE]


async def test_a_comment_that_landed_late_is_deleted(world: World) -> None:
    async def lose(_: str, __: Any) -> None:
        await world.take_over()

    deps, work = await world.work(LosingWriter(world.client, "comment", lose))

    with pytest.raises(LeaseLost):
        await compensation.comment(deps, work, "Quorum could not use `.quorum.toml`")

    assert world.gh.comments(REPO, world.number) == []
    [(trigger, reason)] = await world.trail()
    assert trigger == compensation.WITHDRAW and "deleted comment" in reason


async def test_a_tally_that_landed_late_is_marked_withdrawn_with_its_conclusion_kept(world: World) -> None:
    async def lose(_: str, __: Any) -> None:
        await world.take_over()

    deps, work = await world.work(LosingWriter(world.client, "set_tally", lose))
    draft = _draft(world, forge.ReviewEvent.REQUEST_CHANGES)
    pending = Pending(
        draft, 1, Decision.CHANGES_REQUESTED, forge.TallyState.FAILURE, "Changes requested", "-"
    )
    work.tracked.update(outbox=pending.to_json())

    with pytest.raises(LeaseLost):
        await publisher.publish_pending(deps, work)

    [review] = world.gh.reviews(REPO, world.number)
    assert review.state == "CHANGES_REQUESTED"  # posted while the lease was held: it stands
    runs = world.gh.check_runs(REPO, world.head)
    if runs:  # an App: the check run stays failed and says it was withdrawn
        assert [(r.conclusion, r.output["title"].startswith("Withdrawn")) for r in runs] == [
            ("failure", True)
        ]
        assert [t for t, _ in await world.trail()] == [compensation.WITHDRAW]
    else:  # a token: a commit status cannot be changed; the audit says so
        assert [s.state for s in world.gh.statuses(REPO, world.head)] == ["failure"]
        assert [t for t, _ in await world.trail()] == [compensation.STALE_WRITE]


async def test_the_current_holder_retires_a_second_live_review_on_its_head(world: World) -> None:
    me = (await world.client.identity()).login
    stale = world.gh.add_review(REPO, world.number, me, "APPROVE", world.head,
                                _draft(world, forge.ReviewEvent.APPROVE, round_index=9).body)  # fmt: skip
    deps, work = await world.work(world.client)
    pending = Pending(_draft(world, forge.ReviewEvent.APPROVE), 1, Decision.APPROVED,
                      forge.TallyState.SUCCESS, "Approved", "details")  # fmt: skip
    work.tracked.update(outbox=pending.to_json())

    assert await publisher.publish_pending(deps, work)

    states = {r.id: r.state for r in world.gh.reviews(REPO, world.number)}
    assert states.pop(stale) == "DISMISSED" and list(states.values()) == ["APPROVED"]
    [(trigger, reason)] = await world.trail()
    assert trigger == compensation.RETIRE and str(stale) in reason
