"""Memory across rounds and pushes: the earlier findings a round must address, and which stay open.

Earlier findings are listed to the model with ids F1, F2 ... (in the order given), each with the head it
was raised on. With a prompt version that asks for it (`review-v2`), the model answers in `"addressed"`
whether each one is `fixed` or still `open`, and may say where the fix is (`fix`, `path`, `line`). The rule,
conservative on purpose so no round can silently forget a blocker:
- a finding raised on the head under review is never resolved there: nothing has changed under it;
- one addressed as `open`, or not addressed, stays open;
- one marked `fixed` on a later head is resolved only with a reason the diff confirms: the lines it
  pointed at on its own head are no longer in the file (changed or deleted), or the model states the fix
  and cites a line this head's diff adds;
- a version that asks for no claims (`review-v1`) cannot mark anything: there the first reason alone
  resolves a finding on a later head, unless the model keeps it open.
Open findings keep counting against approval (`validation.effective_verdict`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.domain import FileDiff, Finding, LineKind, OpenFinding, Side, Step
from bot.errors import WorkspaceError
from guardrails import workspace
from guardrails.text import json_reply, validation

_MAX_FILE_BYTES = 2_000_000
_WINDOW = 1  # lines kept on each side of a finding's line: a change next to it counts as touching it

# The review schema plus "addressed", for providers that constrain decoding (prompt versions that ask).
_CLAIM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "maxLength": 10},
        "status": {"type": "string", "enum": ["fixed", "open"]},
        "fix": {"type": "string", "maxLength": 300},
        "path": {"type": "string", "maxLength": 300},
        "line": {"type": "integer", "minimum": 1},
    },
    "required": ["id", "status"],
}


def schema(review: dict[str, Any]) -> dict[str, Any]:
    """`review` (the validation schema) with the "addressed" claims added."""
    addressed = {"type": "array", "maxItems": 50, "items": _CLAIM}
    return {**review, "properties": {**review["properties"], "addressed": addressed}}


SCHEMA = schema(validation.REVIEW_SCHEMA)


class Claim(BaseModel):
    """What the model says about one earlier finding."""

    model_config = ConfigDict(extra="ignore")

    id: str
    status: Literal["fixed", "open"]
    fix: str = Field(default="", max_length=2000)
    path: str = ""
    line: int | None = Field(default=None, ge=1)

    @field_validator("id", "status", mode="before")
    @classmethod
    def _normal(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    addressed: list[Claim] = []


def finding_id(position: int) -> str:
    """The id the prompt gives the finding at `position` (0-based) of the carried list."""
    return f"F{position + 1}"


def claims(reply: str) -> dict[str, Claim]:
    """Id (lower case) → claim, from the reply's one JSON object; anything unreadable claims nothing."""
    found = json_reply.review_object(reply)
    if found.body is None:
        return {}
    try:
        answer = _Answer.model_validate(found.body)
    except ValidationError:
        return {}
    return {claim.id: claim for claim in answer.addressed}


@dataclass(frozen=True, slots=True)
class HeadView:
    """The head under review as the rule reads it: its SHA, its diff and its checkout (None: unknown)."""

    sha: str
    files: Mapping[str, FileDiff]
    worktree: Path | None = None


def _file_lines(view: HeadView, path: str) -> list[str] | None:
    """The lines of `path` at the head; [] when the file is absent; None when it cannot be read."""
    if view.worktree is None:
        return None
    try:
        target = workspace.safe_path(view.worktree, path)
        if not os.path.lexists(target):
            return []
        return workspace.read_text(view.worktree, path, max_bytes=_MAX_FILE_BYTES).splitlines()
    except (WorkspaceError, OSError):
        return None


def _digest(lines: Sequence[str]) -> str:
    # Whitespace alone does not count as a change: re-indenting a line is no fix.
    squeezed = "\n".join(" ".join(line.split()) for line in lines)
    return hashlib.sha256(squeezed.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _removed(view: HeadView, path: str) -> list[tuple[int | None, str]]:
    diff = view.files.get(path)
    return [
        (ln.old_no, ln.text)
        for h in (diff.hunks if diff else ())
        for ln in h.lines
        if ln.kind is LineKind.REMOVED
    ]


def excerpt(finding: Finding, view: HeadView) -> str:
    """A fingerprint of the lines a finding points at on the head it is raised on, "<lines>:<digest>"
    (the record keeps no code); "" when it points at no line there."""
    if finding.side is Side.LEFT:
        texts = [text for number, text in _removed(view, finding.path) if number == finding.line]
        return f"1:{_digest(texts[:1])}" if texts else ""
    lines = _file_lines(view, finding.path) or []
    if not 1 <= finding.line <= len(lines):
        return ""
    window = lines[max(0, finding.line - 1 - _WINDOW) : finding.line + _WINDOW]
    return f"{len(window)}:{_digest(window)}"


def lines_changed(item: OpenFinding, view: HeadView) -> bool:
    """True when the lines `item` pointed at on its head are gone from this head (False: unknown)."""
    count, _, digest = item.excerpt.partition(":")
    if not digest or not count.isdigit():
        return False
    if item.finding.side is Side.LEFT:  # a deleted line: changed once this head no longer deletes it
        return digest not in {_digest([text]) for _, text in _removed(view, item.finding.path)}
    lines = _file_lines(view, item.finding.path)
    if lines is None:
        return False
    size = int(count)
    return all(_digest(lines[i : i + size]) != digest for i in range(len(lines) - size + 1))


def fix_shown(claim: Claim, view: HeadView) -> bool:
    """True when the claim states a fix and cites a line this head's diff adds."""
    diff = view.files.get(claim.path.removeprefix("a/").removeprefix("b/").lstrip("/"))
    if not claim.fix.strip() or diff is None or claim.line is None:
        return False
    return any(ln.kind is LineKind.ADDED and ln.new_no == claim.line for h in diff.hunks for ln in h.lines)


@dataclass(frozen=True, slots=True)
class Settled:
    """After one answer: the earlier findings still open, the positions resolved and those the model kept
    open, and a transcript step per finding addressed or resolved."""

    open: tuple[OpenFinding, ...]
    steps: tuple[Step, ...]
    resolved: frozenset[int] = frozenset()
    kept_open: frozenset[int] = frozenset()


def _judge(item: OpenFinding, claim: Claim | None, view: HeadView, claims_expected: bool) -> str | None:
    """Why `item` is resolved by this answer, or None when it stays open."""
    if item.sha in ("", view.sha) or (claim is not None and claim.status == "open"):
        return None
    if claim is None and claims_expected:
        return None
    if lines_changed(item, view):
        return f"its lines changed since {item.sha[:12]}"
    if claim is not None and fix_shown(claim, view):
        return f"the fix is shown at {claim.path}:{claim.line}"
    return None


def settle(
    carried: Sequence[OpenFinding],
    reply: str,
    view: HeadView,
    chunk: int,
    *,
    claims_expected: bool = True,
) -> Settled:
    """Apply the rule of this module to one answer."""
    said = claims(reply) if carried else {}
    still_open: list[OpenFinding] = []
    steps: list[Step] = []
    resolved: set[int] = set()
    kept: set[int] = set()
    for position, item in enumerate(carried):
        ident = finding_id(position)
        claim = said.get(ident.lower())
        why = _judge(item, claim, view, claims_expected)
        if why is None:
            still_open.append(item)
            kept |= {position} if claim is not None and claim.status == "open" else set()
        else:
            resolved.add(position)
        if claim is None and why is None:
            continue
        if why is not None:
            detail = f"resolved: {why}"
        elif claim is not None and claim.status == "fixed":
            detail = "marked fixed, but the diff does not show it: kept open"
        else:
            detail = "kept open"
        accepted = why is not None or (claim is not None and claim.status == "open")
        steps.append(Step("carried", chunk, 0, ident, accepted, detail=detail))
    return Settled(tuple(still_open), tuple(steps), frozenset(resolved), frozenset(kept))
