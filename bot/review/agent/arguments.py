"""The agent's tools as offered to a model: JSON schemas, and the checks on the arguments a model sends.

One table describes every tool's parameters; the schemas and the validation are both derived from it, so
what the model is told and what is enforced cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot import errors
from bot.ports import ToolSpec

ANALYSERS = "run_analysers"


@dataclass(frozen=True, slots=True)
class _Param:
    kind: type
    description: str
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    max_len: int = 1024


_PATH = _Param(str, "path relative to the repository root", required=True)
_DIR = _Param(str, "directory relative to the repository root ('.' for the root)")
_START = _Param(int, "first line, 1-based", minimum=1)
_END = _Param(int, "last line, inclusive", minimum=1)
_TOOLS: Mapping[str, tuple[str, Mapping[str, _Param]]] = {
    "read_file": (
        "Read lines of a text file in the head checkout.",
        {"path": _PATH, "start": _START, "end": _END},
    ),
    "search": (
        "Search text files for a fixed string (or a Python regex with regex=true); capped number of matches.",
        {
            "pattern": _Param(str, "text or regex to find", required=True, max_len=200),
            "path_glob": _Param(str, "only paths matching this glob, e.g. 'src/*.py'", max_len=200),
            "regex": _Param(bool, "treat pattern as a regular expression"),
        },
    ),
    "list_dir": ("List a directory: names, kinds and sizes.", {"path": _DIR}),
    "git_log": (
        "Recent commits touching a path (the whole repository when path is empty).",
        {"path": _DIR, "n": _Param(int, "how many commits", minimum=1, maximum=50)},
    ),
    "git_blame": (
        "Who last changed a range of lines, at HEAD.",
        {"path": _PATH, "start": _START, "end": _END},
    ),
    ANALYSERS: ("Run the configured static analysers on the changed files (once per round).", {}),
}


def _schema(params: Mapping[str, _Param]) -> dict[str, Any]:
    names = {str: "string", int: "integer", bool: "boolean"}
    properties: dict[str, Any] = {}
    for name, param in params.items():
        prop: dict[str, Any] = {"type": names[param.kind], "description": param.description}
        if param.minimum is not None:
            prop["minimum"] = param.minimum
        if param.maximum is not None:
            prop["maximum"] = param.maximum
        properties[name] = prop
    required = [name for name, param in params.items() if param.required]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def specs(*, analysers: bool) -> tuple[ToolSpec, ...]:
    """The specs to offer the model; `run_analysers` only when analysers are configured."""
    return tuple(
        ToolSpec(name, description, _schema(params))
        for name, (description, params) in _TOOLS.items()
        if analysers or name != ANALYSERS
    )


def _coerce(name: str, value: object, param: _Param) -> object:
    if param.kind is int:
        # Text protocols and some models send numbers as strings; a bool is not a number here.
        if isinstance(value, str) and re.fullmatch(r"\s*\d{1,9}\s*", value):
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise errors.InputError(f"argument {name!r} must be an integer")
        if param.minimum is not None and value < param.minimum:
            raise errors.InputError(f"argument {name!r} must be at least {param.minimum}")
        if param.maximum is not None and value > param.maximum:
            raise errors.InputError(f"argument {name!r} must be at most {param.maximum}")
    elif param.kind is bool and not isinstance(value, bool):
        raise errors.InputError(f"argument {name!r} must be true or false")
    elif param.kind is str:
        if not isinstance(value, str):
            raise errors.InputError(f"argument {name!r} must be a string")
        if len(value) > param.max_len or "\0" in value:
            raise errors.InputError(f"argument {name!r} is longer than {param.max_len} characters or has NUL")
    return value


def validate(name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Checked arguments of a call (nulls dropped); raises InputError naming what is wrong."""
    if name not in _TOOLS:
        raise errors.InputError(f"unknown tool {name[:60]!r}; tools: {', '.join(_TOOLS)}")
    params = _TOOLS[name][1]
    unknown = sorted(set(arguments) - set(params))
    if unknown:
        raise errors.InputError(f"unknown argument(s) {', '.join(map(repr, unknown))[:200]} for {name}")
    checked = {key: _coerce(key, value, params[key]) for key, value in arguments.items() if value is not None}
    missing = [key for key, param in params.items() if param.required and key not in checked]
    if missing:
        raise errors.InputError(f"missing argument(s) {', '.join(missing)} for {name}")
    return checked
