"""A repository's own `.quorum.toml`: parsed from text, and combined with the server's merge settings.

The daemon reads the file from the default branch only (a pull request cannot loosen the rules it is
judged by) and hands the text here. A repository may make the policy stricter, never looser: the rule of
each field is on `effective`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, StringConstraints, ValidationError

from config import fields, sections

FILE_NAME = ".quorum.toml"
MAX_FILE_CHARS = 64 * 1024
MAX_INSTRUCTIONS_CHARS = 4000
MAX_PATH_INSTRUCTION_CHARS = 1000
MAX_LIST_ITEMS = 200
MAX_MIN_APPROVALS = 10

Glob = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=r"^[^\x00-\x1f]+$")
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
]


class PathInstruction(fields.Section):
    """Review instructions for the files matching `glob`."""

    glob: Glob
    text: str = Field(min_length=1, max_length=MAX_PATH_INSTRUCTION_CHARS)


class PathsPolicy(fields.Section):
    """`[paths]`: files left out of the review, and instructions scoped to paths."""

    exclude: list[Glob] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    instructions: list[PathInstruction] = Field(default_factory=list, max_length=50)


class RepoPolicy(fields.Section):
    """The schema of `.quorum.toml`; every field is optional and None/empty means "as the server says"."""

    instructions: str = Field(default="", max_length=MAX_INSTRUCTIONS_CHARS)
    paths: PathsPolicy = Field(default_factory=PathsPolicy)
    min_approvals: int | None = Field(default=None, ge=1, le=MAX_MIN_APPROVALS)
    auto_merge: bool | None = None
    merge_method: sections.MergeMethod | None = None
    required_checks: list[Name] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    protected_paths: list[Glob] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    max_changed_lines: int | None = Field(default=None, ge=1)
    ignore_authors: list[Name] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    ignore_labels: list[Name] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    review_drafts: bool | None = None


# What a file that cannot be used stands for: the server's policy, except that nothing is merged without a
# human. A broken file may have been meant to hold merges back; guessing otherwise would fail open.
FALLBACK = RepoPolicy(auto_merge=False)


@dataclass(frozen=True, slots=True)
class PolicyLoad:
    """The policy a repository's file gives, and what is wrong with it (then `policy` is `FALLBACK`)."""

    policy: RepoPolicy
    problems: tuple[str, ...] = ()
    present: bool = False  # a file was there (even an empty one)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """The server's merge settings as one repository's file adjusted them; `notes` say what was ignored."""

    min_approvals: int
    merge_enabled: bool
    merge_method: sections.MergeMethod
    required_checks: tuple[str, ...]
    protected_paths: tuple[str, ...]
    max_changed_lines: int
    human_approval_contributors: int
    review_drafts: bool
    review_bots: bool
    ignore_authors: tuple[str, ...]
    ignore_labels: tuple[str, ...]
    exclude: tuple[str, ...] = ()
    instructions: str = ""
    path_instructions: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    def ignores(self, author: str, labels: Iterable[str]) -> bool:
        """True when a PR by `author` with `labels` is left alone (logins and labels ignore case)."""
        authors = {a.casefold() for a in self.ignore_authors}
        wanted = {label.casefold() for label in self.ignore_labels}
        return author.casefold() in authors or any(label.casefold() in wanted for label in labels)


def parse(text: str | None) -> PolicyLoad:
    """Parse the file's text (None: no file). Never raises; problems never repeat a value from the file."""
    if text is None:
        return PolicyLoad(RepoPolicy())
    if len(text) > MAX_FILE_CHARS:
        return _broken(f"{FILE_NAME} is larger than {MAX_FILE_CHARS // 1024} KiB")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return _broken(_toml_problem(exc))
    try:
        return PolicyLoad(RepoPolicy.model_validate(data), present=True)
    except ValidationError as exc:
        return _broken(*(_field_problem(error) for error in exc.errors()))


def _broken(*problems: str) -> PolicyLoad:
    return PolicyLoad(FALLBACK, tuple(problems), present=True)


_AT = re.compile(r"\(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)$")


def _toml_problem(exc: tomllib.TOMLDecodeError) -> str:
    """Say where the TOML breaks; the parser's words name a character or key at most, never a value."""
    message = str(exc)
    where = _AT.search(message)
    what = message[: where.start()].strip() if where else message
    if where is None or where["line"] is None:
        place = "at the end of the file"
    else:
        place = f"at line {where['line']}, column {where['column']}"
    return f"{FILE_NAME} is not valid TOML {place}: {what[:120]}"


def _field_problem(error: Any) -> str:
    """One validation error as `key: message`, with TOML's names; the input itself is never quoted."""
    loc = _location(tuple(error["loc"]))
    message = "unknown key" if error["type"] == "extra_forbidden" else str(error["msg"])
    return f"{FILE_NAME}: {loc or 'the file'}: {message}"


def _location(loc: tuple[str | int, ...]) -> str:
    """`paths.instructions[2].glob` from pydantic's location tuple."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part[:60]}" if out else part[:60]
    return out


def effective(
    server: sections.MergeSettings,
    consensus_min_approvals: int,
    repo: RepoPolicy,
    *,
    max_rounds: int | None = None,
) -> EffectivePolicy:
    """Combine the server's settings with a repository's file; the file may tighten, never loosen.

    - `min_approvals`: the larger of the server's and the file's (raise only), but at most `max_rounds`
      when given, since more could never be reached;
    - `auto_merge`: the file may turn merging off; `true` while the server has it off is ignored;
    - `merge_method`: the file's choice (it changes how, not whether, a change lands);
    - `required_checks`, `protected_paths`, `ignore_authors`, `ignore_labels`: the union (add only);
    - `max_changed_lines`: the smaller of the two (lower only);
    - `review_drafts`: drafts are reviewed only when both allow it (the server's switch bounds spending);
    - `human_approval_contributors`, `review_bots`: the server's alone;
    - `instructions`, `paths.exclude`, `paths.instructions`: the file's (they steer the review only).
    """
    min_approvals = max(consensus_min_approvals, repo.min_approvals or 0)
    if max_rounds is not None:
        min_approvals = max(consensus_min_approvals, min(min_approvals, max_rounds))
    return EffectivePolicy(
        min_approvals=min_approvals,
        merge_enabled=server.enabled and repo.auto_merge is not False,
        merge_method=repo.merge_method or server.method,
        required_checks=_union(server.required_checks, repo.required_checks),
        protected_paths=_union(server.protected_paths, repo.protected_paths),
        max_changed_lines=min(server.max_changed_lines, repo.max_changed_lines or server.max_changed_lines),
        human_approval_contributors=server.human_approval_contributors,
        review_drafts=server.review_drafts and repo.review_drafts is not False,
        review_bots=server.review_bots,
        ignore_authors=_union(server.ignore_authors, repo.ignore_authors, fold=True),
        ignore_labels=_union(server.ignore_labels, repo.ignore_labels, fold=True),
        exclude=tuple(repo.paths.exclude),
        instructions=repo.instructions,
        path_instructions=tuple((p.glob, p.text) for p in repo.paths.instructions),
        notes=_ignored(server, consensus_min_approvals, repo, max_rounds),
    )


def _ignored(
    server: sections.MergeSettings, consensus_min_approvals: int, repo: RepoPolicy, max_rounds: int | None
) -> tuple[str, ...]:
    """What the file asked for and did not get, so the repository can be told."""
    notes: list[str] = []
    wanted = repo.min_approvals
    if wanted is not None and wanted < consensus_min_approvals:
        notes.append(f"min_approvals below the server's {consensus_min_approvals} ignored")
    if wanted is not None and max_rounds is not None and wanted > max_rounds:
        notes.append(f"min_approvals above max_rounds ({max_rounds}) lowered: it could never be reached")
    if repo.auto_merge and not server.enabled:
        notes.append("auto_merge = true ignored: merging is off on this server")
    if repo.max_changed_lines is not None and repo.max_changed_lines > server.max_changed_lines:
        notes.append(f"max_changed_lines above the server's {server.max_changed_lines} ignored")
    if repo.review_drafts and not server.review_drafts:
        notes.append("review_drafts = true ignored: draft reviews are off on this server")
    return tuple(notes)


def _union(first: Sequence[str], second: Sequence[str], *, fold: bool = False) -> tuple[str, ...]:
    """Both lists in order without repeats (compared ignoring case when `fold`)."""
    seen: set[str] = set()
    out: list[str] = []
    for item in (*first, *second):
        key = item.casefold() if fold else item
        if key not in seen:
            seen.add(key)
            out.append(item)
    return tuple(out)
