"""Workflow commands and runner files: escaping, so no text from a review can add a command or output."""

from __future__ import annotations

from bot.action import runner_output
from bot.action.run import RunReport
from bot.domain import Finding, Severity, Side


def test_a_finding_cannot_end_its_annotation_or_start_another_command() -> None:
    finding = Finding("src/a,b:c.py", 3, Side.RIGHT, Severity.MAJOR, "bad 100%\n::error::forged\r")

    line = runner_output.annotation(finding)

    assert line == (
        "::error file=src/a%2Cb%3Ac.py,line=3,title=Quorum (major)::bad 100%25%0A::error::forged%0D"
    )
    assert "\n" not in line


def test_a_range_is_annotated_from_its_first_line_to_its_last() -> None:
    finding = Finding("a.py", 9, Side.RIGHT, Severity.NIT, "n", start_line=7)

    assert runner_output.annotation(finding).startswith("::notice file=a.py,line=7,endLine=9,")


def test_outputs_use_delimited_blocks_and_say_none_without_a_pull_request() -> None:
    text = runner_output.outputs(RunReport("push", cost_micro=1_500))

    lines = text.splitlines()
    assert lines[0].startswith("decision<<ghadelimiter_") and lines[1] == "none"
    assert lines[2] == lines[0].partition("<<")[2]
    assert lines[4] == "0.0015"
