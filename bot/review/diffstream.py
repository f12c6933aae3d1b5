"""Parse `git diff` output while git writes it: whole file sections are parsed as soon as they arrive."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from bot import domain
from bot.review import diffparse

# A file section ends where the next one's `diff --git` line starts. No other line can start so: hunk
# lines start with " ", "-", "+" or "\\", header lines with their keyword, and base85 holds no space.
_NEXT_FILE = b"\ndiff --git "


def parse_stream(pieces: Iterable[bytes]) -> Iterator[domain.FileDiff]:
    """The files `diffparse.parse` finds in the concatenation of `pieces`, yielded as each one's section
    is complete; a malformed diff raises the same InputError, naming the same line, once reached."""
    # The collector stays off between sections too (see `diffparse.gc_paused`); it is back on once the
    # stream is done, or the generator closed.
    with diffparse.gc_paused():
        yield from _sections(pieces)


def parse_all(pieces: Iterable[bytes]) -> list[domain.FileDiff]:
    """Every file of the streamed diff (`parse_stream` to the end), for a caller that keeps them all."""
    return list(parse_stream(pieces))


def _sections(pieces: Iterable[bytes]) -> Iterator[domain.FileDiff]:
    pending = bytearray()
    first_line = 0
    for piece in pieces:
        # Only the new bytes (and a marker's worth before them) can hold a boundary not yet cut.
        start = max(len(pending) - len(_NEXT_FILE) + 1, 0)
        pending += piece
        cut = pending.rfind(_NEXT_FILE, start) + 1
        if cut == 0:
            continue
        block = pending[:cut]
        del pending[:cut]
        yield from diffparse.parse_block(block, first_line, more=True)
        first_line += block.count(b"\n")
    if pending:
        yield from diffparse.parse_block(pending, first_line)
