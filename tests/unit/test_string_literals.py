"""Runs of adjacent string literals: what a compiler joins is found, what it does not join is not."""

from __future__ import annotations

import pytest

from guardrails.text import string_literals


def _joined(lines: list[str]) -> list[str]:
    return [string_literals.joined(lines, run) for run in string_literals.runs(lines)]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (['x = "ab" "cd"'], ["abcd"]),  # Python and C neighbours
        (["x = 'ab' + 'cd' + 'ef'"], ["abcdef"]),  # JS and Java +
        (['TOKEN = ("ab"', '         "cd")'], ["abcd"]),  # continued on the next line
        (['key = "ab" +', '    "cd";'], ["abcd"]),
        (['key = "ab" \\', '    "cd"'], ["abcd"]),  # a line continuation
        (["s = `ab` + `cd`"], ["abcd"]),  # template literals without substitutions
        (['b = b"ab" rb"cd"'], ["abcd"]),  # prefixes
        (['x = "ab" "cd"', 'y = "ef"'], ["abcd"]),  # an assignment ends the run
        (['f("ab", "cd")'], []),  # arguments are not joined
        (['x = "ab" + name + "cd"'], []),  # a name between them
        (['"""A docstring."""'], []),  # empty pieces join nothing
        (['x = "ab"', 'y = "cd"'], []),  # two statements
        (["x = ''"], []),
        (['s = "say \\"hi\\"" "there"'], ['say \\"hi\\"there']),  # escapes stay as written
    ],
)
def test_runs_table(lines, expected):
    assert _joined(lines) == expected


def test_the_context_is_what_the_run_is_assigned_to():
    lines = ['TOKEN = ("ab"', '         "cd")']

    (run,) = string_literals.runs(lines)

    assert string_literals.context(lines, run) == "TOKEN ="
    assert [(p.line, p.start, p.end) for p in run] == [(0, 10, 12), (1, 10, 12)]
