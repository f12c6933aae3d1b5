"""`quorum action` under test: a workflow run's environment around the fake GitHub (real git behind it),
a checkout of the fake's repository as `$GITHUB_WORKSPACE`, a scripted fake LLM, and the real entry point
in a child process."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes import llm_servers
from tests.fakes.github_server import FakeGitHub
from tests.support import git_repos, webhooks

REPO = "acme/widgets"
ACTIONS_TOKEN = "ghs_" + "actions0token0for0tests0000"
BASE_CALC = "def mean(values):\n    return sum(values) / len(values)\n"
BUGGY_CALC = "def mean(values):\n    return sum(values) / (len(values) - 1)\n"
FIXED_CALC = (
    "def mean(values):\n    if not values:\n        return 0.0\n    return sum(values) / len(values)\n"
)


def review_json(verdict: str = "approve", findings: list[dict[str, Any]] | None = None) -> str:
    return json.dumps({"verdict": verdict, "summary": f"{verdict} from the fake", "confidence": 0.9,
                       "findings": findings or []})  # fmt: skip


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    summary: str
    outputs: dict[str, str]


@dataclass
class Workflow:
    """One repository's workflow runs: each `run` is a fresh job on a fresh runner, like GitHub's."""

    gh: FakeGitHub
    llm: llm_servers.FakeLLMServer
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    runs: int = 0

    def checkout(self, ref: str = "main", *, depth: int | None = None) -> Path:
        """A fresh `actions/checkout` of the fake's repository (a new runner's workspace)."""
        workspace = self.tmp / f"runner-{self.runs}" / "workspace"
        workspace.parent.mkdir(parents=True, exist_ok=True)
        args = ["clone", "--quiet", "--branch", ref, *(["--depth", str(depth)] if depth else [])]
        source = self.gh.clone_url(REPO)
        git_repos.git(self.tmp, *args, ("file://" + source) if depth else source, str(workspace))
        return workspace

    def run(
        self, event: str, payload: dict[str, Any], *, token: str = ACTIONS_TOKEN,
        args: tuple[str, ...] = (), checkout_depth: int | None = None, **extra: str,
    ) -> Run:  # fmt: skip
        """`quorum action` as a workflow step would run it; returns its exit, logs, summary and outputs."""
        workspace = self.checkout(depth=checkout_depth)
        runner = workspace.parent
        event_path, summary, output = runner / "event.json", runner / "summary.md", runner / "output"
        event_path.write_text(json.dumps(payload))
        (runner / "temp").mkdir()
        self.runs += 1
        env = {
            "GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": event, "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_TOKEN": token, "GITHUB_API_URL": self.gh.api_url, "GITHUB_REPOSITORY": REPO,
            "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(runner / "temp"),
            "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output),
            "GITHUB_RUN_ID": str(1000 + self.runs), "GITHUB_RUN_ATTEMPT": "1",
            **self.env, **extra,
        }  # fmt: skip
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("QUORUM_", "GITHUB_", "RUNNER_"))}
        done = subprocess.run(
            [sys.executable, "-m", "bot.entrypoints.cli", "action", *args], env={**clean, **env},
            cwd=workspace, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        return Run(
            done.returncode, done.stdout, done.stderr, summary.read_text() if summary.exists() else "",
            _outputs(output.read_text() if output.exists() else ""),
        )  # fmt: skip


def _outputs(text: str) -> dict[str, str]:
    """`name<<DELIM` … `DELIM` blocks of a `GITHUB_OUTPUT` file."""
    found: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, _, fence = line.partition("<<")
        found[name] = "\n".join(iter(lambda: next(lines), fence))
    return found


def settings_env(llm: llm_servers.FakeLLMServer, **overrides: str) -> dict[str, str]:
    """The action's inputs as `action.yml` maps them to QUORUM_* variables (merging off, 2 approvals)."""
    return {
        "QUORUM_LOG_FORMAT": "text",
        "QUORUM_GITHUB__WRITE_INTERVAL_S": "0.05",  # GitHub's 1 s pace is tested by the serve suites
        "QUORUM_LLM__PROVIDER": "openai",
        "QUORUM_LLM__BASE_URL": llm.base_url,
        "QUORUM_LLM__API_KEY": "sk-test-key-123456",
        "QUORUM_LLM__MODEL": "gpt-4o-mini",
        "QUORUM_LLM__PRICE_INPUT_PER_MTOK": "1.0",
        "QUORUM_LLM__PRICE_OUTPUT_PER_MTOK": "2.0",
        "QUORUM_LLM__RETRY_BASE_S": "0.01",
        "QUORUM_AGENT__ENABLED": "false",
        "QUORUM_CONSENSUS__MIN_APPROVALS": "2",
        "QUORUM_MERGE__ENABLED": "false",
        **overrides,
    }


def pr_payload(
    action: str, number: int, head_sha: str, *, head_repo: str = REPO, **extra: Any
) -> dict[str, Any]:
    return webhooks.load_sample(
        "pull_request.opened", action=action, number=number, pull_request__number=number,
        pull_request__head__sha=head_sha, pull_request__head__repo__full_name=head_repo,
        repository__full_name=REPO, **extra,
    )  # fmt: skip


def check_suite_payload(head_sha: str, number: int) -> dict[str, Any]:
    payload = webhooks.load_sample(
        "check_suite.completed", check_suite__head_sha=head_sha, repository__full_name=REPO
    )
    payload["check_suite"]["pull_requests"] = [{"number": number, "head": {"sha": head_sha}}]
    return payload


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def comment_payload(number: int, user: str, body: str) -> dict[str, Any]:
    return webhooks.load_sample(
        "issue_comment.created-command", issue__number=number, comment__body=body,
        comment__user__login=user, sender__login=user, repository__full_name=REPO,
        comment__id=int(uuid.uuid4().int % 10**8), comment__created_at=_now_iso(),
    )  # fmt: skip


def status_payload(sha: str, context: str, state: str) -> dict[str, Any]:
    return webhooks.load_sample("status", sha=sha, context=context, state=state, repository__full_name=REPO)
