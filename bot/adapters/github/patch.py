"""Which lines of a pull request GitHub lets a review comment anchor to, read from the files' `patch` texts.

GitHub refuses a whole review (422, naming no culprit) when any inline comment sits outside the diff, so
the adapter checks every anchor against the hunks first and moves the rest into the review body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot import domain

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass(frozen=True, slots=True)
class HunkLines:
    """The commentable line numbers of one hunk: removed lines on the left, added and context on the right."""

    left: frozenset[int]
    right: frozenset[int]

    def lines(self, side: domain.Side) -> frozenset[int]:
        return self.right if side is domain.Side.RIGHT else self.left


@dataclass(frozen=True, slots=True)
class PatchLines:
    """The hunks of one file's patch; a file without a patch (binary, too large) has none."""

    hunks: tuple[HunkLines, ...] = ()

    def allows(self, side: domain.Side, line: int, start_line: int | None = None) -> bool:
        """True when a comment on `line` (from `start_line`, same side) lies inside one hunk."""
        for hunk in self.hunks:
            lines = hunk.lines(side)
            if line in lines:
                # A range must stay within the hunk that holds its last line.
                return start_line is None or start_line == line or (start_line < line and start_line in lines)
        return False


def parse_patch(patch: str | None) -> PatchLines:
    """Parse a GitHub `patch` (hunks only, no file headers) into its commentable lines.

    Left-side anchors are limited to removed lines, the conservative reading of GitHub's rule (context
    lines belong to the right side), matching `domain.FileDiff.commentable`.
    """
    hunks: list[HunkLines] = []
    current: _Hunk | None = None
    for raw in (patch or "").split("\n"):
        header = _HUNK.match(raw)
        if header:
            if current is not None:
                hunks.append(current.done())
            old_count, new_count = header.group(2), header.group(4)
            current = _Hunk(
                int(header.group(1)),
                int(header.group(3)),
                1 if old_count is None else int(old_count),
                1 if new_count is None else int(new_count),
            )
        elif current is not None:
            current.feed(raw)
    if current is not None:
        hunks.append(current.done())
    return PatchLines(tuple(hunks))


class _Hunk:
    """Line counters of the hunk being read; its header's counts say where it ends."""

    def __init__(self, old_no: int, new_no: int, old_left: int, new_left: int) -> None:
        self.old_no, self.new_no = old_no, new_no
        self.old_left, self.new_left = old_left, new_left
        self.left: set[int] = set()
        self.right: set[int] = set()

    def feed(self, raw: str) -> None:
        if raw.startswith("-") and self.old_left > 0:
            self.left.add(self.old_no)
            self.old_no, self.old_left = self.old_no + 1, self.old_left - 1
        elif raw.startswith("+") and self.new_left > 0:
            self.right.add(self.new_no)
            self.new_no, self.new_left = self.new_no + 1, self.new_left - 1
        elif (raw.startswith(" ") or raw == "") and self.old_left > 0 and self.new_left > 0:
            # An empty line inside the counts is a context line whose single space was trimmed.
            self.right.add(self.new_no)
            self.old_no, self.new_no = self.old_no + 1, self.new_no + 1
            self.old_left, self.new_left = self.old_left - 1, self.new_left - 1
        # Anything else is the "\ No newline at end of file" marker or text past the counts.

    def done(self) -> HunkLines:
        return HunkLines(frozenset(self.left), frozenset(self.right))


def split_findings(
    findings: Iterable[domain.Finding], files: Mapping[str, PatchLines]
) -> tuple[list[domain.Finding], list[domain.Finding]]:
    """Split findings into (inline, moved): inline ones anchor inside the diff of a changed file."""
    inline: list[domain.Finding] = []
    moved: list[domain.Finding] = []
    for finding in findings:
        lines = files.get(finding.path)
        if lines is not None and lines.allows(finding.side, finding.line, finding.start_line):
            inline.append(finding)
        else:
            moved.append(finding)
    return inline, moved
