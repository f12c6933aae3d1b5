"""After `quorum serve` reviewed and merged a PR, `quorum pr` and `quorum budget` (the real entry point,
in a child process) show what happened: the record, its audit trail, and the spend against the caps."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from bot.entrypoints import serve
from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]


async def quorum(env: dict[str, str], *argv: str) -> tuple[int, str]:
    """The real CLI in a child process; its exit status and stdout."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.entrypoints.cli", *argv, env={**clean, **env, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_pr_and_budget_show_a_merged_review(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", lambda _r: llm_servers.Reply(h.review_json("approve")))
    port = h.free_port()
    env = h.environment(fake_github, llm, redis_url, tmp_path, port)
    stopping = asyncio.Event()
    task = asyncio.create_task(serve.serve(h.load_settings(env), poll=False, stopping=stopping))
    daemon = h.Daemon(fake_github, llm, env, port)
    try:
        await h.wait_until_up(daemon.url)
        number, head = daemon.open_buggy_pull()
        await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
        await h.wait_for(lambda: fake_github.merged(h.REPO, number), what="the merge")
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
    job = f"{h.REPO}#{number}"

    pr_status, pr_json = await quorum(env, "pr", job, "--format", "json")
    text_status, pr_text = await quorum(env, "pr", job)
    budget_status, budget_json = await quorum(env, "budget", "--format", "json")
    missing_status, _ = await quorum(env, "pr", f"{h.REPO}#999")

    assert (pr_status, text_status, budget_status, missing_status) == (0, 0, 0, 1)
    shown = json.loads(pr_json)
    record = shown["record"]
    assert (record["state"], record["head_sha"], record["reviewed_sha"], record["approvals"]) == (
        "merged", head, head, 2,
    )  # fmt: skip
    assert record["decision"] and shown["queue"] == "none"
    trail = [(e["from_state"], e["to_state"]) for e in shown["audit"]]
    assert trail[-1][1] == "merged" and len(trail) >= 2
    assert f"{job}  (queue: none)" in pr_text and "-> merged" in pr_text
    spend = json.loads(budget_json)
    spent = spend["all"]["spent_micro_usd"]
    assert spent > 0 and spend["all"]["limit_micro_usd"] == 200_000_000
    repos = [(r["repo"], r["spent_micro_usd"], r["limit_micro_usd"]) for r in spend["repositories"]]
    assert repos == [(h.REPO, spent, 50_000_000)]
    assert [(p["pr"], p["spent_micro_usd"]) for p in spend["prs"]] == [(job, spent)]
