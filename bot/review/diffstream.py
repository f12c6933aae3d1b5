"""Parse `git diff` output while git writes it: whole file sections are parsed as soon as they arrive."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bot import domain
from bot.review import diffparse

# A file section ends where the next one's `diff --git` line starts. No other line can start so: hunk
# lines start with " ", "-", "+" or "\\", header lines with their keyword, and base85 holds no space.
_NEXT_FILE = b"\ndiff --git "
_BLOCK_BYTES = 1 << 16


def parse_stream(pieces: Iterable[bytes], block_bytes: int = _BLOCK_BYTES) -> Iterator[domain.FileDiff]:
    """The files `diffparse.parse` finds in the concatenation of `pieces`, yielded as their sections
    complete, parsed in blocks of at least `block_bytes` (but the last); a malformed diff raises the
    same InputError, naming the same line, once reached."""
    # The collector stays off between sections too (see `diffparse.gc_paused`); it is back on once the
    # stream is done, or the generator closed.
    with diffparse.gc_paused():
        yield from _sections(pieces, block_bytes)


def parse_all(pieces: Iterable[bytes]) -> list[domain.FileDiff]:
    """Every file of the streamed diff (`parse_stream` to the end), for a caller that keeps them all."""
    return list(parse_stream(pieces))


def _sections(pieces: Iterable[bytes], block_bytes: int) -> Iterator[domain.FileDiff]:
    pending = bytearray()
    scanned = 0  # how much of `pending` was searched for a boundary
    first_line = 0
    for piece in pieces:
        pending += piece
        if len(pending) < block_bytes:
            continue  # small blocks would cost more per file than they save
        # Only the bytes not yet searched (and a marker's worth before them) can hold a new boundary.
        cut = pending.rfind(_NEXT_FILE, max(scanned - len(_NEXT_FILE) + 1, 0)) + 1
        scanned = len(pending)
        if cut == 0:
            continue
        block = pending[:cut]
        del pending[:cut]
        scanned -= cut
        yield from diffparse.parse_block(block, first_line, more=True)
        first_line += block.count(b"\n")
    if pending:
        yield from diffparse.parse_block(pending, first_line)
