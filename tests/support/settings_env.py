"""Helpers for settings tests: an environment free of the machine's own Quorum, systemd and XDG variables."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from config import settings


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Remove every QUORUM_* variable and the systemd/XDG ones settings read; point HOME at `home`."""
    for name in list(os.environ):
        if name.startswith("QUORUM_"):
            monkeypatch.delenv(name)
    for name in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))


def write(path: Path, text: str) -> Path:
    """Write `text` to `path` as UTF-8 and return the path."""
    path.write_text(text, encoding="utf-8")
    return path


def load(config_file: Path | None = None, **overrides: Any) -> settings.Settings:
    """Load settings without any secrets directory, so /run/secrets of the machine never leaks in."""
    return settings.load_settings(config_file, secrets_dirs=[], **overrides)
