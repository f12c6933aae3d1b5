"""Widened hunk context: ast, brace and indentation heuristics, caps, overview, fit, redaction."""

from __future__ import annotations

import ast

from bot.domain import DiffLine, FileDiff, FileStatus, Hunk, LineKind
from bot.review import blocks, context
from bot.review.chunking import estimate_tokens
from guardrails.text.redaction import Redactor

PY = """import os

LIMIT = 3


@decorator
@other(arg=1)
def outer(a):
    x = 1

    def inner(b):
        return b + 1

    return inner(a) + x


class Box:
    size = 2

    def grow(self):
        self.size += 1
        return self.size
"""

GO = """package main

import "fmt"

func Add(a int, b int) int {
\tif a > b {
\t\treturn a + b
\t}
\treturn b
}

func main() {
\tfmt.Println(Add(1, 2))
}
"""

YAML = """jobs:
  build:
    steps:
      - run: make
      - run: test
  lint:
    steps:
      - run: ruff
"""


def _diff(path: str, added: list[int], *, status: FileStatus = FileStatus.MODIFIED) -> FileDiff:
    lines = tuple(DiffLine(LineKind.ADDED, None, n, "x") for n in added)
    hunk = Hunk(added[0], len(added), added[0], len(added), "", lines)
    return FileDiff(path if status is not FileStatus.ADDED else None, path, status, (hunk,))


def _widen(path: str, source: str, first: int, last: int | None = None, **caps: int) -> tuple[int, int]:
    limits = {"context_lines": 2, "max_context_lines": 200, **caps}
    return context.widen(path, source, (first, last or first), **limits)


def test_python_change_widens_to_the_innermost_function():
    assert _widen("m.py", PY, 12) == (11, 12)  # inside inner
    assert _widen("m.py", PY, 14) == (6, 14)  # in outer, below inner: decorators included
    assert _widen("m.py", PY, 21, 22) == (20, 22)  # a method
    assert _widen("m.py", PY, 18) == (17, 22)  # class body


def test_python_module_level_change_gets_context_lines():
    assert _widen("m.py", PY, 3) == (1, 5)


def test_python_that_does_not_parse_falls_back_to_indentation():
    broken = PY.replace("def grow(self):", "def grow(self:")

    assert _widen("m.py", broken, 21) == (20, 22)


def test_brace_language_widens_to_the_function_not_the_if():
    assert _widen("main.go", GO, 7) == (5, 10)
    assert _widen("main.go", GO, 13) == (12, 14)


def test_brace_with_the_opening_brace_on_its_own_line():
    source = "int f(int a)\n{\n    return a;\n}\n"

    assert _widen("f.c", source, 3) == (1, 4)


def test_other_files_widen_by_indentation():
    assert _widen("ci.yaml", YAML, 5) == (3, 5)
    assert _widen("ci.yaml", YAML, 8) == (7, 8)


def test_the_cap_keeps_the_change_and_never_exceeds_max_lines():
    body = "\n".join(f"    x{i} = {i}" for i in range(500))
    source = f"def big():\n{body}\n    return 0\n"

    assert _widen("m.py", source, 300, max_context_lines=40, context_lines=5) == (295, 305)
    start, end = _widen("m.py", source, 100, 300, max_context_lines=40, context_lines=5)
    assert (start, end) == (100, 139)


def test_file_context_merges_overlapping_hunks_and_numbers_lines():
    diff = FileDiff(
        "m.py", "m.py", FileStatus.MODIFIED, _diff("m.py", [12]).hunks + _diff("m.py", [14]).hunks
    )

    found = context.file_context(diff, PY, context_lines=2, max_context_lines=200)

    assert found is not None and found.ranges == ((6, 14),)
    lines = found.text_with_line_numbers.split("\n")
    assert (
        lines[0] == "@@ head lines 6-14 @@" and lines[1] == "6: @decorator" and lines[-1].startswith("14: ")
    )
    assert found.line_count == 9


def test_deleted_and_binary_files_have_no_context():
    deleted = _diff("m.py", [1], status=FileStatus.DELETED)

    assert context.file_context(deleted, PY, context_lines=2, max_context_lines=10) is None
    assert (
        context.build([deleted, _diff("n.py", [1])], {"m.py": PY}, context_lines=2, max_context_lines=10)
        == []
    )


def test_overview_lists_touched_files_and_neighbours_of_new_ones():
    diffs = [_diff("src/new.py", [1], status=FileStatus.ADDED), _diff("README.md", [1])]

    dirs = context.directories_to_list(diffs)
    found = context.overview(diffs, {"src": ["new.py", "b.py", "a.py"]})

    assert dirs == ("src",)
    assert found.touched == ("src/new.py", "README.md")
    assert found.neighbours == (("src/new.py", ("a.py", "b.py")),)
    assert "new file src/new.py: its directory also holds a.py, b.py" in found.render()


def _ctx(path: str, lines: int) -> context.FileContext:
    text = "\n".join(f"{n}: code line {n}" for n in range(1, lines + 1))
    return context.FileContext(path, ((1, lines),), text)


def test_fit_drops_the_largest_until_under_budget_and_reports_it():
    contexts = [_ctx("a.py", 10), _ctx("big.py", 400), _ctx("c.py", 30)]
    budget = estimate_tokens(context.render_all([contexts[0], contexts[2]]))

    kept, cut = context.fit(contexts, budget)

    assert [c.path for c in kept] == ["a.py", "c.py"] and [c.path for c in cut] == ["big.py"]
    assert estimate_tokens(context.render_all(kept)) <= budget


def test_fit_keeps_everything_that_fits_and_nothing_when_the_budget_is_tiny():
    contexts = [_ctx("a.py", 10), _ctx("b.py", 10)]

    assert context.fit(contexts, 10_000) == (contexts, [])
    assert context.fit(contexts, 1) == ([], contexts)


def test_redact_masks_code_and_keeps_line_numbers():
    source = "import os\nAPI_TOKEN=s3cr3tVALUEabc123\nsafe = 1\n"
    found = context.file_context(_diff(".env", [2]), source, context_lines=1, max_context_lines=10)
    assert found is not None

    redacted = context.redact(found, Redactor())

    assert "s3cr3tVALUEabc123" not in redacted.text_with_line_numbers
    assert "2: API_TOKEN=[REDACTED:" in redacted.text_with_line_numbers
    assert "3: safe = 1" in redacted.text_with_line_numbers


NESTED = """import x


@outer(
    1,
)
class A:
    @staticmethod
    def m():
        try:
            def inner():
                return 1
        except E:
            @dec
            async def handler():
                pass
        match x:
            case 1:
                def in_case():
                    with y:
                        class Deep:
                            def f(self):
                                return [lambda: 2]
            case _:
                pass
        return inner


if x:
    def top():
        pass
"""


def _every_definition(source: str, first: int, last: int) -> tuple[int, int] | None:
    """The innermost def/class holding the lines, by looking at every node of the tree."""
    best = None
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            end = node.end_lineno or node.lineno
            if start <= first and last <= end and (best is None or end - start < best[1] - best[0]):
                best = (start, end)
    return best


def test_the_python_search_finds_what_a_search_of_every_node_finds():
    count = NESTED.count("\n")
    spans = [(first, last) for first in range(1, count + 1) for last in range(first, count + 1)]

    found = {span: blocks._python_block(NESTED, *span) for span in spans}

    assert found == {span: _every_definition(NESTED, *span) for span in spans}
    assert found[(23, 23)] == (22, 23) and found[(16, 16)] == (14, 16) and found[(31, 31)] == (30, 31)
