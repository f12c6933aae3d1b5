"""The stored record of a PR's review state, its audit trail, and the fenced compare-and-set store.

`state` is a plain string here: the lifecycle decides which values and moves are legal, this module only
says how a record is kept safe from stale writers (a version for compare-and-set, the PR's fence).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Protocol

from bot.domain import Finding, OpenFinding, Severity, Side
from bot.errors import InputError


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One state change: when, who, from where to where, on which trigger, and why."""

    at: float
    actor: str
    from_state: str
    to_state: str
    trigger: str
    reason: str = ""

    def to_json(self) -> str:
        """Canonical JSON (sorted keys), so a re-sent entry compares equal."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AuditEntry:
        """Read an entry written by `to_json`."""
        data = json.loads(text)
        return cls(
            at=float(data["at"]),
            actor=str(data["actor"]),
            from_state=str(data["from_state"]),
            to_state=str(data["to_state"]),
            trigger=str(data["trigger"]),
            reason=str(data.get("reason", "")),
        )


@dataclass(frozen=True, slots=True)
class PullRequestRecord:
    """A PR's review state; `version` counts saves, `fence` is the lease fence of the last writer.

    Beyond the lifecycle state it keeps what the daemon must not forget across jobs and crashes: the head
    it last decided on, whether a maintainer paused it, Quorum's last posted review (to retire it when a
    newer decision replaces it) and the outbox: a decided review not yet confirmed as posted.
    """

    repo: str
    number: int
    state: str
    head_sha: str
    version: int = 0
    fence: int = 0
    updated_at: float = 0.0
    paused: bool = False
    reviewed_sha: str = ""  # the head the last decision was made on
    decision: str = ""
    approvals: int = 0  # approving rounds counted on `reviewed_sha`
    review_id: int = 0  # Quorum's last posted review
    review_sha: str = ""
    review_blocking: bool = False
    outbox: str = ""  # JSON of a decided review awaiting its post
    human_approved_sha: str = ""  # a `/quorum merge` by a maintainer on this head
    commands_seen: str = ""  # ids of the latest comments whose commands were handled, space-separated
    notice: str = ""  # key of the last notice posted (so a retry does not repeat it)
    open_blockers: str = ""  # JSON of the blocking findings still open (`encode_blockers`), across heads
    tripwire_sha: str = ""  # the head whose review tripped the tripwire: its approval needs a human
    seen: str = ""  # JSON of what the rounds on `reviewed_sha` were shown (guardrails.review_coverage)

    @property
    def job_id(self) -> str:
        return f"{self.repo}#{self.number}"

    def saved(self, version: int, fence: int) -> PullRequestRecord:
        """This record as stored by a save that succeeded."""
        return replace(self, version=version, fence=fence)

    def to_fields(self) -> dict[str, str]:
        """Every field but version and fence, as strings (the stores keep them in a hash)."""
        out: dict[str, str] = {}
        for item in fields(self):
            if item.name in ("version", "fence"):
                continue
            value = getattr(self, item.name)
            out[item.name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
        out["updated_at"] = repr(self.updated_at)
        return out

    @classmethod
    def from_fields(cls, data: dict[str, str]) -> PullRequestRecord:
        """Read what `to_fields` wrote (plus version and fence); missing newer fields take defaults."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            if item.name not in data:
                continue
            raw, kind = data[item.name], str(item.type)
            if kind == "bool":
                values[item.name] = raw == "1"
            elif kind == "int":
                values[item.name] = int(raw)
            elif kind == "float":
                values[item.name] = float(raw)
            else:
                values[item.name] = raw
        return cls(**values)


def encode_blockers(items: Sequence[OpenFinding]) -> str:
    """The open blockers as canonical JSON for the record ("" when there is none)."""
    if not items:
        return ""
    rows = [
        {
            "path": o.finding.path,
            "line": o.finding.line,
            "side": o.finding.side.value,
            "severity": o.finding.severity.value,
            "body": o.finding.body,
            "sha": o.sha,
            "excerpt": o.excerpt,
            "placed": o.placed,
        }
        for o in items
    ]
    return json.dumps(rows, sort_keys=True, separators=(",", ":"))


def decode_blockers(text: str) -> tuple[OpenFinding, ...]:
    """Read what `encode_blockers` wrote. Raises InputError on anything else: a record whose blockers
    cannot be read must stop the job, never drop them."""
    if not text:
        return ()
    try:
        rows = json.loads(text)
        return tuple(
            OpenFinding(
                Finding(
                    str(r["path"]), int(r["line"]), Side(r["side"]), Severity(r["severity"]), str(r["body"])
                ),
                str(r["sha"]),
                str(r["excerpt"]),
                bool(r["placed"]),
            )
            for r in rows
        )
    except (TypeError, KeyError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise InputError(f"unreadable open blockers in a PR record: {exc}") from exc


def save_allowed(stored_version: int, current_fence: int, *, expected_version: int, fence: int) -> bool:
    """The compare-and-set rule: the writer saw the latest version and holds the PR's current fence."""
    return stored_version == expected_version and current_fence == fence


def same_content(a: PullRequestRecord, b: PullRequestRecord) -> bool:
    """Whether two records carry the same data, ignoring version and fence (to recognise a replay)."""
    return a.to_fields() == b.to_fields()


class StateStore(Protocol):
    """PR records with fenced compare-and-set, and their audit trail."""

    async def load(self, job_id: str) -> PullRequestRecord | None:
        """The stored record of `owner/repo#N`, or None."""
        ...

    async def save(self, record: PullRequestRecord, *, expected_version: int, fence: int) -> bool:
        """Store `record` as version `expected_version + 1` if the stored version is `expected_version`
        (0 when none) and `fence` is the PR's current fence; False otherwise. A re-sent identical save
        reports True and changes nothing."""
        ...

    async def append_audit(self, job_id: str, entry: AuditEntry, fence: int) -> bool:
        """Append to the PR's audit trail if `fence` is current; a re-sent identical entry is not doubled."""
        ...

    async def append_note(self, job_id: str, entry: AuditEntry) -> None:
        """Append an entry that records a fact, not a state change (a write withdrawn by a holder that lost
        the PR): no fence, since nothing a holder decides on changes; a re-sent entry is not doubled."""
        ...

    async def audit(self, job_id: str) -> list[AuditEntry]:
        """The PR's audit trail, oldest first."""
        ...
