"""Which Quorum is running: `quorum --version`, `/livez`, every JSON log line, and the User-Agent of what it
sends to GitHub and the model."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import httpx
import pytest

from bot.entrypoints import logs
from tests.e2e import serve_harness as h
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis
VERSION = metadata.version("quorum-review")
QUORUM = Path(sys.executable).parent / "quorum"


def test_version_flag_prints_the_installed_version() -> None:
    done = subprocess.run([str(QUORUM), "--version"], capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0
    assert done.stdout.strip() == f"quorum {VERSION}"


def test_every_json_log_line_names_the_version() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    handler = logs.configure("INFO", "json", stream=out)
    try:
        logging.getLogger("bot.test").info("hello")
    finally:
        root.removeHandler(handler)

    assert json.loads(out.getvalue())["service.version"] == VERSION


async def test_livez_and_every_outgoing_request_carry_the_version(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", lambda request: h.llm_servers.Reply(h.review_json("approve")))
    async with h.serving(fake_github, llm, redis_url, tmp_path) as daemon:
        async with httpx.AsyncClient() as client:
            live = (await client.get(f"{daemon.url}/livez")).json()
        number, head = daemon.open_buggy_pull()
        await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
        await h.wait_for(lambda: fake_github.merged(h.REPO, number), what="the merge")

    assert live["version"] == VERSION
    assert fake_github.requests and {r.user_agent for r in fake_github.requests} == {f"quorum/{VERSION}"}
    assert llm.requests and {r.headers["user-agent"] for r in llm.requests} == {f"quorum/{VERSION}"}
