"""An operator cancels a review while `quorum serve` runs it: the holder is fenced out and posts nothing
for that run, while the next PR is reviewed and merged by the same daemon."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.entrypoints import serve
from guardrails import lease
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]


class HeldFirstCall:
    """Approves; the first call waits until released (the review an operator will cancel)."""

    def __init__(self) -> None:
        self.asked, self.release = threading.Event(), threading.Event()
        self.calls = 0

    def __call__(self, request: llm_servers.RecordedRequest) -> llm_servers.Reply:
        self.calls += 1
        if self.calls == 1:
            self.asked.set()
            self.release.wait(20)
        return llm_servers.Reply(h.review_json("approve"))


async def quorum(env: dict[str, str], *argv: str) -> tuple[int, str]:
    """The real CLI in a child process (the daemon keeps running in this event loop meanwhile)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.entrypoints.cli", *argv, env={**clean, **env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def _quorum_reviews(gh: FakeGitHub, number: int) -> list:  # type: ignore[type-arg]
    return [r for r in gh.reviews(h.REPO, number) if lease.parse_marker(r.body) is not None]


async def test_a_cancelled_running_review_posts_nothing_and_the_next_pr_merges(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    script = HeldFirstCall()
    llm = fake_llm("openai", script)
    port = h.free_port()
    env = h.environment(fake_github, llm, redis_url, tmp_path, port)
    stopping = asyncio.Event()
    task = asyncio.create_task(serve.serve(h.load_settings(env), poll=False, stopping=stopping))
    daemon = h.Daemon(fake_github, llm, env, port)
    await h.wait_until_up(daemon.url)
    try:
        cancelled, head = daemon.open_buggy_pull("first")
        await daemon.deliver("pull_request", h.pr_payload("opened", cancelled, head))
        await asyncio.to_thread(script.asked.wait, 20)

        status, said = await quorum(env, "jobs", "cancel", f"{h.REPO}#{cancelled}", "--format", "json")
        listing = json.loads((await quorum(env, "jobs", "--format", "json"))[1])
        await asyncio.sleep(2.0)  # past a renewal (lease ttl 3 s, renewed every 1 s): the holder is out
        async with httpx.AsyncClient() as client:
            scraped = (await client.get(f"{daemon.url}/metrics", timeout=10)).text
        script.release.set()
        merged, head2 = daemon.open_buggy_pull("second")
        await daemon.deliver("pull_request", h.pr_payload("opened", merged, head2))
        await h.wait_for(lambda: fake_github.merged(h.REPO, merged), what="the merge of the second PR")
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)

    assert status == 0 and json.loads(said) == {"job_id": f"{h.REPO}#{cancelled}", "result": "revoked"}
    assert listing["running"] == [] and listing["queued"] == []
    renewals = {
        sample.labels["result"]: sample.value
        for family in text_string_to_metric_families(scraped)
        if family.name == "quorum_lease_renewals"
        for sample in family.samples
        if sample.name.endswith("_total")
    }
    assert renewals.get("lost") == 1  # the holder's next renewal was refused: it stopped there
    assert _quorum_reviews(fake_github, cancelled) == []
    assert not fake_github.merged(h.REPO, cancelled)
    posts = [r for r in fake_github.requests if r.method == "POST" and f"/pulls/{cancelled}/" in r.path]
    assert posts == []
    assert [r.commit_id for r in _quorum_reviews(fake_github, merged)] == [head2]
