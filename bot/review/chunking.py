"""Render diffs for a prompt with citable line handles, and pack them into chunks under a token budget."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.domain import FileDiff, FileStatus, Hunk, HunkLines, LineKind, SkippedFile, SkipReason, count_kind

# Realistic tokens per UTF-8 byte for code with byte-level BPE tokenizers is ~1/3.5; 1/3 errs high.
_BYTES_PER_TOKEN = 3
_TEXT, _KIND = operator.attrgetter("text"), operator.attrgetter("kind")
# How render_hunk shows a line of each kind, and which of its numbers the handle carries.
_LINE = {LineKind.REMOVED: "L%s - %s", LineKind.ADDED: "R%s + %s", LineKind.CONTEXT: "R%s   %s"}
_NUMBER = {LineKind.REMOVED: "old_no", LineKind.ADDED: "new_no", LineKind.CONTEXT: "new_no"}


def estimate_tokens(text: str) -> int:
    """A slightly pessimistic token count, for fitting text into a context window."""
    return len(text.encode("utf-8", "surrogatepass")) // _BYTES_PER_TOKEN + 1


def printable(text: str) -> str:
    """Text for a prompt: bytes that are not UTF-8 become U+FFFD, a CRLF's `\\r` is dropped."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").rstrip("\r")


# How a file's name is shown to the model (redaction masks secrets in names); the identity by default.
ShowPath = Callable[[str], str]


def _as_is(path: str) -> str:
    return path


def _header(diff: FileDiff, show: ShowPath = _as_is) -> str:
    added, removed = _counts(diff)
    parts = [f"=== FILE {show(diff.path)} ({diff.status.value}, +{added} -{removed}) ==="]
    if diff.status in (FileStatus.RENAMED, FileStatus.COPIED) and diff.old_path:
        parts.append(f"({diff.status.value} from {show(diff.old_path)})")
    if diff.old_mode and diff.new_mode and diff.old_mode != diff.new_mode:
        parts.append(f"(mode {diff.old_mode} -> {diff.new_mode})")
    if "120000" in (diff.old_mode, diff.new_mode):
        parts.append("(a symbolic link: its text is the path it points to)")
    return "\n".join(parts)


def _counts(diff: FileDiff) -> tuple[int, int]:
    """`diff.added` and `diff.removed` in one pass over the lines."""
    added = removed = 0
    for hunk in diff.hunks:
        added += count_kind(hunk.lines, LineKind.ADDED)
        removed += count_kind(hunk.lines, LineKind.REMOVED)
    return added, removed


def render_hunk(hunk: Hunk) -> str:
    """A hunk whose every line starts with its handle: R<n> (head line n) or L<n> (base line n)."""
    out = [
        f"@@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},{hunk.new_count} @@ {hunk.section}".rstrip()
    ]
    lines = hunk.lines
    if isinstance(lines, HunkLines):
        out += _render_text(lines)
        return "\n".join(out)
    texts = list(map(_TEXT, lines))
    joined = "".join(texts)
    # Printable as it is when the hunk is ASCII without "\r" (no surrogates to replace): most hunks.
    if not joined.isascii() or "\r" in joined:
        texts = list(map(printable, texts))
    # Line by line in C (map): the handle's side and number, then the text, per the line's kind.
    kinds = list(map(_KIND, lines))
    numbers = map(getattr, lines, map(_NUMBER.__getitem__, kinds))
    out += map(operator.mod, map(_LINE.__getitem__, kinds), zip(numbers, texts, strict=True))
    return "\n".join(out)


def _render_text(lines: HunkLines) -> list[str]:
    """`render_hunk`'s lines for HunkLines, made straight from their text (no DiffLine built)."""
    text = lines.text
    rows = text.split("\n")
    if not text.isascii() or "\r" in text:
        rows = [row[0] + printable(row[1:]) for row in rows]
    old, new = lines.old_start, lines.new_start
    out = []
    for row in rows:
        sign = row[0]
        if sign == "+":
            out.append(f"R{new} + {row[1:]}")
            new += 1
        elif sign == "-":
            out.append(f"L{old} - {row[1:]}")
            old += 1
        else:
            out.append(f"R{new}   {row[1:]}")
            old, new = old + 1, new + 1
    return out


def render_file(diff: FileDiff, show: ShowPath = _as_is) -> str:
    return "\n".join([_header(diff, show), *(render_hunk(h) for h in diff.hunks)])


@dataclass(frozen=True, slots=True)
class Chunk:
    """Files (or hunk groups of one large file) reviewed by one model call."""

    index: int
    files: tuple[FileDiff, ...]
    text: str
    tokens: int


def _split_file(
    diff: FileDiff, hunks: Sequence[str], budget: int, show: ShowPath
) -> list[tuple[FileDiff, str]] | None:
    """Hunk groups of one file (its hunks rendered as `hunks`) that each fit `budget`, rendered; None
    when a single hunk does not fit."""
    groups: list[list[int]] = [[]]
    header = estimate_tokens(_header(diff, show))
    used = header
    for index, text in enumerate(hunks):
        cost = estimate_tokens(text)
        if cost + header > budget:
            return None
        if groups[-1] and used + cost > budget:
            groups.append([])
            used = header
        groups[-1].append(index)
        used += cost
    parts = [dataclasses.replace(diff, hunks=tuple(diff.hunks[i] for i in group)) for group in groups]
    return [
        (part, "\n".join([_header(part, show), *(hunks[i] for i in group)]))
        for part, group in zip(parts, groups, strict=True)
    ]


def build_chunks(
    files: Sequence[FileDiff], budget_tokens: int, show: ShowPath = _as_is
) -> tuple[list[Chunk], list[SkippedFile]]:
    """Pack files in order into chunks of at most `budget_tokens`; split a file too large for one chunk
    by hunks; skip (and report) a file with a hunk that fits no chunk. `show` renders file names."""
    packer = _Packer(budget_tokens)
    skipped: list[SkippedFile] = []
    for diff in files:
        hunks = [render_hunk(h) for h in diff.hunks]  # rendered once, also for a split
        text = "\n".join([_header(diff, show), *hunks])
        tokens = estimate_tokens(text)
        if tokens <= budget_tokens:
            packer.add(diff, text, tokens)
            continue
        parts = _split_file(diff, hunks, budget_tokens, show)
        if parts is None:
            skipped.append(SkippedFile(diff.path, SkipReason.EXCEEDS_CONTEXT))
            continue
        for part, part_text in parts:
            packer.add(part, part_text, estimate_tokens(part_text))
    return packer.finish(), skipped


class _Packer:
    """Fills chunks in order, joining each one's text as soon as it is full, so the rendered pieces of a
    whole diff are never held twice."""

    def __init__(self, budget_tokens: int) -> None:
        self.budget = budget_tokens
        self.chunks: list[Chunk] = []
        self.current: list[tuple[FileDiff, str, int]] = []
        self.used = 0

    def add(self, diff: FileDiff, text: str, tokens: int) -> None:
        if self.current and self.used + tokens > self.budget:
            self._close()
        self.current.append((diff, text, tokens))
        self.used += tokens

    def finish(self) -> list[Chunk]:
        if self.current:
            self._close()
        return self.chunks

    def _close(self) -> None:
        self.chunks.append(_chunk(len(self.chunks), self.current))
        self.current, self.used = [], 0


def _chunk(index: int, pieces: list[tuple[FileDiff, str, int]]) -> Chunk:
    text = "\n\n".join(p[1] for p in pieces)
    return Chunk(index, tuple(p[0] for p in pieces), text, estimate_tokens(text))
