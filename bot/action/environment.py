"""The GitHub Actions runner environment `quorum action` reads: the event, the token, the paths."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ConfigError, InputError

# Set on every runner (docs: "Store information in variables", default environment variables).
_REQUIRED = ("GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH", "GITHUB_REPOSITORY", "GITHUB_WORKSPACE")
ACTIONS_LOGIN = "github-actions[bot]"  # who a workflow's GITHUB_TOKEN acts as


@dataclass(frozen=True, slots=True)
class ActionEnv:
    """What one workflow run gives Quorum; optional files are None when the runner did not set them."""

    event_name: str
    event_path: Path
    repository: str
    workspace: Path
    api_url: str
    token: str | None
    runner_temp: Path | None
    step_summary: Path | None
    output: Path | None
    run_id: str = "0"
    run_attempt: str = "1"
    redis_configured: bool = False  # QUORUM_REDIS__URL is set: coordinate through Redis across runs
    api_url_from_runner: bool = True  # no QUORUM_GITHUB__BASE_URL: the runner's GITHUB_API_URL applies
    state_dir_configured: bool = False  # QUORUM_WORKSPACE__STATE_DIR is set: not under RUNNER_TEMP
    # Who an installation token acts as (it may not ask `GET /user`): the workflow's own token is
    # github-actions[bot]; another App's token (action input `bot-login`) is `<slug>[bot]`.
    bot_login: str = ACTIONS_LOGIN

    @property
    def delivery_id(self) -> str:
        """One id per run attempt: a re-run is a new request, its posts stay deduplicated by markers."""
        return f"actions-{self.run_id}-{self.run_attempt}"

    def payload(self) -> Mapping[str, Any]:
        """The event's payload as the runner wrote it; `InputError` when it is not a JSON object."""
        try:
            data = json.loads(self.event_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the event payload {self.event_path}: {exc}") from exc
        if not isinstance(data, dict):
            raise InputError(f"the event payload {self.event_path} is not a JSON object")
        return data


def from_environ(environ: Mapping[str, str]) -> ActionEnv:
    """The runner's variables; `ConfigError` naming each one missing (outside a workflow run)."""
    missing = [name for name in _REQUIRED if not environ.get(name)]
    if missing:
        raise ConfigError(
            "quorum action runs inside a GitHub Actions job",
            tuple(f"{name}: not set" for name in missing),
        )

    def path(name: str) -> Path | None:
        value = environ.get(name, "")
        return Path(value) if value else None

    return ActionEnv(
        event_name=environ["GITHUB_EVENT_NAME"],
        event_path=Path(environ["GITHUB_EVENT_PATH"]),
        repository=environ["GITHUB_REPOSITORY"],
        workspace=Path(environ["GITHUB_WORKSPACE"]),
        api_url=environ.get("GITHUB_API_URL") or "https://api.github.com",
        token=environ.get("GITHUB_TOKEN") or None,
        runner_temp=path("RUNNER_TEMP"),
        step_summary=path("GITHUB_STEP_SUMMARY"),
        output=path("GITHUB_OUTPUT"),
        run_id=environ.get("GITHUB_RUN_ID") or "0",
        run_attempt=environ.get("GITHUB_RUN_ATTEMPT") or "1",
        redis_configured=bool(environ.get("QUORUM_REDIS__URL")),
        api_url_from_runner=not environ.get("QUORUM_GITHUB__BASE_URL"),
        state_dir_configured=bool(environ.get("QUORUM_WORKSPACE__STATE_DIR")),
        bot_login=environ.get("INPUT_BOT_LOGIN") or ACTIONS_LOGIN,
    )


def from_fork(event_name: str, payload: Mapping[str, Any]) -> bool:
    """Whether a `pull_request`/`pull_request_review` run is for a fork's head: then GitHub gives the run
    a read-only token and no secrets. Other events run in the base repository's context."""
    if event_name not in ("pull_request", "pull_request_review"):
        return False
    pull = payload.get("pull_request")
    repository = payload.get("repository")
    if not isinstance(pull, dict) or not isinstance(repository, dict):
        return False
    head = pull.get("head")
    source = head.get("repo") if isinstance(head, dict) else None
    if not isinstance(source, dict):
        return True  # the fork was deleted: still not this repository
    return str(source.get("full_name") or "").lower() != str(repository.get("full_name") or "").lower()
