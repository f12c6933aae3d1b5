"""The runner's environment as `quorum action` reads it."""

from __future__ import annotations

import pytest

from bot.action import environment
from bot.errors import ConfigError
from tests.support import webhooks


def test_outside_a_workflow_run_every_missing_variable_is_named() -> None:
    with pytest.raises(ConfigError) as caught:
        environment.from_environ({"GITHUB_EVENT_NAME": "pull_request"})

    assert caught.value.problems == (
        "GITHUB_EVENT_PATH: not set", "GITHUB_REPOSITORY: not set", "GITHUB_WORKSPACE: not set"
    )  # fmt: skip


def test_a_re_run_is_a_new_delivery_and_redis_is_used_only_when_configured() -> None:
    base = {"GITHUB_EVENT_NAME": "status", "GITHUB_EVENT_PATH": "/e.json", "GITHUB_REPOSITORY": "o/r",
            "GITHUB_WORKSPACE": "/w", "GITHUB_RUN_ID": "77", "GITHUB_RUN_ATTEMPT": "2"}  # fmt: skip

    env = environment.from_environ(base)
    with_redis = environment.from_environ({**base, "QUORUM_REDIS__URL": "redis://h:6379/0"})

    assert (env.delivery_id, env.redis_configured, with_redis.redis_configured) == (
        "actions-77-2",
        False,
        True,
    )
    assert env.api_url == "https://api.github.com" and env.step_summary is None


def test_a_fork_is_told_by_the_head_repository_and_a_deleted_fork_is_one_too() -> None:
    fork = webhooks.load_sample("pull_request.opened")  # head in mona/hello-world, base in octo-org
    same = webhooks.load_sample(
        "pull_request.opened", pull_request__head__repo__full_name="Octo-Org/hello-world"
    )
    gone = webhooks.load_sample("pull_request.opened", pull_request__head__repo=None)

    assert environment.from_fork("pull_request", fork) and environment.from_fork("pull_request", gone)
    assert not environment.from_fork("pull_request", same)
    assert not environment.from_fork("issue_comment", fork)  # runs in the base repository's context


@pytest.mark.parametrize(
    ("api_url", "refused"), [("https://api.github.com", True), ("https://ghe.corp/api/v3", False)]
)
def test_the_write_pace_is_judged_against_the_runners_api_url(api_url: str, refused: bool) -> None:
    from bot.bootstrap import action as action_root
    from config.settings import Settings

    runner = {"GITHUB_EVENT_NAME": "status", "GITHUB_EVENT_PATH": "/e.json", "GITHUB_REPOSITORY": "o/r",
              "GITHUB_WORKSPACE": "/w", "GITHUB_TOKEN": "ghs_" + "x" * 36,
              "GITHUB_API_URL": api_url}  # fmt: skip
    env = environment.from_environ(runner)
    # Loaded before the runner's URL is known (the default is github.com's): the pace is judged after.
    settings = action_root.with_runner(Settings(github={"write_interval_s": 0.05}), env)

    if refused:
        with pytest.raises(ConfigError, match=r"github\.com allows one credential"):
            action_root.github_client(settings, env)
    else:
        assert action_root.github_client(settings, env) is not None
