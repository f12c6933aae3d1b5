"""Context before the first call: each hunk widened to its enclosing function or class in the head version.

Pure: the caller reads the head files (through the worktree tools' guardrails) and passes their text. Python
is widened through `ast` (the innermost def/class holding the change, decorators included); brace languages
by matching braces up to the innermost block that looks like a definition; other files by indentation; and
anything else by `context_lines` around the change. No hunk ever gets more than `max_context_lines`.
`fit` keeps the whole under a token budget and says what it cut, for the coverage report.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from bot.domain import FileDiff, FileStatus, Hunk, LineKind
from bot.review import blocks
from bot.review.chunking import estimate_tokens
from guardrails.text.redaction import Redactor

_NUMBERED = re.compile(r"^(\s*\d+: )(.*)$")
_MAX_NEIGHBOURS = 50


@dataclass(frozen=True, slots=True)
class FileContext:
    """Head lines around one file's changes: 1-based inclusive `ranges`, rendered with line numbers."""

    path: str
    ranges: tuple[tuple[int, int], ...]
    text_with_line_numbers: str

    @property
    def line_count(self) -> int:
        return sum(end - start + 1 for start, end in self.ranges)

    def render(self) -> str:
        """The block as it goes into a prompt."""
        return f"=== CONTEXT {self.path} (head) ===\n{self.text_with_line_numbers}"


@dataclass(frozen=True, slots=True)
class ChangeOverview:
    """The files the change touches, and for each added file the other names in its directory."""

    touched: tuple[str, ...]
    neighbours: tuple[tuple[str, tuple[str, ...]], ...]

    def render(self) -> str:
        lines = ["=== FILES IN THIS CHANGE ===", *self.touched]
        for path, names in self.neighbours:
            lines.append(f"new file {path}: its directory also holds {', '.join(names) or 'nothing else'}")
        return "\n".join(lines)


def changed_span(hunk: Hunk) -> tuple[int, int]:
    """Head lines a hunk changes: its added lines, or for a pure deletion the line where it happened."""
    added = [line.new_no for line in hunk.lines if line.kind is LineKind.ADDED and line.new_no is not None]
    if added:
        return min(added), max(added)
    anchor = max(hunk.new_start, 1)
    return anchor, anchor


def widen(
    path: str, source: str, span: tuple[int, int], *, context_lines: int, max_context_lines: int
) -> tuple[int, int]:
    """Head lines to show for one changed span, never more than `max_context_lines` (at least the span's
    start). Falls back to `context_lines` around the span when no enclosing block is found or fits."""
    lines = source.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    total = max(len(lines), 1)
    first, last = min(span[0], total), min(span[1], total)
    block = blocks.enclosing(path, source, lines, (first, last))
    if block is None or block[1] - block[0] + 1 > max_context_lines:
        block = (max(1, first - context_lines), min(total, last + context_lines))
    start, end = block
    if end - start + 1 > max_context_lines:
        # Centre on the change, keeping its first line: what changed matters more than its surroundings.
        start = max(start, min(first, end - max_context_lines + 1))
        end = start + max(max_context_lines, 1) - 1
    return start, end


def _merge(ranges: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def _numbered(lines: Sequence[str], ranges: Sequence[tuple[int, int]]) -> str:
    blocks = []
    for start, end in ranges:
        body = "\n".join(f"{n}: {lines[n - 1].removesuffix(chr(13))}" for n in range(start, end + 1))
        blocks.append(f"@@ head lines {start}-{end} @@\n{body}")
    return "\n".join(blocks)


def file_context(
    diff: FileDiff, source: str, *, context_lines: int, max_context_lines: int
) -> FileContext | None:
    """The widened head context of one file's hunks; None for a deletion, a binary file or no hunks."""
    if diff.status is FileStatus.DELETED or diff.is_binary or not diff.hunks or not source:
        return None
    lines = source.split("\n")
    if lines[-1] == "":
        lines.pop()
    spans = [
        widen(
            diff.path,
            source,
            changed_span(h),
            context_lines=context_lines,
            max_context_lines=max_context_lines,
        )
        for h in diff.hunks
    ]
    ranges = tuple((s, min(e, len(lines))) for s, e in _merge(spans) if s <= len(lines))
    if not ranges:
        return None
    return FileContext(diff.path, ranges, _numbered(lines, ranges))


def build(
    diffs: Sequence[FileDiff], sources: Mapping[str, str], *, context_lines: int, max_context_lines: int
) -> list[FileContext]:
    """File contexts for every diff whose head text the caller provided (keyed by `FileDiff.path`)."""
    contexts = []
    for diff in diffs:
        source = sources.get(diff.path)
        if source is None:
            continue
        found = file_context(diff, source, context_lines=context_lines, max_context_lines=max_context_lines)
        if found is not None:
            contexts.append(found)
    return contexts


def directories_to_list(diffs: Sequence[FileDiff]) -> tuple[str, ...]:
    """The directories (`""` for the root) whose listings `overview` needs: those of added files."""
    return tuple(dict.fromkeys(posixpath.dirname(d.path) for d in diffs if d.status is FileStatus.ADDED))


def overview(diffs: Sequence[FileDiff], listings: Mapping[str, Sequence[str]]) -> ChangeOverview:
    """Touched files, and for each added file its directory's other names (from `listings`, by directory)."""
    neighbours = []
    for diff in diffs:
        if diff.status is not FileStatus.ADDED:
            continue
        directory, name = posixpath.split(diff.path)
        names = tuple(n for n in sorted(listings.get(directory, ())) if n != name)[:_MAX_NEIGHBOURS]
        neighbours.append((diff.path, names))
    return ChangeOverview(tuple(d.path for d in diffs), tuple(neighbours))


def render_all(contexts: Sequence[FileContext]) -> str:
    """All contexts as one prompt section."""
    return "\n\n".join(context.render() for context in contexts)


def fit(contexts: Sequence[FileContext], token_budget: int) -> tuple[list[FileContext], list[FileContext]]:
    """Drop contexts, largest first, until `render_all` of the rest fits `token_budget`; return (kept, cut)
    both in their original order, so the caller can report the cut files in coverage."""
    kept = list(contexts)
    cut: list[FileContext] = []
    while kept and estimate_tokens(render_all(kept)) > token_budget:
        largest = max(kept, key=lambda c: estimate_tokens(c.render()))
        kept.remove(largest)
        cut.append(largest)
    order = {id(c): i for i, c in enumerate(contexts)}
    return kept, sorted(cut, key=lambda c: order[id(c)])


def redact(context: FileContext, redactor: Redactor) -> FileContext:
    """The context with secrets masked in the code (not in the line numbers, so anchored rules still fire)
    and in the file's name."""
    prefixes: list[str] = []
    code: list[str] = []
    for line in context.text_with_line_numbers.split("\n"):
        match = _NUMBERED.match(line)
        prefix, text = (match.group(1), match.group(2)) if match else ("", line)
        prefixes.append(prefix)
        code.append(text)
    masked, _ = redactor.redact_lines(code)
    text = "\n".join(prefix + line for prefix, line in zip(prefixes, masked, strict=True))
    return replace(context, path=redactor.redact_path(context.path)[0], text_with_line_numbers=text)
