"""Settings: defaults, sources and their order, secret files, error reports, rendering, the example file."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from bot import errors
from config import settings
from tests.support import settings_env

CANARY = "sk-canary-7f3a9c"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings_env.isolate(monkeypatch, tmp_path / "home")


write = settings_env.write
load = settings_env.load


def config_error(config_file: Path | None = None, **kwargs: Any) -> errors.ConfigError:
    kwargs.setdefault("secrets_dirs", [])
    with pytest.raises(errors.ConfigError) as caught:
        settings.load_settings(config_file, **kwargs)
    return caught.value


def everything_said(exc: BaseException) -> str:
    """The message, problems and the whole printed traceback, causes included."""
    problems = getattr(exc, "problems", ())
    return "\n".join([str(exc), repr(exc), *problems, *traceback.format_exception(exc)])


def test_defaults_follow_the_design(tmp_path: Path) -> None:
    s = load()

    assert s.log_level == "INFO"
    assert (s.llm.provider, s.llm.base_url, s.llm.model, s.llm.api_key) == ("local", None, None, None)
    assert (s.llm.max_output_tokens, s.llm.context_tokens, s.llm.temperature) == (1024, None, 0.0)
    assert (s.agent.enabled, s.agent.max_input_tokens) == ("auto", 200_000)
    assert (s.llm.max_retries, s.llm.retry_base_s, s.llm.retry_max_s) == (3, 1.0, 30.0)
    assert (s.llm.price_input_per_mtok, s.llm.price_output_per_mtok, s.llm.fallback_models) == (
        None,
        None,
        [],
    )
    assert (s.llm.model_path, s.llm.local_threads, s.llm.local_startup_timeout_s) == (None, None, 120.0)
    assert s.budget.model_dump() == {
        "per_pr_usd": 8.0, "per_round_usd": 2.0, "per_repo_daily_usd": 50.0, "daily_usd": 200.0,
        "alert_percents": [50, 80, 100], "pr_ledger_days": 30,
    }  # fmt: skip
    assert (s.llm.fallback, s.llm.breaker_failures, s.llm.breaker_cooldown_s) == ([], 5, 300.0)
    assert s.timeouts.model_dump() == {
        "llm_call_s": 1800, "round_s": 2700, "review_job_s": 3600, "pr_lock_ttl_s": 3600,
        "monitor_interval_s": 15,
    }  # fmt: skip
    assert (s.concurrency.max_concurrent_agents, s.concurrency.max_per_repo) == (6, 2)
    assert (s.consensus.min_approvals, s.consensus.max_rounds) == (2, 5)
    assert s.review.exclude == []
    assert {"package-lock.json", "yarn.lock", "poetry.lock", "Cargo.lock", "go.sum", "uv.lock"} <= set(
        s.review.lock_files
    )
    assert {"*.min.js", "*_pb2.py", "*.pb.go", "*.generated.*", "dist/**"} <= set(s.review.generated)
    assert s.review.vendored == ["vendor/**", "third_party/**", "node_modules/**"]
    assert (s.review.max_files, s.review.max_file_lines, s.review.max_file_bytes) == (300, 3000, 524288)
    assert (s.review.max_comments, s.review.require_full_coverage) == (25, True)
    assert (s.review.prompt_version, s.review.cache_ttl_s) == ("review-v1", 604800)
    assert [r.persona for r in s.review.reviewers] == ["correctness", "security", "maintainability"]
    assert all(r.model is None for r in s.review.reviewers)
    assert s.workspace.state_dir == tmp_path / "home" / ".local" / "state" / "quorum"
    assert (s.workspace.max_checkout_bytes, s.workspace.max_read_bytes) == (2 * 1024**3, 1024**2)
    assert s.redis.model_dump() == {
        "url": "redis://127.0.0.1:6379/0", "password": None, "key_prefix": "quorum",
        "lease_ttl_s": 90, "socket_timeout_s": 5,
        "job_max_attempts": 5, "job_retry_base_s": 30, "job_retry_cap_s": 900,
    }  # fmt: skip
    assert (s.github.base_url, s.github.token, s.github.app_id) == ("https://api.github.com", None, None)
    assert (s.github.private_key, s.github.webhook_secret, s.github.repositories) == (None, None, [])
    assert s.github.clone_url_template == "https://github.com/{repo}.git"
    assert (s.elasticsearch.hosts, s.elasticsearch.api_key, s.elasticsearch.kibana_url) == ([], None, None)
    assert s.elasticsearch.environment == "default"
    assert s.discord.webhook_url is None
    assert s.discord.events == [
        "decided", "merged", "escalated", "budget_exceeded", "failures", "budget_alert", "provider_alert"
    ]  # fmt: skip
    assert (s.server.host, s.server.port, s.server.max_body_bytes) == ("127.0.0.1", 8080, 25 * 1024**2)


@pytest.mark.parametrize(
    ("provider", "base_url", "model"),
    [
        ("openai", "https://api.openai.com/v1", "gpt-4o-mini"),
        ("ollama", "http://localhost:11434", "qwen2.5-coder:7b"),
        ("anthropic", "https://api.anthropic.com", "claude-sonnet-4-20250514"),
        ("local", None, "SmolLM2-135M-Instruct"),
    ],
)
def test_unset_base_url_and_model_fall_back_to_the_provider_defaults(
    provider: str, base_url: str | None, model: str
) -> None:
    llm = load(llm={"provider": provider}).llm

    assert (llm.effective_base_url(), llm.effective_model()) == (base_url, model)


def test_configured_base_url_and_model_beat_the_provider_defaults() -> None:
    llm = load(llm={"provider": "ollama", "base_url": "http://gpu:11434", "model": "llama3"}).llm

    assert (llm.effective_base_url(), llm.effective_model()) == ("http://gpu:11434", "llama3")


@pytest.mark.parametrize(
    ("variable", "raw", "path", "expected"),
    [
        ("QUORUM_LLM__PROVIDER", "anthropic", ("llm", "provider"), "anthropic"),
        ("QUORUM_LLM__BASE_URL", "http://127.0.0.1:9999/v1", ("llm", "base_url"), "http://127.0.0.1:9999/v1"),
        ("QUORUM_LLM__MODEL", "gpt-4.1", ("llm", "model"), "gpt-4.1"),
        ("QUORUM_LLM__API_KEY", "sk-from-env", ("llm", "api_key"), "sk-from-env"),
        ("QUORUM_LLM__PRICE_INPUT_PER_MTOK", "0.15", ("llm", "price_input_per_mtok"), 0.15),
        ("QUORUM_LLM__PRICE_OUTPUT_PER_MTOK", "0.6", ("llm", "price_output_per_mtok"), 0.6),
        ("QUORUM_BUDGET__PER_PR_USD", "3.5", ("budget", "per_pr_usd"), 3.5),
        ("QUORUM_BUDGET__PER_ROUND_USD", "0.25", ("budget", "per_round_usd"), 0.25),
        ("QUORUM_CONSENSUS__MIN_APPROVALS", "3", ("consensus", "min_approvals"), 3),
        ("QUORUM_CONSENSUS__MAX_ROUNDS", "9", ("consensus", "max_rounds"), 9),
        ("QUORUM_LOG_LEVEL", "debug", ("log_level",), "DEBUG"),
        ("QUORUM_GITHUB__REPOSITORIES", '["o/a", "o/b"]', ("github", "repositories"), ["o/a", "o/b"]),
    ],
)  # fmt: skip
def test_documented_env_variable_sets_its_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, raw: str, path: tuple[str, ...], expected: object
) -> None:
    monkeypatch.setenv(variable, raw)

    value: Any = load()
    for part in path:
        value = getattr(value, part)

    assert (value.get_secret_value() if isinstance(value, SecretStr) else value) == expected


def test_empty_env_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUM_LLM__API_KEY", "")
    monkeypatch.setenv("QUORUM_BUDGET__PER_PR_USD", "")

    s = load()

    assert (s.llm.api_key, s.budget.per_pr_usd) == (None, 8.0)


def test_toml_file_given_as_argument_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "q.toml", '[llm]\nprovider = "openai"\n[budget]\nper_pr_usd = 1.5\n')

    s = load(path)

    assert (s.llm.provider, s.budget.per_pr_usd) == ("openai", 1.5)


def test_toml_file_named_by_quorum_config_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "q.toml", "[consensus]\nmin_approvals = 3\n")
    monkeypatch.setenv("QUORUM_CONFIG", str(path))

    assert load().consensus.min_approvals == 3


def test_env_beats_toml_and_keeps_the_rest_of_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "q.toml", '[llm]\nprovider = "openai"\nmodel = "from-toml"\n')
    monkeypatch.setenv("QUORUM_LLM__MODEL", "from-env")

    llm = load(path).llm

    assert (llm.provider, llm.model) == ("openai", "from-env")


def test_sources_rank_overrides_then_env_then_secret_files_then_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "q.toml", '[github]\ntoken = "t-toml"\nwebhook_secret = "w-toml"\n')
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    write(secrets / "github__token", "t-file")
    write(secrets / "github__webhook_secret", "w-file")
    write(secrets / "llm__api_key", "k-file")
    monkeypatch.setenv("QUORUM_GITHUB__TOKEN", "t-env")
    monkeypatch.setenv("QUORUM_LLM__API_KEY", "k-env")

    s = settings.load_settings(path, secrets_dirs=[secrets], llm={"api_key": "k-init"})

    assert s.llm.api_key is not None and s.llm.api_key.get_secret_value() == "k-init"
    assert s.github.token is not None and s.github.token.get_secret_value() == "t-env"
    assert s.github.webhook_secret is not None and s.github.webhook_secret.get_secret_value() == "w-file"


def test_secret_files_set_nested_fields(tmp_path: Path) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----"
    files = {
        "llm__api_key": "sk-file", "github__token": "ghp-file", "github__webhook_secret": "hook-file",
        "github__private_key": pem, "discord__webhook_url": "https://discord.example/api/webhooks/1/x",
        "redis__password": "redis-file", "elasticsearch__api_key": "es-file",
    }  # fmt: skip
    for name, text in files.items():
        write(tmp_path / name, text + "\n")

    s = settings.load_settings(secrets_dirs=[tmp_path])

    found = {
        name: getattr(getattr(s, name.split("__")[0]), name.split("__")[1]).get_secret_value()
        for name in files
    }
    assert found == files


def test_secret_dirs_default_to_systemd_credentials_and_quorum_secrets_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials, explicit = tmp_path / "credentials", tmp_path / "explicit"
    credentials.mkdir()
    explicit.mkdir()
    write(credentials / "github__token", "from-credentials")
    write(credentials / "llm__api_key", "k-credentials")
    write(explicit / "llm__api_key", "k-explicit")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    monkeypatch.setenv("QUORUM_SECRETS_DIR", str(explicit))

    s = settings.load_settings()

    assert s.github.token is not None and s.github.token.get_secret_value() == "from-credentials"
    assert s.llm.api_key is not None and s.llm.api_key.get_secret_value() == "k-explicit"


def test_empty_secret_file_counts_as_unset(tmp_path: Path) -> None:
    write(tmp_path / "github__token", "\n")

    assert settings.load_settings(secrets_dirs=[tmp_path]).github.token is None


def test_missing_secrets_dir_is_a_config_error(tmp_path: Path) -> None:
    error = config_error(secrets_dirs=[tmp_path / "nope"])

    assert str(tmp_path / "nope") in str(error)


def test_unknown_toml_keys_are_errors_naming_them(tmp_path: Path) -> None:
    path = write(tmp_path / "q.toml", '[llm]\nprovder = "openai"\n[budgett]\nper_pr_usd = 1\n')

    error = config_error(path)

    assert error.problems == (
        "llm.provder (env QUORUM_LLM__PROVDER, toml [llm] provder): unknown setting",
        "budgett (env QUORUM_BUDGETT, toml budgett): unknown setting",
    )


def test_several_bad_fields_make_one_error_naming_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "q.toml", '[llm]\nprovider = "openia-typo"\n[server]\nport = 70000\n')
    monkeypatch.setenv("QUORUM_BUDGET__PER_PR_USD", "-1")

    error = config_error(path)

    assert error.problems == (
        "llm.provider (env QUORUM_LLM__PROVIDER, toml [llm] provider): "
        "Input should be 'local', 'openai', 'ollama' or 'anthropic'",
        "budget.per_pr_usd (env QUORUM_BUDGET__PER_PR_USD, toml [budget] per_pr_usd): "
        "Input should be greater than or equal to 0",
        "server.port (env QUORUM_SERVER__PORT, toml [server] port): "
        "Input should be less than or equal to 65535",
    )
    assert str(error).startswith(f"invalid configuration (config file {path}): 3 problems\n")
    assert all(problem in str(error) for problem in error.problems)
    assert "openia-typo" not in everything_said(error)


def test_consensus_needs_enough_rounds_for_the_approvals() -> None:
    with pytest.raises(errors.ConfigError) as caught:
        load(consensus={"min_approvals": 4, "max_rounds": 3})

    assert caught.value.problems == (
        "consensus (env QUORUM_CONSENSUS, toml [consensus]): "
        "max_rounds must be at least min_approvals, or consensus can never be reached",
    )


@pytest.mark.parametrize(
    "looser", [{"writes_per_minute": 81}, {"writes_per_hour": 501}, {"write_interval_s": 0.5}]
)
def test_github_com_writes_may_not_go_past_githubs_secondary_limits(looser: dict[str, float]) -> None:
    from bot.bootstrap import serve as serve_root

    github_com = load(github={"token": "ghp_" + "x" * 36, **looser})

    problem = github_com.github.write_limits_problem()
    assert problem is not None and problem.startswith("github.com allows one credential at most 80")
    with pytest.raises(errors.ConfigError) as caught:
        serve_root.github_client(github_com)  # where `serve`, the operator commands and doctor get one
    assert caught.value.problems == (problem,)


def test_an_enterprise_server_sets_its_own_write_limits() -> None:
    stricter = load(github={"writes_per_minute": 20, "write_interval_s": 3})
    server = load(
        github={"base_url": "https://ghe.example.internal/api/v3", "writes_per_minute": 5000,
                "writes_per_hour": 100000, "write_interval_s": 0},
    )  # fmt: skip

    assert stricter.github.write_limits_problem() is None
    assert server.github.write_limits_problem() is None
    assert (server.github.writes_per_minute, server.github.writes_per_hour) == (5000, 100000)


def test_list_items_are_named_by_position(tmp_path: Path) -> None:
    path = write(tmp_path / "q.toml", '[[review.reviewers]]\nmodel = "m"\n')

    error = config_error(path)

    assert error.problems == (
        "review.reviewers[0].persona (env QUORUM_REVIEW__REVIEWERS, toml [review] reviewers[0].persona): "
        "Field required",
    )


def test_missing_config_file_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUM_CONFIG", str(tmp_path / "gone.toml"))

    assert str(tmp_path / "missing.toml") in str(config_error(tmp_path / "missing.toml"))
    assert str(tmp_path / "gone.toml") in str(config_error())


def test_invalid_toml_names_the_file_and_position(tmp_path: Path) -> None:
    path = write(tmp_path / "q.toml", f'[llm]\nprovider = "openai"\napi_key = "{CANARY}\n')

    error = config_error(path)

    assert str(path) in str(error)
    assert "line 3, column" in str(error)
    assert CANARY not in everything_said(error)


def test_secret_of_the_wrong_type_never_appears_in_the_error(tmp_path: Path) -> None:
    path = write(tmp_path / "q.toml", f'[github]\ntoken = ["{CANARY}"]\n')

    error = config_error(path)

    assert error.problems == (
        "github.token (env QUORUM_GITHUB__TOKEN, toml [github] token): Input should be a valid string",
    )
    assert CANARY not in everything_said(error)


def test_bad_value_next_to_a_secret_never_shows_the_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `discord = "<url>"` (the secret given in place of its table) would be echoed as the input of the error.
    toml = f'discord = "{CANARY}"\n[llm]\napi_key = "{CANARY}"\nmax_output_tokens = "lots"\n'
    path = write(tmp_path / "q.toml", toml)
    monkeypatch.setenv("QUORUM_GITHUB", f'{{"token": "{CANARY}", "app_id": "x"}}')

    error = config_error(path)

    assert [problem.split(" ")[0] for problem in error.problems] == [
        "llm.max_output_tokens", "github.app_id", "discord"
    ]  # fmt: skip
    assert CANARY not in everything_said(error)


def test_unparsable_json_env_is_a_config_error_without_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUM_LLM", f'{{"api_key": "{CANARY}", ')

    error = config_error()

    assert error.problems == ("llm (env QUORUM_LLM, toml [llm]): invalid JSON value from EnvSettingsSource",)
    assert CANARY not in everything_said(error)


def test_settings_are_immutable() -> None:
    s = load()

    with pytest.raises(ValidationError):
        s.budget.per_pr_usd = 1.0


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"STATE_DIRECTORY": "/var/lib/quorum:/var/lib/other", "XDG_STATE_HOME": "/x"}, "/var/lib/quorum"),
        ({"XDG_STATE_HOME": "/xdg/state"}, "/xdg/state/quorum"),
        ({"XDG_STATE_HOME": "relative/ignored"}, "HOME/.local/state/quorum"),
    ],
)
def test_state_dir_default_follows_systemd_then_xdg_then_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variables: dict[str, str], expected: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    state_dir = load().workspace.state_dir

    assert state_dir == Path(expected.replace("HOME", str(tmp_path / "home")))


def test_env_name_joins_the_path_and_stops_at_list_positions() -> None:
    assert settings.env_name(("llm", "api_key")) == "QUORUM_LLM__API_KEY"
    assert settings.env_name(("log_level",)) == "QUORUM_LOG_LEVEL"
    assert settings.env_name(("review", "reviewers", 1, "persona")) == "QUORUM_REVIEW__REVIEWERS"
