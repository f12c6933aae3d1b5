"""Quorum's settings: init kwargs > env `QUORUM_*` > secret files > TOML file > defaults.

`load_settings()` is the entry point; every failure becomes one `ConfigError` that names each bad field by
its env and TOML names and never repeats an input value, so never a secret.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from bot import errors
from config import limits, sections

__all__ = ["ENV_PREFIX", "Settings", "env_name", "load_settings"]

ENV_PREFIX = "QUORUM_"
CONFIG_ENV = "QUORUM_CONFIG"
SECRETS_DIR_ENV = "QUORUM_SECRETS_DIR"
SHARED_SECRETS_DIR = Path("/run/secrets")

# The TOML file of the load in progress. settings_customise_sources is a classmethod with no way to receive
# it; a ContextVar keeps concurrent loads (threads, tasks) apart.
_toml_file: ContextVar[Path | None] = ContextVar("quorum_toml_file", default=None)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_upper)]


class Settings(BaseSettings):
    """Every setting of Quorum, one attribute per TOML table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        # An empty QUORUM_X= (compose, EnvironmentFile) means "not set", not an empty string or secret.
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        allow_inf_nan=False,
    )

    log_level: LogLevel = "INFO"
    log_format: sections.LogFormat = "auto"
    llm: sections.LlmSettings = Field(default_factory=sections.LlmSettings)
    budget: limits.BudgetSettings = Field(default_factory=limits.BudgetSettings)
    timeouts: limits.TimeoutSettings = Field(default_factory=limits.TimeoutSettings)
    concurrency: limits.ConcurrencySettings = Field(default_factory=limits.ConcurrencySettings)
    consensus: limits.ConsensusSettings = Field(default_factory=limits.ConsensusSettings)
    review: sections.ReviewSettings = Field(default_factory=sections.ReviewSettings)
    workspace: sections.WorkspaceSettings = Field(default_factory=sections.WorkspaceSettings)
    redis: sections.RedisSettings = Field(default_factory=sections.RedisSettings)
    github: sections.GitHubSettings = Field(default_factory=sections.GitHubSettings)
    elasticsearch: sections.ElasticsearchSettings = Field(default_factory=sections.ElasticsearchSettings)
    discord: sections.DiscordSettings = Field(default_factory=sections.DiscordSettings)
    server: sections.ServerSettings = Field(default_factory=sections.ServerSettings)
    agent: sections.AgentSettings = Field(default_factory=sections.AgentSettings)
    merge: sections.MergeSettings = Field(default_factory=sections.MergeSettings)
    eval: sections.EvalSettings = Field(default_factory=sections.EvalSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Order the sources (first wins); no .env file is read."""
        # The plain secrets source would want files named quorum_<field> and no nesting; this one reads
        # llm__api_key, github__token, ... as the systemd credential and compose secret names.
        secrets = NestedSecretsSettingsSource(
            file_secret_settings,
            secrets_prefix="",
            secrets_nested_delimiter="__",
            secrets_dir_missing="error",
        )
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_toml_file.get())
        return init_settings, env_settings, secrets, toml


def load_settings(
    config_file: Path | None = None,
    *,
    secrets_dirs: Sequence[Path] | None = None,
    **overrides: Any,
) -> Settings:
    """Load the settings from overrides, env, secret files and a TOML file; raise ConfigError if invalid."""
    path = _config_path(config_file)
    if path is not None:
        _check_toml(path)
    dirs = _default_secrets_dirs() if secrets_dirs is None else [Path(d) for d in secrets_dirs]
    for directory in dirs:
        if not directory.is_dir():
            problem = f"{directory}: secrets directory missing or not a directory"
            raise errors.ConfigError(f"invalid configuration: {problem}", (problem,))
    token = _toml_file.set(path)
    try:
        # mypy sees only the field-derived __init__, not BaseSettings' own `_secrets_dir` parameter.
        return Settings(_secrets_dir=dirs or None, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = tuple(_problem(error) for error in exc.errors(include_url=False, include_input=False))
        raise _config_error(problems, path) from exc
    except SettingsError as exc:
        raise _config_error((_settings_problem(exc),), path) from exc
    except UnicodeDecodeError as exc:
        raise _config_error(("a secret file is not UTF-8 text",), path) from exc
    except OSError as exc:
        raise _config_error((f"cannot read {exc.filename}: {exc.strerror}",), path) from exc
    finally:
        _toml_file.reset(token)


def env_name(loc: tuple[str | int, ...]) -> str:
    """Name the environment variable that sets `loc` (list items cannot be addressed: the list's name)."""
    names: list[str] = []
    for part in loc:
        if not isinstance(part, str):
            break
        names.append(part)
    return ENV_PREFIX + "__".join(names).upper()


def toml_name(loc: tuple[str | int, ...]) -> str:
    """Name the TOML table and key that set `loc`, e.g. `[llm] provider`."""
    if not loc:
        return "(top level)"
    if len(loc) == 1:
        name = str(loc[0])
        field = Settings.model_fields.get(name)
        table = (
            field is not None
            and isinstance(field.annotation, type)
            and issubclass(field.annotation, BaseModel)
        )
        return f"[{name}]" if table else name
    return f"[{loc[0]}] {_dotted(loc[1:])}"


def _dotted(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _problem(error: Any) -> str:
    loc = tuple(error["loc"])
    message = "unknown setting" if error["type"] == "extra_forbidden" else error["msg"]
    message = message.removeprefix("Value error, ")
    if not loc:
        return f"settings: {message}"
    return f"{_dotted(loc)} (env {env_name(loc)}, toml {toml_name(loc)}): {message}"


def _settings_problem(exc: SettingsError) -> str:
    # 'error parsing value for field "llm" from source "EnvSettingsSource"': a JSON value that does not parse.
    match = re.search(r'field "(\w+)" from source "(\w+)"', str(exc))
    if match is None:
        return str(exc)
    field, source = match.groups()
    return f"{field} (env {env_name((field,))}, toml {toml_name((field,))}): invalid JSON value from {source}"


def _config_error(problems: tuple[str, ...], path: Path | None) -> errors.ConfigError:
    where = f" (config file {path})" if path is not None else ""
    count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
    header = f"invalid configuration{where}: {count}"
    return errors.ConfigError("\n  ".join((header, *problems)), problems)


def _config_path(config_file: Path | None) -> Path | None:
    origin = ""
    if config_file is None:
        from_env = os.environ.get(CONFIG_ENV, "")
        if not from_env:
            return None
        config_file, origin = Path(from_env), f" (from {CONFIG_ENV})"
    path = Path(config_file).expanduser()
    if not path.is_file():
        problem = f"{path}{origin}: no such file"
        raise errors.ConfigError(f"configuration file {path}{origin} does not exist", (problem,))
    return path


def _check_toml(path: Path) -> None:
    """Parse the file once up front so a syntax error names the file and position."""
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        # The position is what helps; the offending character itself could belong to a secret.
        detail = re.sub(r"Illegal character \S+", "Illegal character", str(exc))
        problem = f"{path}: invalid TOML: {detail}"
        raise errors.ConfigError(f"invalid configuration file {problem}", (problem,)) from exc
    except UnicodeDecodeError as exc:
        problem = f"{path}: invalid TOML: not UTF-8 text"
        raise errors.ConfigError(f"invalid configuration file {problem}", (problem,)) from exc
    except OSError as exc:
        problem = f"{path}: cannot read: {exc.strerror}"
        raise errors.ConfigError(f"invalid configuration file {problem}", (problem,)) from exc


def _default_secrets_dirs() -> list[Path]:
    """Shared /run/secrets first, then systemd credentials, then QUORUM_SECRETS_DIR: the later one wins."""
    dirs = [SHARED_SECRETS_DIR] if SHARED_SECRETS_DIR.is_dir() else []
    for variable in ("CREDENTIALS_DIRECTORY", SECRETS_DIR_ENV):
        value = os.environ.get(variable, "")
        if value:
            dirs.append(Path(value))
    return dirs
