"""A `quorum serve` under test: the fake GitHub (real git repositories behind it), a scripted fake LLM,
a real redis-server, and the daemon itself, in process or as a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.entrypoints import serve
from config import settings as settings_module
from tests.fakes import github_state, llm_servers
from tests.fakes.github_server import FakeGitHub
from tests.support import webhooks

SECRET = b"webhook-secret-for-tests"
REPO = "acme/widgets"
BASE_CALC = "def mean(values):\n    return sum(values) / len(values)\n"
BUGGY_CALC = "def mean(values):\n    return sum(values) / (len(values) - 1)\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def review_json(verdict: str = "approve", findings: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"verdict": verdict, "summary": f"{verdict} from the fake", "confidence": 0.9,
                       "findings": findings or []})  # fmt: skip


def environment(
    gh: FakeGitHub, llm: llm_servers.FakeLLMServer, redis_url: str, tmp: Path, port: int
) -> dict[str, str]:
    """The QUORUM_* variables of a daemon wired to the fakes (merging on, two approvals)."""
    return {
        "QUORUM_LOG_LEVEL": "INFO",
        "QUORUM_LLM__PROVIDER": "openai",
        "QUORUM_LLM__BASE_URL": llm.base_url,
        "QUORUM_LLM__API_KEY": "sk-test-key-123456",
        "QUORUM_LLM__MODEL": "gpt-4o-mini",
        "QUORUM_LLM__RETRY_BASE_S": "0.01",
        "QUORUM_GITHUB__BASE_URL": gh.api_url,
        "QUORUM_GITHUB__TOKEN": gh.token,
        "QUORUM_GITHUB__WEBHOOK_SECRET": SECRET.decode(),
        "QUORUM_GITHUB__CLONE_URL_TEMPLATE": gh.clone_url_template,
        "QUORUM_GITHUB__REPOSITORIES": json.dumps([REPO]),
        "QUORUM_GITHUB__POLL_INTERVAL_S": "3600",
        # Writes paced 50 ms apart, not GitHub's 1 s: the suites that test the pacing itself set 1 s.
        "QUORUM_GITHUB__WRITE_INTERVAL_S": "0.05",
        "QUORUM_REDIS__URL": redis_url,
        "QUORUM_REDIS__KEY_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "QUORUM_REDIS__LEASE_TTL_S": "3",
        "QUORUM_REDIS__JOB_RETRY_BASE_S": "0.2",
        "QUORUM_REDIS__JOB_RETRY_CAP_S": "0.5",
        "QUORUM_SERVER__PORT": str(port),
        "QUORUM_SERVER__SHUTDOWN_GRACE_S": "5",
        "QUORUM_WORKSPACE__STATE_DIR": str(tmp / "state"),
        "QUORUM_MERGE__ENABLED": "true",
        "QUORUM_TIMEOUTS__MONITOR_INTERVAL_S": "0.5",
        "QUORUM_AGENT__ENABLED": "false",
    }


def load_settings(env: dict[str, str]) -> settings_module.Settings:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return settings_module.load_settings(None, secrets_dirs=[])
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def pr_payload(action: str, number: int, head_sha: str, **extra: Any) -> dict[str, Any]:
    return webhooks.load_sample(
        "pull_request.opened", action=action, number=number, pull_request__number=number,
        pull_request__head__sha=head_sha, repository__full_name=REPO, **extra,
    )  # fmt: skip


def comment_payload(
    number: int, user: str, body: str, *, comment_id: int = 1514062234, created_at: str | None = None
) -> dict[str, Any]:
    """An `issue_comment` delivery; the comment was written now unless `created_at` says when."""
    stamp = created_at or github_state.now_iso()
    return webhooks.load_sample(
        "issue_comment.created-command", issue__number=number, comment__body=body,
        comment__user__login=user, sender__login=user, repository__full_name=REPO, comment__id=comment_id,
        comment__created_at=stamp, comment__updated_at=stamp,
    )  # fmt: skip


def written_comment(
    gh: FakeGitHub, number: int, user: str, body: str, at: float | None = None
) -> dict[str, Any]:
    """Write the comment on the fake GitHub (at `at`, default now) and return its delivery."""
    comment_id = gh.add_comment(REPO, number, user, body, at=at)
    created = next(c.created_at for c in gh.comments(REPO, number) if c.id == comment_id)
    return comment_payload(number, user, body, comment_id=comment_id, created_at=created)


@dataclass
class Daemon:
    gh: FakeGitHub
    llm: llm_servers.FakeLLMServer
    env: dict[str, str]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def deliver(self, event: str, payload: dict[str, Any], delivery_id: str | None = None,
                      secret: bytes = SECRET) -> httpx.Response:  # fmt: skip
        body = webhooks.encode(payload)
        headers = webhooks.delivery_headers(event, delivery_id, body, secret)
        async with httpx.AsyncClient() as client:
            return await client.post(f"{self.url}/webhook", content=body, headers=headers, timeout=10)

    def open_buggy_pull(self, branch: str = "feature") -> tuple[int, str]:
        sha = self.gh.push_branch(REPO, branch, {"calc.py": BUGGY_CALC}, "divide by n-1")
        return self.gh.open_pull(REPO, branch, title="Use the sample size"), sha


async def wait_for(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 30.0, what: str = ""
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


async def wait_until_up(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"quorum serve exited with {proc.returncode}")
            try:
                if (await client.get(f"{url}/readyz", timeout=1)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("quorum serve did not become ready")


def spawn(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`quorum serve` as a child process (its log in `log`)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "bot.entrypoints.cli", "serve"], env={**clean, **env}, stdout=handle,
            stderr=subprocess.STDOUT,
        )  # fmt: skip


@asynccontextmanager
async def serving(
    gh: FakeGitHub,
    llm: llm_servers.FakeLLMServer,
    redis_url: str,
    tmp: Path,
    *,
    poll: bool = False,
    without: tuple[str, ...] = (),
    **env: str,
) -> AsyncIterator[Daemon]:
    """`quorum serve` in this process, wired to the fakes (plus `env`, less the `without` variables),
    up and answering inside the block and stopped after it."""
    port = free_port()
    variables = {k: v for k, v in {**environment(gh, llm, redis_url, tmp, port), **env}.items()
                 if k not in without}  # fmt: skip
    stopping = asyncio.Event()
    task = asyncio.create_task(serve.serve(load_settings(variables), poll=poll, stopping=stopping))
    daemon = Daemon(gh, llm, variables, port)
    try:
        await wait_until_up(daemon.url)
        yield daemon
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
