"""Render diffs for a prompt with citable line handles, and pack them into chunks under a token budget."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.domain import FileDiff, FileStatus, Hunk, LineKind, SkippedFile, SkipReason

# Realistic tokens per UTF-8 byte for code with byte-level BPE tokenizers is ~1/3.5; 1/3 errs high.
_BYTES_PER_TOKEN = 3


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
    parts = [f"=== FILE {show(diff.path)} ({diff.status.value}, +{diff.added} -{diff.removed}) ==="]
    if diff.status in (FileStatus.RENAMED, FileStatus.COPIED) and diff.old_path:
        parts.append(f"({diff.status.value} from {show(diff.old_path)})")
    if diff.old_mode and diff.new_mode and diff.old_mode != diff.new_mode:
        parts.append(f"(mode {diff.old_mode} -> {diff.new_mode})")
    if "120000" in (diff.old_mode, diff.new_mode):
        parts.append("(a symbolic link: its text is the path it points to)")
    return "\n".join(parts)


def render_hunk(hunk: Hunk) -> str:
    """A hunk whose every line starts with its handle: R<n> (head line n) or L<n> (base line n)."""
    out = [
        f"@@ -{hunk.old_start},{hunk.old_count} +{hunk.new_start},{hunk.new_count} @@ {hunk.section}".rstrip()
    ]
    for line in hunk.lines:
        if line.kind is LineKind.REMOVED:
            out.append(f"L{line.old_no} - {printable(line.text)}")
        elif line.kind is LineKind.ADDED:
            out.append(f"R{line.new_no} + {printable(line.text)}")
        else:
            out.append(f"R{line.new_no}   {printable(line.text)}")
    return "\n".join(out)


def render_file(diff: FileDiff, show: ShowPath = _as_is) -> str:
    return "\n".join([_header(diff, show), *(render_hunk(h) for h in diff.hunks)])


@dataclass(frozen=True, slots=True)
class Chunk:
    """Files (or hunk groups of one large file) reviewed by one model call."""

    index: int
    files: tuple[FileDiff, ...]
    text: str
    tokens: int


def _split_file(diff: FileDiff, budget: int, show: ShowPath) -> list[FileDiff] | None:
    """Hunk groups of one file that each fit `budget`, or None when a single hunk does not."""
    groups: list[list[Hunk]] = [[]]
    header = estimate_tokens(_header(diff, show))
    used = header
    for hunk in diff.hunks:
        cost = estimate_tokens(render_hunk(hunk))
        if cost + header > budget:
            return None
        if groups[-1] and used + cost > budget:
            groups.append([])
            used = header
        groups[-1].append(hunk)
        used += cost
    return [dataclasses.replace(diff, hunks=tuple(group)) for group in groups]


def build_chunks(
    files: Sequence[FileDiff], budget_tokens: int, show: ShowPath = _as_is
) -> tuple[list[Chunk], list[SkippedFile]]:
    """Pack files in order into chunks of at most `budget_tokens`; split a file too large for one chunk
    by hunks; skip (and report) a file with a hunk that fits no chunk. `show` renders file names."""
    pieces: list[tuple[FileDiff, str, int]] = []
    skipped: list[SkippedFile] = []
    for diff in files:
        text = render_file(diff, show)
        tokens = estimate_tokens(text)
        if tokens <= budget_tokens:
            pieces.append((diff, text, tokens))
            continue
        parts = _split_file(diff, budget_tokens, show)
        if parts is None:
            skipped.append(SkippedFile(diff.path, SkipReason.EXCEEDS_CONTEXT))
            continue
        pieces.extend((p, t, estimate_tokens(t)) for p in parts for t in [render_file(p, show)])
    chunks: list[Chunk] = []
    current: list[tuple[FileDiff, str, int]] = []
    for piece in pieces:
        if current and sum(p[2] for p in current) + piece[2] > budget_tokens:
            chunks.append(_chunk(len(chunks), current))
            current = []
        current.append(piece)
    if current:
        chunks.append(_chunk(len(chunks), current))
    return chunks, skipped


def _chunk(index: int, pieces: list[tuple[FileDiff, str, int]]) -> Chunk:
    text = "\n\n".join(p[1] for p in pieces)
    return Chunk(index, tuple(p[0] for p in pieces), text, estimate_tokens(text))
