"""Domain types shared by every layer: diffs, findings, rounds, decisions. Pure data, no I/O."""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import overload


class Side(StrEnum):
    """Which version of a file a diff line belongs to (GitHub's review-comment `side`)."""

    LEFT = "LEFT"  # the base version: deleted lines
    RIGHT = "RIGHT"  # the head version: added and context lines


class LineKind(StrEnum):
    """What a diff line does."""

    ADDED = "+"
    REMOVED = "-"
    CONTEXT = " "


class FileStatus(StrEnum):
    """How a file changed between base and head."""

    ADDED = "added"
    DELETED = "deleted"
    MODIFIED = "modified"
    RENAMED = "renamed"
    COPIED = "copied"
    MODE_CHANGED = "mode_changed"


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a hunk with its exact line numbers in the old and new file (None where absent).

    `text` is the line without its trailing newline; bytes that are not UTF-8 are kept losslessly with
    the `surrogateescape` error handler, and a CRLF line keeps its `\\r`.
    """

    kind: LineKind
    old_no: int | None
    new_no: int | None
    text: str


_KIND = operator.attrgetter("kind")
_KINDS = {"+": LineKind.ADDED, "-": LineKind.REMOVED, " ": LineKind.CONTEXT}
# A DiffLine built through its slots: the object its frozen __init__ builds, in half the time.
_SETTERS = (vars(DiffLine)[name].__set__ for name in ("kind", "old_no", "new_no", "text"))
_NEW, (_SET_KIND, _SET_OLD, _SET_NEW, _SET_TEXT) = object.__new__, tuple(_SETTERS)


class HunkLines(Sequence[DiffLine]):
    """A hunk's lines as one text as git wrote them (sign and text, joined by "\\n", without "\\ No newline"
    markers); its DiffLines, numbered from `old_start` and `new_start`, are built as read: it equals them."""

    __slots__ = ("new_start", "old_start", "text")

    def __init__(self, text: str, old_start: int, new_start: int) -> None:
        self.text, self.old_start, self.new_start = text, old_start, new_start

    def __iter__(self) -> Iterator[DiffLine]:
        old, new, kinds = self.old_start, self.new_start, _KINDS
        for row in self.text.split("\n"):
            sign, line = row[0], _NEW(DiffLine)
            _SET_KIND(line, kinds[sign])
            _SET_OLD(line, None if sign == "+" else old)
            _SET_NEW(line, None if sign == "-" else new)
            _SET_TEXT(line, row[1:])
            old, new = old + (sign != "+"), new + (sign != "-")
            yield line

    def __len__(self) -> int:
        return self.text.count("\n") + 1

    @overload
    def __getitem__(self, index: int) -> DiffLine: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[DiffLine, ...]: ...
    def __getitem__(self, index: int | slice) -> DiffLine | tuple[DiffLine, ...]:
        return tuple(self)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HunkLines) and self.text != other.text:
            return False  # their signs or texts differ
        if isinstance(other, HunkLines) and self.old_start == other.old_start:
            return self.new_start == other.new_start or tuple(self) == tuple(other)
        return isinstance(other, (tuple, HunkLines)) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))  # as the equal tuple hashes

    def __repr__(self) -> str:
        return repr(tuple(self))


def count_kind(lines: Sequence[DiffLine], kind: LineKind) -> int:
    """How many of `lines` are of `kind`; counted in the text of a HunkLines, without building lines."""
    if isinstance(lines, HunkLines):
        return lines.text.count("\n" + kind) + lines.text.startswith(kind)
    return list(map(_KIND, lines)).count(kind)


@dataclass(frozen=True, slots=True)
class Hunk:
    """One `@@ -a,b +c,d @@ section` block; a parsed one's `lines` are HunkLines (or any DiffLines)."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str
    lines: Sequence[DiffLine]
    old_no_newline_at_eof: bool = False
    new_no_newline_at_eof: bool = False


@dataclass(frozen=True, slots=True)
class FileDiff:
    """The change to one file. `old_path` is None for an added file, `new_path` None for a deleted one."""

    old_path: str | None
    new_path: str | None
    status: FileStatus
    hunks: tuple[Hunk, ...] = ()
    is_binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    similarity: int | None = None

    @property
    def path(self) -> str:
        """The path a reviewer talks about: the new one, or the old one for a deletion."""
        path = self.new_path if self.new_path is not None else self.old_path
        assert path is not None, "a file diff has at least one path"
        return path

    @property
    def added(self) -> int:
        return self._count(LineKind.ADDED)

    @property
    def removed(self) -> int:
        return self._count(LineKind.REMOVED)

    def _count(self, kind: LineKind) -> int:
        return sum(count_kind(h.lines, kind) for h in self.hunks)

    def commentable(self, side: Side) -> frozenset[int]:
        """Line numbers a review comment may anchor to on `side` (GitHub: lines inside a hunk)."""
        if side is Side.RIGHT:
            return frozenset(ln.new_no for h in self.hunks for ln in h.lines if ln.new_no is not None)
        return frozenset(
            ln.old_no for h in self.hunks for ln in h.lines if ln.kind is LineKind.REMOVED and ln.old_no
        )

    def hunk_of(self, line: int, side: Side) -> int | None:
        """Index of the hunk holding `line` on `side`, or None."""
        for index, hunk in enumerate(self.hunks):
            for ln in hunk.lines:
                number = ln.new_no if side is Side.RIGHT else ln.old_no
                if number == line and (side is Side.RIGHT or ln.kind is LineKind.REMOVED):
                    return index
        return None


class SkipReason(StrEnum):
    """Why a file was not reviewed. Policy skips are by design; the others make coverage incomplete.
    Either way a skipped file never merges without a human (see `guardrails.review_coverage`)."""

    BINARY = "binary"
    LOCK_FILE = "lock_file"
    GENERATED = "generated"
    VENDORED = "vendored"
    EXCLUDED = "excluded"  # a configured glob
    SUBMODULE = "submodule"  # a pointer to another repository's commit: nothing here to read
    NUL_IN_TEXT = "nul_in_text"  # git calls it binary, but it was text on the base or has a text name
    TOO_LARGE = "too_large"
    TOO_MANY_FILES = "too_many_files"
    EXCEEDS_CONTEXT = "exceeds_context"

    @property
    def is_policy(self) -> bool:
        """True when skipping is a configured choice, not a limit that left code unread."""
        return self not in {SkipReason.TOO_LARGE, SkipReason.TOO_MANY_FILES, SkipReason.EXCEEDS_CONTEXT}


@dataclass(frozen=True, slots=True)
class SkippedFile:
    path: str
    reason: SkipReason


@dataclass(frozen=True, slots=True)
class Coverage:
    """What was reviewed and what was skipped, and why."""

    files_total: int
    files_reviewed: int
    skipped: tuple[SkippedFile, ...] = ()
    redactions: int = 0
    # What the model was shown (both names of a rename or copy), and the symlinks (path, target as
    # written) and submodules among the changed files: what the merge gate compares with the code host.
    seen_paths: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    submodules: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """True when every skip was a policy choice, so no code was left unread by a limit."""
        return all(s.reason.is_policy for s in self.skipped)


class Verdict(StrEnum):
    """A round's verdict. `none` is what invalid output, a timeout or a refusal count as."""

    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    COMMENT = "comment"
    NONE = "none"


class Severity(StrEnum):
    NIT = "nit"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"

    @property
    def blocking(self) -> bool:
        return self in {Severity.MAJOR, Severity.CRITICAL}


@dataclass(frozen=True, slots=True)
class Finding:
    """One review comment anchored on a diff line (`start_line` only for a range, and then < `line`)."""

    path: str
    line: int
    side: Side
    severity: Severity
    body: str
    start_line: int | None = None

    @property
    def key(self) -> tuple[str, int, Side]:
        """Identity used to merge duplicates across chunks and rounds."""
        return (self.path, self.line, self.side)


@dataclass(frozen=True, slots=True)
class OpenFinding:
    """A finding kept open across the rounds of a head and, when blocking, across pushes, until a round
    on a later head resolves it (`bot.review.carried`): the head it was raised on, the lines it pointed
    at there (to tell whether they changed since), and whether it sat on a diff line."""

    finding: Finding
    sha: str = ""  # the head it was raised on ("" for the head under review)
    excerpt: str = ""  # a fingerprint of its lines on that head; "" when it points at no line there
    placed: bool = True

    @property
    def blocking(self) -> bool:
        return self.finding.severity.blocking


class Decision(StrEnum):
    """The outcome of a review."""

    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"
    ESCALATED = "escalated"


class Reason(StrEnum):
    """Why a review ended as it did."""

    CONSENSUS = "consensus"
    CHANGES_REQUESTED = "changes_requested"
    MAX_ROUNDS = "max_rounds"
    BUDGET_EXCEEDED = "budget_exceeded"
    TIMEOUT = "timeout"
    INCOMPLETE_COVERAGE = "incomplete_coverage"
    PROVIDER_ERROR = "provider_error"
    USAGE_OVER_RESERVATION = "usage_over_reservation"  # a provider billed past the call's bound
    NOTHING_TO_REVIEW = "nothing_to_review"


@dataclass(frozen=True, slots=True)
class Usage:
    """What one model call consumed."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_micro_usd: int = 0
    duration_ms: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cost_micro_usd + other.cost_micro_usd,
            self.duration_ms + other.duration_ms,
        )


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a round's agent loop, for the transcript: a model turn, a tool call, or how a finding
    carried from an earlier round was settled. `arguments` is the redacted JSON of a tool call."""

    kind: str  # "model" | "tool" | "carried"
    chunk: int  # 1-based part of the change
    turn: int  # model turn within the part (0 for a carried finding)
    name: str  # the model, the tool, or the carried finding's id
    ok: bool
    duration_ms: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_micro_usd: int = 0
    arguments: str = ""
    result_bytes: int = 0
    bytes_read: int = 0
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TripwireHit:
    """Text a model read from the PR that trips a tripwire rule (see `guardrails/text/tripwire.py`).

    `source` says where it was read (diff, file name, pr_text, a tool); `path`/`line` place it when known
    (`line` is a head line of an added diff line, 0 otherwise); `excerpt` is redacted text around it;
    `matched` is the text the rule matched (to tell what the PR wrote from what was there before).
    """

    source: str
    rule: str
    excerpt: str
    path: str = ""
    line: int = 0
    matched: str = ""

    def where(self) -> str:
        if self.path and self.line:
            return f"{self.path}:{self.line}"
        return self.path or self.source


@dataclass(frozen=True, slots=True)
class RoundResult:
    """One full review of one head commit."""

    index: int
    model: str
    verdict: Verdict
    summary: str
    findings: tuple[Finding, ...]
    usage: Usage
    dropped: tuple[str, ...] = ()  # notes on findings moved out of the inline comments, and why
    error: str | None = None
    steps: tuple[Step, ...] = ()  # the agent loop's transcript (empty for a single-call round)
    unplaced: tuple[Finding, ...] = ()  # findings not posted inline (off the diff, over the cap)
    open_blockers: tuple[OpenFinding, ...] = ()  # blocking findings still open after this round
    tripwire: tuple[TripwireHit, ...] = ()  # hits in what the round's tools returned


@dataclass(frozen=True, slots=True)
class ReviewOutcome:
    """Everything a review produced: the decision, its reason, the rounds and what was covered."""

    decision: Decision
    reason: Reason
    base_sha: str
    head_sha: str
    rounds: tuple[RoundResult, ...]
    comments: tuple[Finding, ...]
    summary: str
    coverage: Coverage
    detail: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    open_blockers: tuple[OpenFinding, ...] = ()  # blocking findings no round has resolved yet
    tripwire: tuple[TripwireHit, ...] = ()  # any hit makes an approval of this head need a human

    @property
    def needs_human(self) -> bool:
        """An approval the tripwire holds for a human: the model approved, but the PR addressed it."""
        return self.decision is Decision.APPROVED and bool(self.tripwire)

    @property
    def cost_micro_usd(self) -> int:
        return sum(r.usage.cost_micro_usd for r in self.rounds)
