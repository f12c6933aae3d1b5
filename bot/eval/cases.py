"""Evaluation cases: a directory per case, plain files a person can write, checked before anything runs.

A case holds `case.toml` (title, expected verdict, injection flag, expected findings), a `base/` tree and
either a `head/` tree or a `change.patch`, and optionally `pr.md` (a title line, then a description).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from bot.errors import InputError
from bot.eval import case_toml


@dataclass(frozen=True, slots=True)
class Case:
    """One labelled change."""

    name: str  # the directory's name, unique in a case set
    root: Path
    title: str
    expected: str  # one of case_toml.VERDICTS
    injection: bool
    findings: tuple[case_toml.ExpectedFinding, ...]
    head_tree: Path | None  # exactly one of head_tree and patch is set
    patch: Path | None
    pr_text: str

    @property
    def base_tree(self) -> Path:
        return self.root / "base"


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
    except case_toml.Problem as exc:
        raise InputError(f"eval case {root.name}: {exc}") from exc


def _load(root: Path) -> Case:
    title, expected, injection, findings = case_toml.parse(root / "case.toml")
    head, patch = _trees(root)
    for finding in findings:
        _check_anchor(finding, head, patch)
    return Case(root.name, root, title, expected, injection, findings, head, patch, _pr_text(root / "pr.md"))


def _trees(root: Path) -> tuple[Path | None, Path | None]:
    if not (root / "base").is_dir():
        raise case_toml.Problem("base/ is missing (the tree before the change)")
    head, patch = root / "head", root / "change.patch"
    if head.is_dir() == patch.is_file():
        raise case_toml.Problem("needs exactly one of head/ (the tree after the change) and change.patch")
    return (head, None) if head.is_dir() else (None, patch)


def _check_anchor(finding: case_toml.ExpectedFinding, head: Path | None, patch: Path | None) -> None:
    """The expected file must exist after the change, and the range must lie inside it."""
    where = f"finding on {finding.path}"
    if head is not None:
        target = head / finding.path
        if not target.is_file():
            raise case_toml.Problem(f"{where}: no such file in head/")
        count = len(target.read_text("utf-8", "replace").splitlines())
        if finding.end > count:
            raise case_toml.Problem(
                f"{where}: lines {finding.start}-{finding.end} lie past its end ({count} lines)"
            )
    elif patch is not None and f"+++ b/{finding.path}" not in patch.read_text("utf-8", "replace"):
        raise case_toml.Problem(f"{where}: change.patch does not change that file")


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
