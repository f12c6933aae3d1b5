"""The transactional outbox of a decision: the review to post, saved with the decision before it is sent.

A job saves the decision and the rendered review together (one compare-and-set), then posts. A crash
between the two leaves the review in the record; the next holder finds it, looks on the PR for the
review's hidden marker, and posts only if it is not there. So a decision is never lost and never posted
twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot import forge
from bot.domain import Decision, Finding, Severity, Side
from bot.errors import InputError


@dataclass(frozen=True, slots=True)
class Pending:
    """A decided review waiting for its post, with the check-run tally that goes with it."""

    draft: forge.ReviewDraft
    round_index: int
    decision: Decision
    tally_state: forge.TallyState
    tally_title: str
    tally_summary: str

    def to_json(self) -> str:
        data = {
            "commit_sha": self.draft.commit_sha,
            "event": self.draft.event.value,
            "body": self.draft.body,
            "comments": [_finding(f) for f in self.draft.comments],
            "round": self.round_index,
            "decision": self.decision.value,
            "tally": [self.tally_state.value, self.tally_title, self.tally_summary],
        }
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Pending:
        """Read what `to_json` wrote; raises `InputError` on anything else."""
        try:
            data = json.loads(text)
            draft = forge.ReviewDraft(
                str(data["commit_sha"]),
                forge.ReviewEvent(data["event"]),
                str(data["body"]),
                tuple(_from_finding(f) for f in data["comments"]),
            )
            state, title, summary = data["tally"]
            return cls(
                draft,
                int(data["round"]),
                Decision(data["decision"]),
                forge.TallyState(state),
                str(title),
                str(summary),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError("unreadable outbox entry") from exc


def _finding(f: Finding) -> dict[str, Any]:
    return {
        "path": f.path,
        "line": f.line,
        "side": f.side.value,
        "severity": f.severity.value,
        "body": f.body,
        "start_line": f.start_line,
    }


def _from_finding(data: dict[str, Any]) -> Finding:
    start = data.get("start_line")
    return Finding(
        str(data["path"]),
        int(data["line"]),
        Side(data["side"]),
        Severity(data["severity"]),
        str(data["body"]),
        None if start is None else int(start),
    )
