"""Exit statuses a supervisor reads: a configuration error is 78 (EX_CONFIG) for the service commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def quorum(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a child process, with none of this machine's Quorum or systemd variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("QUORUM_", "CREDENTIALS_", "STATE_"))}
    clean.update(HOME=str(tmp_path), PYTHONPATH=str(ROOT), QUORUM_REDIS__URL="redis://127.0.0.1:1/0", **env)
    return subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", *argv],
        env=clean, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_serve_without_a_webhook_secret_exits_78(tmp_path: Path) -> None:
    done = quorum(tmp_path, "serve")

    assert done.returncode == 78, done.stderr
    assert "webhook_secret" in done.stderr


def test_serve_with_settings_that_do_not_load_exits_78(tmp_path: Path) -> None:
    bad = tmp_path / "quorum.toml"
    bad.write_text("[server]\nport = 'not a port'\n", encoding="utf-8")

    done = quorum(tmp_path, "serve", "--config", str(bad), QUORUM_GITHUB__WEBHOOK_SECRET="s")

    assert done.returncode == 78, done.stderr
    assert "configuration error" in done.stderr


@pytest.mark.parametrize("command", [["review", "."], ["config"]])
def test_interactive_commands_keep_2_for_a_configuration_error(tmp_path: Path, command: list[str]) -> None:
    bad = tmp_path / "quorum.toml"
    bad.write_text("[server]\nport = 'not a port'\n", encoding="utf-8")

    done = quorum(tmp_path, *command, "--config", str(bad))

    assert done.returncode == 2, done.stderr
