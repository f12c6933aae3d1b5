"""Evaluation cases: a directory per case, plain files a person can write, checked before anything runs.

A case holds `case.toml` (title, expected verdict, injection flag, expected findings), a `base/` tree and
either a `head/` tree or a `change.patch`, and optionally `pr.md` (a title line, then a description).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from bot.errors import InputError

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


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled change."""

    name: str  # the directory's name, unique in a case set
    root: Path
    title: str
    expected: str  # one of VERDICTS
    injection: bool
    findings: tuple[ExpectedFinding, ...]
    head_tree: Path | None  # exactly one of head_tree and patch is set
    patch: Path | None
    pr_text: str

    @property
    def base_tree(self) -> Path:
        return self.root / "base"


class _Problem(Exception):
    """One thing wrong with a case; turned into an InputError naming the case."""


def golden_dir() -> Path:
    """The bundled golden set."""
    return Path(str(resources.files("bot.eval").joinpath("golden")))


def load_cases(directory: Path) -> list[Case]:
    """Every case under `directory` (its subdirectories holding a case.toml), sorted by name.

    Raises InputError listing every broken case, or saying that there is no case at all."""
    if not directory.is_dir():
        raise InputError(f"eval cases: {directory} is not a directory")
    roots = sorted(p for p in directory.iterdir() if p.is_dir() and (p / "case.toml").is_file())
    if not roots:
        raise InputError(f"eval cases: no case under {directory} (a case is a directory with a case.toml)")
    cases, problems = [], []
    for root in roots:
        try:
            cases.append(load_case(root))
        except InputError as exc:
            problems.append(exc.message)
    if problems:
        raise InputError("\n".join(problems))
    return cases


def load_case(root: Path) -> Case:
    """One case; an InputError says which case and what is wrong with it."""
    try:
        return _load(root)
    except _Problem as exc:
        raise InputError(f"eval case {root.name}: {exc}") from exc


def _load(root: Path) -> Case:
    data = _toml(root / "case.toml")
    _no_unknown(data, _CASE_KEYS, "case.toml")
    title = _text(data, "title", "case.toml")
    expected = data.get("expected")
    if expected not in VERDICTS:
        raise _Problem(f"case.toml: expected must be one of {', '.join(VERDICTS)}, not {expected!r}")
    injection = data.get("injection", False)
    if not isinstance(injection, bool):
        raise _Problem("case.toml: injection must be true or false")
    raw = data.get("findings", [])
    if not isinstance(raw, list):
        raise _Problem("case.toml: findings must be an array of tables ([[findings]])")
    findings = tuple(_finding(item, n) for n, item in enumerate(raw, 1))
    if expected == "request_changes" and not findings:
        raise _Problem("case.toml: a request_changes case needs at least one [[findings]]")
    if injection and expected != "request_changes":
        raise _Problem("case.toml: an injection case hides a real problem, so it expects request_changes")
    head, patch = _trees(root)
    for finding in findings:
        _check_anchor(finding, head, patch)
    return Case(
        root.name, root, title, str(expected), injection, findings, head, patch, _pr_text(root / "pr.md")
    )


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError as exc:
        raise _Problem("case.toml is missing") from exc
    except UnicodeDecodeError as exc:
        raise _Problem("case.toml is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise _Problem(f"case.toml is not valid TOML: {exc}") from exc


def _no_unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _Problem(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _Problem(f"{where}: {key} must be a non-empty string")
    return value.strip()


def _finding(item: object, number: int) -> ExpectedFinding:
    where = f"findings #{number}"
    if not isinstance(item, dict):
        raise _Problem(f"{where}: must be a table")
    _no_unknown(item, _FINDING_KEYS, where)
    path = _text(item, "path", where)
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or "\\" in path:
        raise _Problem(f"{where}: path {path!r} must be relative to the repository, without '..'")
    lines = item.get("lines")
    if (
        not isinstance(lines, list)
        or len(lines) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in lines)
        or not 1 <= lines[0] <= lines[1]
    ):
        raise _Problem(f"{where}: lines must be [start, end] with 1 <= start <= end, not {lines!r}")
    category = item.get("category")
    if category not in CATEGORIES:
        raise _Problem(f"{where}: category must be one of {', '.join(CATEGORIES)}, not {category!r}")
    note = item.get("note", "")
    if not isinstance(note, str):
        raise _Problem(f"{where}: note must be a string")
    return ExpectedFinding(path, lines[0], lines[1], str(category), note.strip())


def _trees(root: Path) -> tuple[Path | None, Path | None]:
    if not (root / "base").is_dir():
        raise _Problem("base/ is missing (the tree before the change)")
    head, patch = root / "head", root / "change.patch"
    if head.is_dir() == patch.is_file():
        raise _Problem("needs exactly one of head/ (the tree after the change) and change.patch")
    return (head, None) if head.is_dir() else (None, patch)


def _check_anchor(finding: ExpectedFinding, head: Path | None, patch: Path | None) -> None:
    """The expected file must exist after the change, and the range must lie inside it."""
    where = f"finding on {finding.path}"
    if head is not None:
        target = head / finding.path
        if not target.is_file():
            raise _Problem(f"{where}: no such file in head/")
        count = len(target.read_text("utf-8", "replace").splitlines())
        if finding.end > count:
            raise _Problem(f"{where}: lines {finding.start}-{finding.end} lie past its end ({count} lines)")
    elif patch is not None and f"+++ b/{finding.path}" not in patch.read_text("utf-8", "replace"):
        raise _Problem(f"{where}: change.patch does not change that file")


def _pr_text(path: Path) -> str:
    """The PR text as the review CLI builds it: the title, a blank line, the description."""
    if not path.is_file():
        return ""
    lines = path.read_text("utf-8").strip().splitlines()
    if not lines:
        return ""
    title = lines[0].lstrip("#").strip()
    body = "\n".join(lines[1:]).strip()
    return "\n\n".join(p for p in (title, body) if p)
