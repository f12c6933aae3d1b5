"""The job handler on in-memory coordination and an in-test code host: an illegal transition escalates the
PR, is audited, and nothing of the refused step reaches the code host."""

from __future__ import annotations

from typing import Any

from bot import forge
from bot.adapters.memory import coordination as memory_coordination
from bot.adapters.memory.inbox import InMemoryInbox
from bot.daemon.context import DaemonDeps, ReviewFn, ServerPolicy
from bot.daemon.handler import JobHandler
from bot.domain import OpenFinding, ReviewOutcome
from bot.errors import IllegalTransition
from config import repo_policy, sections
from guardrails import admission

HEAD = "a" * 40


class CodeHost:
    """Reads answer with one open PR; every write is recorded (and must not happen here)."""

    def __init__(self, *, draft: bool = False, bot: bool = False) -> None:
        self.writes: list[tuple[str, Any]] = []
        self.draft, self.bot = draft, bot

    async def pull(self, repo: str, number: int) -> forge.PullRequest:
        return forge.PullRequest(
            repo, number, HEAD, "main", "b" * 40, "alice", self.bot, self.draft, forge.PullState.OPEN
        )

    async def file_text(self, repo: str, path: str, ref: str) -> str | None:
        return None

    async def reviews(self, repo: str, number: int) -> list[forge.PostedReview]:
        return []

    async def permission(self, repo: str, user: str) -> forge.Permission:
        return forge.Permission.WRITE

    async def open_pulls(self, repo: str) -> forge.OpenPulls:
        raise AssertionError("not used")

    async def repositories(self) -> list[str]:
        return []

    async def changed_files(self, repo: str, number: int) -> list[forge.ChangedFile]:
        return []

    async def commit_checks(self, repo: str, sha: str) -> tuple[forge.CheckResult, ...]:
        return ()

    async def required_checks(self, repo: str, branch: str) -> forge.RequiredChecks:
        return forge.RequiredChecks()

    async def head_pushes(self, repo: str, branch: str) -> tuple[forge.HeadPush, ...] | None:
        return None

    async def contributors(self, repo: str, *, cap: int) -> int:
        return 1

    async def post_review(self, repo: str, number: int, draft: forge.ReviewDraft) -> forge.PostResult:
        self.writes.append(("post_review", draft))
        return forge.PostResult(1, draft.event, 0, 0)

    async def dismiss_review(self, repo: str, number: int, review_id: int, message: str) -> None:
        self.writes.append(("dismiss_review", review_id))

    async def edit_review(self, repo: str, number: int, review_id: int, body: str) -> None:
        self.writes.append(("edit_review", review_id))

    async def comment(self, repo: str, number: int, body: str) -> int:
        self.writes.append(("comment", body))
        return 1

    async def delete_comment(self, repo: str, comment_id: int) -> None:
        self.writes.append(("delete_comment", comment_id))

    async def set_tally(
        self, repo: str, sha: str, state: forge.TallyState, title: str, summary: str
    ) -> int | None:
        self.writes.append(("set_tally", state))
        return 1

    async def withdraw_tally(self, repo: str, run_id: int, title: str, summary: str) -> None:
        self.writes.append(("withdraw_tally", run_id))

    async def merge(self, repo: str, number: int, sha: str, method: str) -> forge.MergeResult:
        self.writes.append(("merge", sha))
        return forge.MergeResult(forge.MergeOutcome.MERGED, "c" * 40)


async def _handle(host: CodeHost, review: ReviewFn) -> tuple[admission.FinishOutcome, Any]:
    board = memory_coordination.Board()
    scheduler = memory_coordination.InMemoryScheduler(board)
    store = memory_coordination.InMemoryStateStore(board)
    policy = ServerPolicy(sections.MergeSettings(enabled=True), 2, 5, "quorum")
    deps = DaemonDeps(
        host, host, store, InMemoryInbox(), scheduler.leases, scheduler, review, board.clock, policy,
        forge.Identity("quorum-bot", False),
    )  # fmt: skip
    await scheduler.enqueue("o/r#1", HEAD)
    claim = await scheduler.claim("w1")
    assert claim is not None
    return await JobHandler(deps).handle(claim), store


async def _never(
    pr: forge.PullRequest, policy: repo_policy.EffectivePolicy, open_blockers: tuple[OpenFinding, ...] = ()
) -> ReviewOutcome:
    raise AssertionError("no review may run")


async def test_an_illegal_transition_escalates_is_audited_and_never_reaches_the_code_host() -> None:
    host = CodeHost()

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
    for host in (CodeHost(draft=True), CodeHost(bot=True)):
        finished, store = await _handle(host, _never)

        assert finished is admission.FinishOutcome.DONE
        record = await store.load("o/r#1")
        assert record is not None and (record.state, record.reviewed_sha, record.decision) == (
            "open", HEAD, "skipped",
        )  # fmt: skip
        assert host.writes == []
