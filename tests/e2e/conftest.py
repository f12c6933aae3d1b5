"""A repository with a feature branch, and a runner for `quorum review` wired to a fake provider."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.entrypoints import cli
from tests.fakes import llm_servers

SECRET = "ghp_" + "Zq7Lm2Xc9Vb4Nn1Kk8Jj3Hh6Gg5Ff0Dd2Ss7Aa"

BASE_CALC = "def add(a, b):\n    return a + b\n\n\ndef mean(values):\n    return sum(values) / len(values)\n"
HEAD_CALC = (
    "def add(a, b):\n    return a + b\n\n\ndef mean(values):\n"
    "    return sum(values) / (len(values) - 1)\n\n\ndef last(values):\n    return values[len(values)]\n"
)


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


@pytest.fixture
def feature_repo(tmp_path: Path) -> Path:
    """main: calc.py. feature: an off-by-one in calc.py, a new function, a committed token, a lock file,
    a binary file and a note. The feature branch is checked out."""
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "calc.py").write_text(BASE_CALC)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "feature")
    (repo / "calc.py").write_text(HEAD_CALC)
    (repo / "settings.py").write_text(f'API_TOKEN = "{SECRET}"\nDEBUG = False\n')
    (repo / "package-lock.json").write_text('{"lockfileVersion": 3}\n')
    (repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    (repo / "NOTES.md").write_text("# Notes\n\nmean() now uses the sample size.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feature")
    return repo


def review_json(
    verdict: str = "approve", findings: list[dict[str, Any]] | None = None, summary: str = "ok"
) -> str:
    return json.dumps({"verdict": verdict, "summary": summary, "confidence": 0.8, "findings": findings or []})


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.out))


PRICE_ENV = {"QUORUM_LLM__PRICE_INPUT_PER_MTOK": "1.0", "QUORUM_LLM__PRICE_OUTPUT_PER_MTOK": "2.0"}


@pytest.fixture
def quorum(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., Run]]:
    """Run `quorum` in this process against a fake provider; returns code, stdout and stderr."""
    for key in list(os.environ):
        if key.startswith("QUORUM_") or key in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QUORUM_WORKSPACE__STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "secrets").mkdir()
    monkeypatch.setenv("QUORUM_SECRETS_DIR", str(tmp_path / "secrets"))
    monkeypatch.setenv("QUORUM_LLM__RETRY_BASE_S", "0.01")
    # These runs count model calls of single-call rounds; agent rounds have their own tests.
    monkeypatch.setenv("QUORUM_AGENT__ENABLED", "false")

    def run(*argv: str, fake: llm_servers.FakeLLMServer | None = None, **env: str) -> Run:
        if fake is not None:
            monkeypatch.setenv("QUORUM_LLM__PROVIDER", fake.flavor)
            monkeypatch.setenv("QUORUM_LLM__BASE_URL", fake.base_url)
            monkeypatch.setenv("QUORUM_LLM__API_KEY", "sk-test-key-123456")
            monkeypatch.setenv("QUORUM_LLM__MODEL", "gpt-4o-mini")
            for key, value in PRICE_ENV.items():
                monkeypatch.setenv(key, value)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    yield run
