"""A case's `case.toml`: its keys, the expected findings it lists, and every check they must pass."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

VERDICTS = ("approve", "request_changes")
CATEGORIES = ("bug", "security", "performance", "style")
_CASE_KEYS = {"title", "expected", "injection", "findings"}
_FINDING_KEYS = {"path", "lines", "category", "note"}


@dataclass(frozen=True, slots=True)
class ExpectedFinding:
    """A finding the reviewer should raise: a path, an inclusive line range of the head file, a category."""

    path: str
    start: int
    end: int
    category: str
    note: str


class Problem(Exception):
    """One thing wrong with a case; turned into an InputError naming the case."""


def parse(path: Path) -> tuple[str, str, bool, tuple[ExpectedFinding, ...]]:
    """A case's title, expected verdict, injection flag and expected findings, each checked."""
    data = _toml(path)
    _no_unknown(data, _CASE_KEYS, "case.toml")
    title = _text(data, "title", "case.toml")
    expected = data.get("expected")
    if expected not in VERDICTS:
        raise Problem(f"case.toml: expected must be one of {', '.join(VERDICTS)}, not {expected!r}")
    injection = data.get("injection", False)
    if not isinstance(injection, bool):
        raise Problem("case.toml: injection must be true or false")
    raw = data.get("findings", [])
    if not isinstance(raw, list):
        raise Problem("case.toml: findings must be an array of tables ([[findings]])")
    findings = tuple(_finding(item, n) for n, item in enumerate(raw, 1))
    if expected == "request_changes" and not findings:
        raise Problem("case.toml: a request_changes case needs at least one [[findings]]")
    if injection and expected != "request_changes":
        raise Problem("case.toml: an injection case hides a real problem, so it expects request_changes")
    return title, str(expected), injection, findings


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise Problem("case.toml is missing") from exc
    except UnicodeDecodeError as exc:
        raise Problem("case.toml is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise Problem(f"case.toml is not valid TOML: {exc}") from exc


def _no_unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise Problem(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Problem(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _finding(item: object, number: int) -> ExpectedFinding:
    where = f"findings #{number}"
    if not isinstance(item, dict):
        raise Problem(f"{where}: must be a table")
    _no_unknown(item, _FINDING_KEYS, where)
    path = _text(item, "path", where)
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise Problem(f"{where}: path {path!r} must be relative to the repository, without '..'")
    lines = item.get("lines")
    if (
        not isinstance(lines, list)
        or len(lines) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in lines)
        or not 1 <= lines[0] <= lines[1]
    ):
        raise Problem(f"{where}: lines must be [start, end] with 1 <= start <= end, not {lines!r}")
    category = item.get("category")
    if category not in CATEGORIES:
        raise Problem(f"{where}: category must be one of {', '.join(CATEGORIES)}, not {category!r}")
    note = item.get("note", "")
    if not isinstance(note, str):
        raise Problem(f"{where}: note must be a string")
    return ExpectedFinding(path, lines[0], lines[1], str(category), note.strip())
