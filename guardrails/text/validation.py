"""Validation of LLM output in three levels: schema, semantics, runtime. LLM output is untrusted.

1. schema: the reply's one JSON object (`json_reply`: candidates that disagree are no answer) parses into
   `ReviewOutput` (pydantic); anything else is no verdict, never approval;
2. semantics: every inline finding sits on a line inside the diff, on the right side, `start_line` in the
   same hunk and before `line`; the rest move to the summary; duplicates merge; the count is capped;
3. runtime: bodies are trimmed and cannot smuggle a hidden marker; verdicts contradicting their own
   findings (an approval with a blocking finding) do not count as approval.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.domain import FileDiff, Finding, Severity, Side, Verdict
from guardrails.text import json_reply

MAX_BODY_CHARS = 2000
MAX_SUMMARY_CHARS = 4000

# The JSON schema sent to providers that constrain decoding. Written flat (no $ref) on purpose:
# grammar converters of local servers handle inline schemas best. The length bounds make a constrained
# decoder close its strings and arrays instead of rambling into `max_tokens` and a truncated object; the
# lower bounds are those of `ReviewOutput`, so a decoder that honours the schema writes a valid review.
REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["approve", "request_changes", "comment"]},
        "summary": {"type": "string", "maxLength": 800},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "findings": {
            "type": "array",
            "maxItems": 10,
            "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "minLength": 1, "maxLength": 300},
                    "line": {"type": "integer", "minimum": 1},
                    "side": {"type": "string", "enum": ["RIGHT", "LEFT"]},
                    "severity": {"type": "string", "enum": ["nit", "minor", "major", "critical"]},
                    "body": {"type": "string", "minLength": 1, "maxLength": 600},
                },
                "required": ["path", "line", "side", "severity", "body"],
            },
        },
    },
    "required": ["verdict", "summary", "confidence", "findings"],
}


class FindingOutput(BaseModel):
    """One finding as the model must write it."""

    model_config = ConfigDict(extra="ignore")

    path: str = Field(min_length=1, max_length=1000)
    line: int = Field(ge=1)
    side: Literal["LEFT", "RIGHT"] = "RIGHT"
    start_line: int | None = Field(default=None, ge=1)
    severity: Literal["nit", "minor", "major", "critical"]
    body: str = Field(min_length=1)

    @field_validator("side", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("severity", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


class ReviewOutput(BaseModel):
    """The review JSON a model must produce."""

    model_config = ConfigDict(extra="ignore")

    verdict: Literal["approve", "request_changes", "comment"]
    summary: str
    confidence: float = Field(ge=0.0, le=1.0)
    findings: list[FindingOutput] = Field(default_factory=list, max_length=100)

    @field_validator("verdict", mode="before")
    @classmethod
    def _verdict(cls, value: object) -> object:
        return value.strip().lower().replace(" ", "_") if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class Parsed:
    """Level 1 result: the review, or why there is none."""

    review: ReviewOutput | None
    error: str | None = None


def extract_json(text: str) -> str | None:
    """The one JSON object of a reply (`json_reply`), as JSON text; None when there is not exactly one."""
    found = json_reply.review_object(text)
    return None if found.body is None else json.dumps(found.body)


def parse(text: str) -> Parsed:
    """Level 1: schema, over the one JSON object of the reply. Never raises on bad model output."""
    found = json_reply.review_object(text)
    if found.body is None:
        return Parsed(None, found.error or "the reply holds no JSON object")
    try:
        return Parsed(ReviewOutput.model_validate(found.body))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)[:8]
        )
        return Parsed(None, f"the JSON does not match the schema: {problems}")


@dataclass(frozen=True, slots=True)
class Anchored:
    """Level 2 result: findings that may become inline comments, and notes for the rest."""

    findings: tuple[Finding, ...]
    notes: tuple[str, ...]
    unplaced: tuple[Finding, ...] = ()  # the findings behind the notes, kept so a blocker is not lost


def clean_text(text: str, limit: int) -> str:
    """Level 3: trim, drop control characters, and defuse HTML comments (no forged hidden markers)."""
    text = "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())
    text = text.replace("<!--", "<!- -").replace("-->", "- ->").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _note(item: FindingOutput, why: str) -> str:
    return f"{item.path}:{item.line} ({item.severity}, {why}): {clean_text(item.body, 300)}"


def _anchor_one(item: FindingOutput, files: Mapping[str, FileDiff]) -> Finding | str:
    """A finding on a commentable line, or a note saying why it cannot be inline."""
    diff = files.get(item.path.removeprefix("a/").removeprefix("b/").lstrip("/"))
    if diff is None:
        return _note(item, "file not in the reviewed diff")
    side = Side(item.side)
    if item.line not in diff.commentable(side):
        return _note(item, f"line not inside the diff on side {side.value}")
    start = item.start_line
    if start is not None and (
        start >= item.line or diff.hunk_of(start, side) != diff.hunk_of(item.line, side)
    ):
        start = None  # GitHub refuses a range that is not ascending inside one hunk
    return Finding(
        diff.path, item.line, side, Severity(item.severity), clean_text(item.body, MAX_BODY_CHARS), start
    )


def merge_duplicates(findings: Sequence[Finding]) -> list[Finding]:
    """One finding per (path, line, side): the highest severity, distinct bodies joined."""
    order = list(Severity)
    merged: dict[tuple[str, int, Side], Finding] = {}
    for finding in findings:
        seen = merged.get(finding.key)
        if seen is None:
            merged[finding.key] = finding
            continue
        severity = max(seen.severity, finding.severity, key=order.index)
        body = seen.body if finding.body in seen.body else f"{seen.body}\n\n{finding.body}"
        merged[finding.key] = Finding(
            seen.path,
            seen.line,
            seen.side,
            severity,
            clean_text(body, MAX_BODY_CHARS),
            seen.start_line or finding.start_line,
        )
    return list(merged.values())


def cap(findings: Sequence[Finding], max_comments: int) -> tuple[list[Finding], list[str]]:
    """Keep the most severe `max_comments`; the rest become notes."""
    kept, rest = _ranked_split(findings, max_comments)
    notes = [f"{f.path}:{f.line} ({f.severity}, over the comment cap): {f.body[:300]}" for f in rest]
    return kept, notes


def _ranked_split(findings: Sequence[Finding], keep: int) -> tuple[list[Finding], list[Finding]]:
    order = list(Severity)
    ranked = sorted(findings, key=lambda f: (-order.index(f.severity), f.path, f.line))
    return ranked[:keep], ranked[keep:]


def _unplaced(item: FindingOutput) -> Finding:
    path = clean_text(item.path, 300).removeprefix("a/").removeprefix("b/").lstrip("/")
    body = clean_text(item.body, MAX_BODY_CHARS)
    return Finding(path, item.line, Side(item.side), Severity(item.severity), body)


def anchor(items: Sequence[FindingOutput], files: Mapping[str, FileDiff], max_comments: int) -> Anchored:
    """Level 2: place each finding on the diff or move it to the notes (and to `unplaced`)."""
    placed: list[Finding] = []
    notes: list[str] = []
    unplaced: list[Finding] = []
    for item in items:
        result = _anchor_one(item, files)
        if isinstance(result, Finding):
            placed.append(result)
        else:
            notes.append(result)
            unplaced.append(_unplaced(item))
    kept, rest = _ranked_split(merge_duplicates(placed), max_comments)
    over = [f"{f.path}:{f.line} ({f.severity}, over the comment cap): {f.body[:300]}" for f in rest]
    return Anchored(tuple(kept), (*notes, *over), (*unplaced, *rest))


def effective_verdict(review: ReviewOutput, carried: Sequence[Finding] = ()) -> Verdict:
    """Level 3: the verdict as the policy counts it. An approval that carries a blocking finding of its
    own contradicts itself, and one that leaves a blocking finding of an earlier round on the same commit
    standing forgets it: both count as a comment, never as approval."""
    verdict = Verdict(review.verdict)
    blocking = any(Severity(f.severity).blocking for f in review.findings) or any(
        f.severity.blocking for f in carried
    )
    if verdict is Verdict.APPROVE and blocking:
        return Verdict.COMMENT
    return verdict
