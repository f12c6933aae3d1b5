"""The definition enclosing a change: Python through `ast`, brace languages by braces, else indentation."""

from __future__ import annotations

import ast
import functools
from collections.abc import Sequence

from bot.review import brace_blocks

_PYTHON = (".py", ".pyi")
_HOLDERS = (ast.stmt, ast.excepthandler, ast.match_case)


@functools.lru_cache(maxsize=4)
def _python_tree(source: str) -> ast.Module | None:
    """The parsed file, once for all its hunks (read only)."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def _python_block(source: str, first: int, last: int) -> tuple[int, int] | None:
    """The innermost def/class (decorators included) holding lines `first`..`last`, or None."""
    tree = _python_tree(source)
    if tree is None:
        return None
    best: tuple[int, int] | None = None
    # Only statements hold definitions, and a definition holding the lines sits inside statements that
    # hold them too: the search descends into those alone, not the whole tree.
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.stmt):
            decorators = getattr(node, "decorator_list", ())
            start = min([node.lineno, *(d.lineno for d in decorators)])
            end = node.end_lineno or node.lineno
            if not (start <= first and last <= end):
                continue
            defines = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if defines and (best is None or end - start < best[1] - best[0]):
                best = (start, end)
        pending.extend(c for c in ast.iter_child_nodes(node) if isinstance(c, _HOLDERS))
    return best


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _indent_block(lines: Sequence[str], first: int, last: int) -> tuple[int, int] | None:
    """The nearest less-indented line above the change and the lines below it that stay indented more."""
    changed = [lines[n - 1] for n in range(first, last + 1) if n <= len(lines) and lines[n - 1].strip()]
    if not changed:
        return None
    level = min(_indent(line) for line in changed)
    header = next(
        (n for n in range(first - 1, 0, -1) if lines[n - 1].strip() and _indent(lines[n - 1]) < level), None
    )
    if header is None:
        return None
    outer = _indent(lines[header - 1])
    end = last
    for n in range(last + 1, len(lines) + 1):
        if lines[n - 1].strip() and _indent(lines[n - 1]) <= outer:
            break
        end = n
    return header, end


def enclosing(path: str, source: str, lines: Sequence[str], span: tuple[int, int]) -> tuple[int, int] | None:
    """The 1-based head lines of the innermost definition holding `span`, by the file's kind, or None."""
    first, last = span
    if path.endswith(_PYTHON):
        return _python_block(source, first, last) or _indent_block(lines, first, last)
    if path.endswith(brace_blocks.SUFFIXES):
        return brace_blocks.block(lines, first, last)
    return _indent_block(lines, first, last)
