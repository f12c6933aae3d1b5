"""A holder paused between the publish gate and the GitHub write: its review is held by a slow GitHub,
the process is SIGSTOPped, its lease expires and a second `quorum serve` replica takes the PR over and
posts. Then the first write lands late and the first process is SIGCONTed. What GitHub shows at the end:
exactly one live Quorum review per head, the stale one withdrawn (dismissed), and the withdrawal in the
PR's audit trail. A normal PR reviewed in the same run still merges."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import state as redis_state
from guardrails import lease
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub
from tests.fakes.github_state import Review
from tests.support import webhooks

pytestmark = pytest.mark.redis

BLOCKER = {"path": "calc.py", "line": 2, "side": "RIGHT", "severity": "major",
           "body": "Divides by n-1: the mean of one value divides by zero."}  # fmt: skip


def reviewer(request: llm_servers.RecordedRequest) -> llm_servers.Reply:
    """Requests changes on the n-1 bug, approves anything else."""
    if b"len(values) - 1" in request.raw:
        return llm_servers.Reply(h.review_json("request_changes", [BLOCKER]))
    return llm_servers.Reply(h.review_json("approve"))


def quorum_reviews(gh: FakeGitHub, number: int) -> list[Review]:
    return [r for r in gh.reviews(h.REPO, number) if r.user == gh.login]


def live(reviews: list[Review]) -> list[Review]:
    """Reviews that still count on GitHub: not dismissed, and still carrying Quorum's marker."""
    return [r for r in reviews if r.state != "DISMISSED" and lease.parse_marker(r.body) is not None]


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


_TAKEN_OUT = ("withdraw", "retire")


def two_replicas(
    gh: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> tuple[dict[str, str], dict[str, str], h.Daemon, h.Daemon]:
    """Two `quorum serve` environments on one Redis and one repository, each with its own port and state."""
    gh.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", reviewer)
    env_a = h.environment(gh, llm, redis_url, tmp_path / "a", h.free_port())
    # The paused replica holds the credential's write pace (one write in flight per token, across replicas)
    # for up to 2 x the request timeout + 15 s: a short timeout keeps that wait short here.
    env_a["QUORUM_GITHUB__REQUEST_TIMEOUT_S"] = "5"
    env_b = {**env_a, "QUORUM_SERVER__PORT": str(h.free_port()),
             "QUORUM_WORKSPACE__STATE_DIR": str(tmp_path / "b" / "state")}  # fmt: skip
    a = h.Daemon(gh, llm, env_a, int(env_a["QUORUM_SERVER__PORT"]))
    b = h.Daemon(gh, llm, env_b, int(env_b["QUORUM_SERVER__PORT"]))
    return env_a, env_b, a, b


async def test_a_paused_holder_whose_write_lands_late_withdraws_it(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    gh = fake_github
    env_a, env_b, a, b = two_replicas(gh, fake_llm, redis_url, tmp_path)
    number, head = a.open_buggy_pull()
    held = gh.hold_next("POST", rf"/pulls/{number}/reviews$")
    first = h.spawn(env_a, tmp_path / "a.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        await h.wait_until_up(a.url, first)
        assert (await a.deliver("pull_request", h.pr_payload("opened", number, head))).status_code == 202
        assert held.arrived.wait(60), "the first replica never tried to post"
        first.send_signal(signal.SIGSTOP)  # paused between the gate and the write landing
        paused_at = time.monotonic()

        second = h.spawn(env_b, tmp_path / "b.log")
        await h.wait_until_up(b.url, second)
        await h.wait_for(lambda: len(quorum_reviews(gh, number)) == 1, 60, "the second replica's review")
        took_over_s = time.monotonic() - paused_at
        # Its tally comes after its review and its look for duplicates: the late write is the first's to undo.
        await h.wait_for(lambda: bool(gh.statuses(h.REPO, head)), 30, "the second replica's tally")

        held.release()  # the first replica's write lands now, after the new holder's
        await h.wait_for(lambda: len(quorum_reviews(gh, number)) == 2, 10, "the late write")
        first.send_signal(signal.SIGCONT)
        resumed_at = time.monotonic()
        await h.wait_for(lambda: len(live(quorum_reviews(gh, number))) == 1, 30, "the withdrawal")
        withdrawn_s = time.monotonic() - resumed_at

        reviews = quorum_reviews(gh, number)
        assert [r.state for r in reviews] == ["CHANGES_REQUESTED", "DISMISSED"]
        assert {r.commit_id for r in reviews} == {head}
        assert live(reviews)[0].id < reviews[1].id  # the newer holder's review stands; the late one went

        prefix, job = env_a["QUORUM_REDIS__KEY_PREFIX"], f"{h.REPO}#{number}"
        trail: list[Any] = []

        async def audited() -> bool:  # the note follows the dismissal landing on GitHub
            trail[:] = await _audit(redis_url, prefix, job)
            # The late writer withdraws it, or the current holder's next pass retires it first (then the
            # late writer only notes it): either way exactly one act takes it out of the count.
            return any(e.trigger in _TAKEN_OUT and str(reviews[1].id) in e.reason for e in trail)

        await h.wait_for(audited, 10, "the withdrawal in the audit trail")
        withdrawals = [e for e in trail if e.trigger in _TAKEN_OUT and str(reviews[1].id) in e.reason]
        assert len(withdrawals) == 1

        # The same run still merges a good PR.
        sha = gh.push_branch(h.REPO, "tidy", {"calc.py": h.BASE_CALC + "\n# tidy\n"}, "tidy")
        good = gh.open_pull(h.REPO, "tidy", title="Tidy")
        assert (await b.deliver("pull_request", h.pr_payload("opened", good, sha))).status_code == 202
        await h.wait_for(lambda: gh.merged(h.REPO, good), 60, "the good PR's merge")
        assert len(live(quorum_reviews(gh, good))) == 1
        print(
            f"\nstale publish: paused→taken over {took_over_s:.1f} s; resumed→withdrawn {withdrawn_s:.2f} s; "
            f"reviews on the head: {len(reviews)} posted, {len(live(reviews))} live; "
            f"audit: {withdrawals[0].reason}"
        )
    finally:
        stop(first)
        if second is not None:
            stop(second)


async def _audit(redis_url: str, prefix: str, job_id: str) -> list:  # type: ignore[type-arg]
    client = aioredis.Redis.from_url(redis_url)
    try:
        return await redis_state.RedisStateStore(client, redis_conn.Keys(prefix)).audit(job_id)
    finally:
        await client.aclose()


async def test_a_late_write_whose_writer_died_is_retired_when_its_review_event_arrives(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    gh = fake_github
    env_a, env_b, a, b = two_replicas(gh, fake_llm, redis_url, tmp_path)
    number, head = a.open_buggy_pull()
    held = gh.hold_next("POST", rf"/pulls/{number}/reviews$")
    first = h.spawn(env_a, tmp_path / "a.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        await h.wait_until_up(a.url, first)
        await a.deliver("pull_request", h.pr_payload("opened", number, head))
        assert held.arrived.wait(60), "the first replica never tried to post"
        first.send_signal(signal.SIGSTOP)
        second = h.spawn(env_b, tmp_path / "b.log")
        await h.wait_until_up(b.url, second)
        await h.wait_for(lambda: bool(gh.statuses(h.REPO, head)), 60, "the second replica's review and tally")

        held.release()  # the first replica's write lands after every check of the second ...
        await h.wait_for(lambda: len(quorum_reviews(gh, number)) == 2, 10, "the late write")
        first.kill()  # ... and its writer dies before it can look: nobody withdraws it
        first.wait(10)
        late = quorum_reviews(gh, number)[-1]
        # GitHub announces every review; the one that landed late brings the PR back to a replica.
        payload = webhooks.load_sample(
            "pull_request_review.submitted-approved", pull_request__number=number, review__id=late.id,
            review__user__login=gh.login, review__state="changes_requested", review__commit_id=head,
            sender__login=gh.login, repository__full_name=h.REPO,
        )  # fmt: skip
        assert (await b.deliver("pull_request_review", payload)).status_code == 202

        await h.wait_for(lambda: len(live(quorum_reviews(gh, number))) == 1, 30, "one live review per head")
        assert live(quorum_reviews(gh, number))[0].id != late.id  # the holder's own review stands
    finally:
        stop(first)
        if second is not None:
            stop(second)
