"""`serve --poll` takes no webhooks but keeps its health and metrics server, so probes and the image's
HEALTHCHECK (which asks /livez) work in both modes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e import serve_harness as h
from tests.fakes import llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis


async def test_poll_mode_answers_health_and_metrics_but_takes_no_webhook(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> None:
    fake_github.create_repo(h.REPO, {"calc.py": h.BASE_CALC})
    llm = fake_llm("openai", lambda request: llm_servers.Reply(h.review_json("approve")))
    no_secret = ("QUORUM_GITHUB__WEBHOOK_SECRET",)  # poll mode needs none
    async with (
        h.serving(fake_github, llm, redis_url, tmp_path, poll=True, without=no_secret) as daemon,
        httpx.AsyncClient(base_url=daemon.url, timeout=5) as http,
    ):
        live, ready = await http.get("/livez"), await http.get("/readyz")
        metrics, webhook = await http.get("/metrics"), await http.post("/webhook", content=b"{}")

    assert live.status_code == 200 and live.json()["status"] == "alive"
    assert ready.status_code == 200
    assert metrics.status_code == 200 and "quorum_" in metrics.text
    assert webhook.status_code in (404, 405)  # no delivery is taken without a secret to check it
