"""`quorum serve` started while GitHub and Elasticsearch are down: first nothing listens at GitHub's
address, then it answers 503 to everything (an incident). systemd hears READY=1 all the same; signed
webhooks are acknowledged 202 all the while; `/readyz` stays 200 but names github as down; the daemon
probes GitHub with a bounded backoff (not a hot loop); once GitHub is back every PR is reviewed exactly
once: the buggy one gets one change request, the good one merges. Asserted from outside: what the fake
GitHub holds and what systemd was told."""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from guardrails import lease
from tests.e2e import serve_harness as h
from tests.e2e.test_fault_stale_publish import reviewer
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub
from tests.integration.test_systemd_notify import Receiver

pytestmark = pytest.mark.redis


async def readyz(url: str) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/readyz", timeout=5)
    return response.status_code, response.json()


def _names_github_down(url: str) -> Any:
    async def check() -> bool:
        return "github" in (await readyz(url))[1]["down"]

    return check


def quorum_reviews(gh: FakeGitHub, number: int) -> list[tuple[str, str]]:
    return [(r.state, r.commit_id) for r in gh.reviews(h.REPO, number) if lease.parse_marker(r.body)]


async def test_webhooks_are_kept_while_github_is_down_and_each_pr_is_reviewed_once_when_it_returns(
    fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    gh = FakeGitHub(tmp_path / "github", port=h.free_port())  # not started: nothing listens there yet
    gh.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", reviewer)
    port = h.free_port()
    # Elasticsearch is down for the whole run: metrics wait, reviews do not.
    env = {**h.environment(gh, llm, redis_url, tmp_path, port),
           "QUORUM_SERVER__BACKOFF_BASE_S": "0.2", "QUORUM_SERVER__BACKOFF_CAP_S": "1.0",
           "QUORUM_ELASTICSEARCH__HOSTS": f'["http://127.0.0.1:{h.free_port()}"]',
           "QUORUM_ELASTICSEARCH__FLUSH_INTERVAL_S": "0.2"}  # fmt: skip
    daemon = h.Daemon(gh, llm, env, port)
    buggy, buggy_head = daemon.open_buggy_pull()
    good_head = gh.push_branch(h.REPO, "tidy", {"calc.py": h.BASE_CALC + "\n# tidy\n"}, "tidy")
    good = gh.open_pull(h.REPO, "tidy", title="Tidy")
    notify_dir = tempfile.TemporaryDirectory(prefix="qn")  # unix socket paths are short
    systemd = Receiver(f"{notify_dir.name}/notify.sock")
    env["NOTIFY_SOCKET"] = f"{notify_dir.name}/notify.sock"
    started = time.monotonic()
    proc = h.spawn(env, tmp_path / "serve.log")
    try:
        await h.wait_until_up(daemon.url, proc)
        up_s = time.monotonic() - started
        acks = [
            await daemon.deliver("pull_request", h.pr_payload("opened", n, sha))
            for n, sha in ((buggy, buggy_head), (good, good_head))
        ]
        await h.wait_for(_names_github_down(daemon.url), 10, "/readyz naming github as down")
        before = await readyz(daemon.url)
        told_systemd = systemd.messages()

        gh.set_unavailable()  # now it listens, and answers 503 to everything
        gh.start()
        outage_s = 4.0
        await asyncio.sleep(outage_s)
        during = await readyz(daemon.url)
        probes = len(gh.requests)
        gh.set_unavailable(False)
        back = time.monotonic()
        await h.wait_for(lambda: gh.merged(h.REPO, good), 90, "the good PR's merge")
        await h.wait_for(lambda: bool(quorum_reviews(gh, buggy)), 30, "the buggy PR's review")
        caught_up_s = time.monotonic() - back
        await asyncio.sleep(1.0)  # any duplicate would be posted by now
        after = await readyz(daemon.url)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        gh.stop()
        systemd.close()
        notify_dir.cleanup()

    assert [a.status_code for a in acks] == [202, 202]
    assert any(m.startswith("READY=1") for m in told_systemd), told_systemd  # READY without GitHub
    for status, body in (before, during):
        assert status == 200 and body["status"] == "degraded" and "github" in body["down"], body
    assert after[0] == 200 and after[1]["dependencies"]["github"]["up"] is True, after
    assert after[1]["down"] == ["elasticsearch"] and after[1]["dependencies"]["model"]["up"] is True, after
    assert quorum_reviews(gh, buggy) == [("CHANGES_REQUESTED", buggy_head)]
    assert quorum_reviews(gh, good) == [("APPROVED", good_head)] and gh.merged(h.REPO, good)
    assert probes <= 2 * outage_s / 0.5 + 2, f"{probes} requests in a {outage_s:.0f} s outage: a hot loop"
    print(
        f"\nGitHub down at start: serve ready in {up_s:.1f} s; webhooks acknowledged "
        f"{[a.status_code for a in acks]}; {probes} GitHub requests during a {outage_s:.0f} s 503 outage; "
        f"caught up {caught_up_s:.1f} s after GitHub returned; reviews: buggy 1, good 1 (merged)"
    )
