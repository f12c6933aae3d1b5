"""Render effective settings as TOML for `quorum config`: loadable again, secrets masked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

if TYPE_CHECKING:
    from config.settings import Settings

MASK = "********"


def render(settings: Settings) -> str:
    """Return the settings as TOML; a set secret shows as "********", an unset value as a comment."""
    lines = ["# Effective Quorum settings (secrets masked)."]
    tables: list[tuple[str, BaseModel]] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, BaseModel):
            tables.append((name, value))
        else:
            lines.append(_key_line(name, value))
    for name, section in tables:
        lines.extend(["", f"[{name}]"])
        lines.extend(_table_lines(name, section))
    return "\n".join(lines) + "\n"


def _table_lines(name: str, model: BaseModel) -> list[str]:
    """Keys first, then arrays of tables: TOML puts every key after a header into that table."""
    lines: list[str] = []
    arrays: list[tuple[str, list[BaseModel]]] = []
    for key in type(model).model_fields:
        value = getattr(model, key)
        if isinstance(value, list) and value and all(isinstance(item, BaseModel) for item in value):
            arrays.append((key, value))
        else:
            lines.append(_key_line(key, value))
    for key, items in arrays:
        for item in items:
            lines.extend(["", f"[[{name}.{key}]]"])
            lines.extend(_table_lines(f"{name}.{key}", item))
    return lines


def _key_line(key: str, value: Any) -> str:
    if value is None:
        return f"# {key}: not set"
    return f"{key} = {_value(value)}"


def _value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return json.dumps(MASK)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, str | Path):
        # JSON string escapes (\" \\ \n \uXXXX ...) are all valid in TOML basic strings.
        return json.dumps(_mask_url_password(str(value)))
    raise TypeError(f"cannot render a {type(value).__name__} as TOML")


def _mask_url_password(text: str) -> str:
    """Hide the password of a URL such as redis://:pw@host/0; other strings pass unchanged."""
    if "://" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    if not password:
        return text
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
