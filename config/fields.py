"""The building blocks of settings sections: the strict base model, validated field types, size units."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, SecretStr

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_NAMESPACE = re.compile(r"[a-z0-9_]{1,100}")


def _blank_is_none(value: Any) -> Any:
    """Treat an empty or blank value (an empty secret file, `key = ""`) as not set."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _http_url(value: str) -> str:
    """Accept only absolute http(s) URLs; the message never repeats the value (it may hold a token)."""
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise ValueError("must be an http:// or https:// URL") from exc
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return value


def _http_url_or_none(value: str | None) -> str | None:
    """Like `_http_url`, for an optional URL."""
    return None if value is None else _http_url(value)


def _redis_url(value: str) -> str:
    """Accept the URL schemes the Redis client understands."""
    if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


def _repository(value: str) -> str:
    """Accept `owner/name` only."""
    if not _REPOSITORY.fullmatch(value):
        raise ValueError("must be a repository as owner/name")
    return value


def _namespace(value: str) -> str:
    """Accept a data stream namespace: Elasticsearch wants it lowercase, without '-', at most 100 bytes."""
    if not _NAMESPACE.fullmatch(value):
        raise ValueError(
            "must be 1 to 100 lowercase letters, digits or underscores (a data stream namespace)"
        )
    return value


OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_is_none)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_is_none)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
OptionalHttpUrl = Annotated[str | None, BeforeValidator(_blank_is_none), AfterValidator(_http_url_or_none)]
UserPath = Annotated[Path, AfterValidator(Path.expanduser)]
RedisUrl = Annotated[str, AfterValidator(_redis_url)]
Repository = Annotated[str, AfterValidator(_repository)]
Namespace = Annotated[str, AfterValidator(_namespace)]


def default_state_dir() -> Path:
    """Where Quorum keeps mirrors and worktrees: systemd's StateDirectory, else the XDG state home."""
    systemd = os.environ.get("STATE_DIRECTORY", "")
    if systemd:
        # systemd joins several StateDirectory= entries with ':'; the first is ours.
        return Path(systemd.split(":", 1)[0])
    xdg = os.environ.get("XDG_STATE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "quorum"
    return Path.home() / ".local" / "state" / "quorum"


class Section(BaseModel):
    """Base of every section: immutable, unknown keys are errors, inputs never echoed in errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True, allow_inf_nan=False)
