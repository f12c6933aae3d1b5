"""Memory across rounds: the earlier findings a round must address, and which of them stay open.

Earlier findings are listed to the model with ids F1, F2 ... (in the order given). With a prompt version
that asks for it (`review-v2`), the model answers in `"addressed"` whether each one is `fixed` or still
`open`. The rule, conservative on purpose so no round can silently forget a blocker:
- a finding not addressed, or addressed as `open`, stays open;
- a finding marked `fixed` is checked against the diff under review: when its line is still a line of that
  diff (on the same side), nothing has moved it, so it stays open; only a finding whose file left the
  diff or whose line is no longer part of it counts as fixed.
On the same head commit every earlier finding is still anchored, so none can be declared fixed there.
Open findings keep counting against approval (`validation.effective_verdict`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bot.domain import FileDiff, Finding, Step
from guardrails import validation

# The review schema plus "addressed", for providers that constrain decoding (prompt versions that ask).
SCHEMA: dict[str, Any] = {
    **validation.REVIEW_SCHEMA,
    "properties": {
        **validation.REVIEW_SCHEMA["properties"],
        "addressed": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "maxLength": 10},
                    "status": {"type": "string", "enum": ["fixed", "open"]},
                },
                "required": ["id", "status"],
            },
        },
    },
}


class _Claim(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    status: Literal["fixed", "open"]

    @field_validator("id", "status", mode="before")
    @classmethod
    def _normal(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    addressed: list[_Claim] = []


def finding_id(position: int) -> str:
    """The id the prompt gives the finding at `position` (0-based) of the carried list."""
    return f"F{position + 1}"


def claims(reply: str) -> dict[str, str]:
    """Id (lower case) → "fixed" | "open" from a reply; anything unreadable claims nothing."""
    body = validation.extract_json(reply)
    if body is None:
        return {}
    try:
        answer = _Answer.model_validate(json.loads(body, strict=False))
    except (json.JSONDecodeError, RecursionError, ValidationError):
        return {}
    return {claim.id: claim.status for claim in answer.addressed}


def still_anchored(finding: Finding, files: Mapping[str, FileDiff]) -> bool:
    """True when the finding's line is still a line of the diff under review, on its side."""
    diff = files.get(finding.path)
    return diff is not None and finding.line in diff.commentable(finding.side)


@dataclass(frozen=True, slots=True)
class Settled:
    """The earlier findings still open after one answer, and a transcript step per addressed one."""

    open: tuple[Finding, ...]
    steps: tuple[Step, ...]


def settle(carried: Sequence[Finding], reply: str, files: Mapping[str, FileDiff], chunk: int) -> Settled:
    """Apply the rule of this module to the `"addressed"` claims of `reply`."""
    said = claims(reply) if carried else {}
    still_open: list[Finding] = []
    steps: list[Step] = []
    for position, finding in enumerate(carried):
        ident = finding_id(position)
        status = said.get(ident.lower())
        fixed = status == "fixed" and not still_anchored(finding, files)
        if not fixed:
            still_open.append(finding)
        if status is None:
            continue
        if fixed:
            detail = "marked fixed: its line left the diff"
        elif status == "fixed":
            detail = "marked fixed, but its line is still part of the diff: kept open"
        else:
            detail = "kept open"
        accepted = fixed or status == "open"
        steps.append(Step("carried", chunk, 0, ident, accepted, detail=detail))
    return Settled(tuple(still_open), tuple(steps))
