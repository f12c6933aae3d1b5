"""Blocks of brace languages (C, Java, JS, Go, Rust...): the innermost `{…}` whose header is a definition."""

from __future__ import annotations

import re
from collections.abc import Sequence

SUFFIXES = (
    ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".java", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx",
    ".go", ".rs", ".cs", ".kt", ".kts", ".swift", ".php", ".scala", ".dart", ".m", ".mm", ".groovy", ".css",
)  # fmt: skip
# A block header that is a definition, not an `if`/`for`: what a reader means by "the enclosing function".
_DEFINITION = re.compile(
    r"\b(?:function|func|fn|def|class|struct|enum|interface|trait|impl|module|namespace|object)\b"
    # A C-family signature: `type name(args) [const] [-> T] [throws X] {`.
    r"|^\s*(?!(?:else|if|for|while|switch|return|catch|do|try)\b)"
    r"(?:[\w<>\[\],*&:~]+\s+)+[\w:~]+\s*\([^;]*\)\s*(?:const\s*)?(?:->\s*\S+\s*)?"
    r"(?:throws [\w., ]+)?\{?\s*$"
)


def _brace_blocks(lines: Sequence[str]) -> list[tuple[int, int]]:
    """(header line, closing line), 1-based, of every `{…}` block; strings and comments are not parsed."""
    blocks: list[tuple[int, int]] = []
    stack: list[int] = []
    for number, line in enumerate(lines, start=1):
        for char in line:
            if char == "{":
                stack.append(number)
            elif char == "}" and stack:
                blocks.append((stack.pop(), number))
    return blocks


def _header_line(lines: Sequence[str], opened: int) -> int:
    """The line a block's header starts on: a lone `{` belongs to the line above it."""
    if lines[opened - 1].strip() == "{" and opened > 1:
        return opened - 1
    return opened


def block(lines: Sequence[str], first: int, last: int) -> tuple[int, int] | None:
    """The innermost enclosing block whose header is a definition, else the outermost enclosing block."""
    holding = []
    for opened, closed in _brace_blocks(lines):
        header = _header_line(lines, opened)
        if header <= first and last <= closed and closed > opened:
            holding.append((header, closed))
    if not holding:
        return None
    holding.sort(key=lambda block: block[1] - block[0])
    for header, closed in holding:
        if _DEFINITION.search(lines[header - 1]):
            return header, closed
    return holding[-1]
