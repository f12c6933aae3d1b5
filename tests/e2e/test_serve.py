"""`quorum serve` end to end in one process: signed deliveries in, reviews, check runs and SHA-pinned
merges out, against a strict fake GitHub backed by real git repositories, a scripted LLM and real Redis."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.entrypoints import serve
from guardrails import lease
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import WRITE_METHODS, FakeGitHub

pytestmark = pytest.mark.redis


class Gate:
    """A fake-LLM script that approves, optionally holding every answer until released."""

    def __init__(self, *, hold: bool = False) -> None:
        self.release = threading.Event()
        self.asked = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, request: llm_servers.RecordedRequest) -> llm_servers.Reply:
        self.asked.set()
        self.release.wait(20)
        return llm_servers.Reply(h.review_json("approve"))


async def _start(gh: FakeGitHub, llm: llm_servers.FakeLLMServer, redis_url: str, tmp: Path, **env: str):  # type: ignore[no-untyped-def]
    port = h.free_port()
    settings = h.load_settings({**h.environment(gh, llm, redis_url, tmp, port), **env})
    stopping = asyncio.Event()
    task = asyncio.create_task(serve.serve(settings, poll=False, stopping=stopping))
    daemon = h.Daemon(gh, llm, {}, port)
    await h.wait_until_up(daemon.url)
    return daemon, stopping, task


@pytest.fixture
async def world(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> AsyncIterator:  # type: ignore[type-arg]
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    gate = Gate()
    llm = fake_llm("openai", gate)
    started: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(**env: str) -> h.Daemon:
        daemon, stopping, task = await _start(fake_github, llm, redis_url, tmp_path, **env)
        started.append((stopping, task))
        return daemon

    yield start, fake_github, llm, gate
    for stopping, task in started:
        stopping.set()
        await asyncio.wait_for(task, 30)


def _quorum_reviews(gh: FakeGitHub, number: int) -> list:  # type: ignore[type-arg]
    return [r for r in gh.reviews(h.REPO, number) if lease.parse_marker(r.body) is not None]


async def test_a_signed_delivery_is_reviewed_to_consensus_and_merged_at_that_sha(world) -> None:  # type: ignore[no-untyped-def]
    start, gh, llm, _ = world
    daemon = await start()
    number, head = daemon.open_buggy_pull()

    response = await daemon.deliver("pull_request", h.pr_payload("opened", number, head))

    assert response.status_code == 202
    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the merge")
    reviews = _quorum_reviews(gh, number)
    assert [(r.state, r.commit_id) for r in reviews] == [("APPROVED", head)]
    marker = lease.parse_marker(reviews[0].body)
    assert marker is not None and (marker.job_id, marker.sha, marker.round) == (f"{h.REPO}#{number}", head, 2)
    assert len(llm.chat_bodies()) == 2  # two approving rounds: the consensus
    merges = [r for r in gh.requests if r.method == "PUT" and r.path.endswith(f"/pulls/{number}/merge")]
    assert len(merges) == 1 and merges[0].status == 200
    # Quorum's first check on the head is the merge gate's answer, success once it held (a token posts
    # commit statuses): three writes in all, review, check, merge, in that order.
    assert [s.state for s in gh.statuses(h.REPO, head) if s.context == "quorum"] == ["success"]
    writes = [(a.method, a.path) for a in gh.arrivals if a.method in WRITE_METHODS]
    assert [m for m, _ in writes] == ["POST", "POST", "PUT"], writes
    assert writes[0][1].endswith(f"/pulls/{number}/reviews") and f"/statuses/{head}" in writes[1][1]


async def test_a_bad_signature_is_refused_and_nothing_is_queued(world) -> None:  # type: ignore[no-untyped-def]
    start, gh, llm, _ = world
    daemon = await start()
    number, head = daemon.open_buggy_pull()

    response = await daemon.deliver("pull_request", h.pr_payload("opened", number, head), secret=b"wrong")

    assert response.status_code == 401
    await asyncio.sleep(1.5)
    assert llm.chat_bodies() == []
    assert not [r for r in gh.requests if r.path.endswith(f"/pulls/{number}")]


async def test_the_same_delivery_twice_gives_one_review(world) -> None:  # type: ignore[no-untyped-def]
    start, gh, llm, _ = world
    daemon = await start()
    number, head = daemon.open_buggy_pull()
    payload = h.pr_payload("opened", number, head)

    first = await daemon.deliver("pull_request", payload, delivery_id="d-1")
    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the merge")
    second = await daemon.deliver("pull_request", payload, delivery_id="d-1")
    await asyncio.sleep(1.0)

    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json() == {"status": "duplicate"}
    assert len(_quorum_reviews(gh, number)) == 1
    assert len(llm.chat_bodies()) == 2


async def test_a_push_during_the_review_never_approves_or_merges_the_old_head(world) -> None:  # type: ignore[no-untyped-def]
    start, gh, _llm, gate = world
    gate.release.clear()
    daemon = await start()
    number, old = daemon.open_buggy_pull()
    await daemon.deliver("pull_request", h.pr_payload("opened", number, old))
    await asyncio.to_thread(gate.asked.wait, 20)

    new = gh.push_branch(h.REPO, "feature", {"calc.py": h.BASE_CALC + "\n# fixed\n"}, "fix")
    await daemon.deliver("pull_request", h.pr_payload("synchronize", number, new))
    gate.release.set()

    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the merge of the new head")
    assert {r.commit_id for r in _quorum_reviews(gh, number)} == {new}
    merges = [r for r in gh.requests if r.method == "PUT" and r.path.endswith("/merge")]
    assert [m.status for m in merges] == [200]


async def test_a_missed_webhook_is_found_by_the_reconciler(world) -> None:  # type: ignore[no-untyped-def]
    start, gh, _llm, _ = world
    daemon = await start(QUORUM_GITHUB__POLL_INTERVAL_S="0.5")
    number, head = daemon.open_buggy_pull()  # no delivery at all

    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the reconciler's review and merge")
    assert [r.commit_id for r in _quorum_reviews(gh, number)] == [head]


async def test_a_protected_path_waits_for_a_maintainer(world) -> None:  # type: ignore[no-untyped-def]
    start, gh, _llm, _ = world
    daemon = await start()
    # Pushed a minute ago (GitHub's clock), so the maintainer's comment below is ordered after it.
    head = gh.push_branch(h.REPO, "ci", {".github/workflows/ci.yml": "on: push\n"}, "ci", at=time.time() - 60)
    number = gh.open_pull(h.REPO, "ci")
    await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
    await h.wait_for(lambda: any("human must approve" in c.body for c in gh.comments(h.REPO, number)))
    assert not gh.merged(h.REPO, number)

    gh.set_permission(h.REPO, "maria", "write")
    await daemon.deliver(
        "issue_comment", h.written_comment(gh, number, "maria", "/quorum merge"), delivery_id="cmd-1"
    )

    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the merge after /quorum merge")


async def test_commands_from_users_without_write_access_are_refused_politely(world) -> None:  # type: ignore[no-untyped-def]
    start, gh, _llm, _ = world
    daemon = await start()
    number, _head = daemon.open_buggy_pull()
    gh.set_permission(h.REPO, "mallory", "read")

    response = await daemon.deliver("issue_comment", h.comment_payload(number, "mallory", "/quorum merge"))

    assert response.status_code == 202
    await h.wait_for(
        lambda: any("only people with write access" in c.body for c in gh.comments(h.REPO, number))
    )


async def test_a_stale_sha_at_merge_time_sends_the_pr_back_to_review(world) -> None:  # type: ignore[no-untyped-def]
    start, gh, llm, _ = world
    daemon = await start()
    number, head = daemon.open_buggy_pull()
    gh.fail_next("PUT", rf".*/pulls/{number}/merge$", 409, body={"message": "Head branch was modified."})

    await daemon.deliver("pull_request", h.pr_payload("opened", number, head))

    await h.wait_for(lambda: gh.merged(h.REPO, number), what="the merge after a second review")
    merges = [r.status for r in gh.requests if r.method == "PUT" and r.path.endswith("/merge")]
    assert merges == [409, 200]
    # Reviewed again after the refused merge: the same head's rounds are answered from the query cache,
    # and the decision's review is recognised by its marker instead of being posted twice.
    assert len(llm.chat_bodies()) == 2
    assert len(_quorum_reviews(gh, number)) == 1


async def test_a_pr_closed_elsewhere_is_recorded_closed_and_left_alone(world) -> None:  # type: ignore[no-untyped-def]
    start, gh, llm, _gate = world
    daemon = await start()
    head = gh.push_branch(h.REPO, "ci", {".github/workflows/ci.yml": "on: push\n"}, "ci")
    number = gh.open_pull(h.REPO, "ci")
    await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
    await h.wait_for(lambda: any("human must approve" in c.body for c in gh.comments(h.REPO, number)))

    gh.close_pull(h.REPO, number)
    closed = h.pr_payload("closed", number, head)
    await daemon.deliver("pull_request", closed)
    calls = len(llm.chat_bodies())
    await daemon.deliver("pull_request", h.pr_payload("synchronize", number, head), delivery_id="late")
    await asyncio.sleep(1.5)

    assert not gh.merged(h.REPO, number)
    assert len(llm.chat_bodies()) == calls


async def test_metrics_of_a_review_reach_elasticsearch_with_the_pr_on_every_document(
    fake_github: FakeGitHub,
    fake_llm: FakeLLMFactory,
    fake_es,
    redis_url: str,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", Gate())
    daemon, stopping, task = await _start(
        fake_github, llm, redis_url, tmp_path, QUORUM_ELASTICSEARCH__HOSTS=f'["{fake_es.url}"]',
        QUORUM_ELASTICSEARCH__FLUSH_INTERVAL_S="0.2",
    )  # fmt: skip
    try:
        number, head = daemon.open_buggy_pull()
        await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
        await h.wait_for(lambda: fake_github.merged(h.REPO, number), what="the merge")
        await h.wait_for(
            lambda: len(fake_es.documents("metrics-quorum.llm-*")) >= 2, what="llm_call documents"
        )
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)

    calls = fake_es.documents("metrics-quorum.llm-*")
    assert len(calls) == 2
    assert all(d["quorum"]["pr"]["number"] == number and d["quorum"]["repo"] == h.REPO for d in calls)
    reviews = fake_es.documents("metrics-quorum.review-*")
    assert any(d.get("quorum", {}).get("transition") for d in reviews)  # the audit trail
