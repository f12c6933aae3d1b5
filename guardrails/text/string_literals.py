"""Runs of adjacent string literals that a compiler joins into one string, found line by line.

Python and C join neighbouring literals (`"ab" "cd"`), JavaScript and Java join them with `+`, and any
of them may continue on the next line. A secret split that way shows no recognisable shape in any one
piece; redaction scans the joined text of each run (see `redaction.Redactor`). Pure and conservative:
quotes are matched on one line, and only whitespace, one `+` or a line continuation may stand between
the pieces of a run; anything else (a name, a comma, a call) ends it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# A literal with an optional prefix (r, b, u, f and pairs); the body is the group that matched.
_LITERAL = re.compile(
    r"""(?<![\w"'`])[rRbBuUfF]{0,2}(?:"(?P<d>(?:[^"\\\n]|\\.)*)"|'(?P<s>(?:[^'\\\n]|\\.)*)'"""
    r"""|`(?P<b>(?:[^`\\\n$]|\\.)*)`)"""
)
_QUOTES = "\"'`"
_OPENS = re.compile(r"[rRbBuUfF]{0,2}[\"'`]")  # a literal starting here
# Two literals in a row, maybe: a closing quote, glue, an opening quote (not the `""` of a docstring).
_ADJACENT = re.compile(r"""(?<=[^"'`])["'`][ \t]*\+?[ \t]*[rRbBuUfF]{0,2}["'`](?!["'`])""")
_GLUE = re.compile(r"\s*\+?\s*")  # between two pieces, and before the first piece of a line
_TAIL = re.compile(r"\s*\+?\s*\\?\s*")  # after the last piece of a line that the next line continues


@dataclass(frozen=True, slots=True)
class Piece:
    """The body of one literal: line index and [start, end) within that line; `opened` is where the
    literal begins (its prefix or opening quote)."""

    line: int
    start: int
    end: int
    opened: int


def _body_span(match: re.Match[str]) -> tuple[int, int]:
    group = next(name for name in ("d", "s", "b") if match.group(name) is not None)
    return match.span(group)


def _ends_with_literal(line: str) -> bool:
    return line.rstrip(" \t\\+")[-1:] in _QUOTES and line.strip() != ""


def _starts_with_literal(line: str) -> bool:
    return _OPENS.match(line.lstrip(" \t+")) is not None


def _candidates(lines: Sequence[str]) -> list[int]:
    """The lines that may take part in a run, by cheap tests: a line joins the next when a literal ends
    it and one starts the next, and a line with two literals in a row may hold a run of its own."""
    quoted = [i for i, line in enumerate(lines) if "'" in line or '"' in line or "`" in line]
    ends = {i for i in quoted if _ends_with_literal(lines[i])}
    starts = {i for i in quoted if _starts_with_literal(lines[i])}
    joins = {i for i in ends if i + 1 in starts}
    return [i for i in quoted if i in joins or i - 1 in joins or _ADJACENT.search(lines[i]) is not None]


def runs(lines: Sequence[str]) -> list[tuple[Piece, ...]]:
    """Every run of two or more joined non-empty literals, in order."""
    found: list[tuple[Piece, ...]] = []
    run: list[Piece] = []

    def close() -> None:
        # Empty pieces join nothing (and a triple-quoted docstring parses as `""` + text + `""`).
        pieces = tuple(p for p in run if p.end > p.start)
        if len(pieces) > 1:
            found.append(pieces)
        run.clear()

    for index in _candidates(lines):
        if run and run[-1].line != index - 1:
            close()
        line, cursor = lines[index], 0
        for match in _LITERAL.finditer(line):
            if run and _GLUE.fullmatch(line, cursor, match.start()) is None:
                close()
            run.append(Piece(index, *_body_span(match), match.start()))
            cursor = match.end()
        if run and (run[-1].line != index or _TAIL.fullmatch(line, cursor) is None):
            close()
    close()
    return found


def joined(lines: Sequence[str], run: Sequence[Piece]) -> str:
    """The string a run stands for (escapes left as written)."""
    return "".join(lines[p.line][p.start : p.end] for p in run)


def context(lines: Sequence[str], run: Sequence[Piece]) -> str:
    """What precedes the run's first piece on its line, without the opening quote and glue: the name it
    is assigned to, if any (`TOKEN = (`)."""
    first = run[0]
    return lines[first.line][: first.opened].rstrip(" \t(+")
