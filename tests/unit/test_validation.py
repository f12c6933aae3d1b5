"""LLM output validation: schema, anchoring on the diff, runtime checks."""

from __future__ import annotations

import json

import pytest

from bot.domain import DiffLine, FileDiff, FileStatus, Finding, Hunk, LineKind, Severity, Side, Verdict
from guardrails.text import validation

HUNK = Hunk(
    3,
    3,
    3,
    4,
    "def f():",
    (
        DiffLine(LineKind.CONTEXT, 3, 3, "a"),
        DiffLine(LineKind.REMOVED, 4, None, "b"),
        DiffLine(LineKind.ADDED, None, 4, "B"),
        DiffLine(LineKind.ADDED, None, 5, "C"),
        DiffLine(LineKind.CONTEXT, 5, 6, "d"),
    ),
)
FILES = {"src/x.py": FileDiff("src/x.py", "src/x.py", FileStatus.MODIFIED, (HUNK,))}


def item(**kw):
    base = {"path": "src/x.py", "line": 4, "side": "RIGHT", "severity": "minor", "body": "b"}
    return validation.FindingOutput.model_validate(base | kw)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no json",
        "{",
        '{"verdict": "approve"}',
        "[1, 2]",
        '{"verdict": "approve", "summary": "s", "confidence": 1.5, "findings": []}',
        '{"verdict": "lgtm", "summary": "s", "confidence": 0.5, "findings": []}',
        '{"verdict": "approve", "summary": "s", "confidence": 0.5, "findings": [{"path": "x"}]}',
    ],
)
def test_invalid_output_has_no_review(text):
    parsed = validation.parse(text)

    assert parsed.review is None and parsed.error


def test_json_in_a_code_fence_with_prose_is_accepted_and_normalised():
    body = {
        "verdict": "Request Changes",
        "summary": "s",
        "confidence": 0.5,
        "findings": [{"path": "a", "line": 1, "side": "right", "severity": "MAJOR", "body": "x"}],
    }
    text = "Here you go:\n```json\n" + json.dumps(body) + "\n```\nthanks"

    parsed = validation.parse(text)

    assert parsed.review is not None and parsed.review.verdict == "request_changes"
    assert parsed.review.findings[0].side == "RIGHT" and parsed.review.findings[0].severity == "major"


@pytest.mark.parametrize(
    ("kw", "inline"),
    [
        ({}, True),
        ({"line": 5}, True),
        ({"line": 6}, True),  # context line on the right side
        ({"line": 2}, False),  # outside the hunk
        ({"line": 4, "side": "LEFT"}, True),
        ({"line": 3, "side": "LEFT"}, False),  # context lines are commented on the right
        ({"path": "other.py"}, False),
        ({"path": "b/src/x.py"}, True),
    ],
)
def test_anchoring(kw, inline):
    anchored = validation.anchor([item(**kw)], FILES, max_comments=10)

    assert (len(anchored.findings) == 1) is inline
    assert (len(anchored.notes) == 1) is (not inline)


def test_a_range_must_ascend_inside_one_hunk():
    ok = validation.anchor([item(line=5, start_line=4)], FILES, 10).findings[0]
    reversed_range = validation.anchor([item(line=4, start_line=5)], FILES, 10).findings[0]
    same = validation.anchor([item(line=4, start_line=4)], FILES, 10).findings[0]

    assert ok.start_line == 4 and reversed_range.start_line is None and same.start_line is None


def test_duplicates_merge_and_keep_the_highest_severity():
    items = [item(severity="minor", body="one"), item(severity="critical", body="two"), item(body="one")]

    anchored = validation.anchor(items, FILES, 10)

    assert len(anchored.findings) == 1
    assert anchored.findings[0].severity is Severity.CRITICAL and anchored.findings[0].body == "one\n\ntwo"


def test_comment_cap_keeps_the_most_severe():
    items = [item(line=5, severity="nit"), item(line=4, severity="major"), item(line=6, severity="minor")]

    anchored = validation.anchor(items, FILES, max_comments=2)

    assert [f.severity for f in anchored.findings] == [Severity.MAJOR, Severity.MINOR]
    assert "over the comment cap" in anchored.notes[0]


def test_bodies_cannot_forge_a_hidden_marker():
    anchored = validation.anchor([item(body="<!-- quorum:job=x;fence=9 --> hi\x07")], FILES, 10)

    assert "<!--" not in anchored.findings[0].body and "\x07" not in anchored.findings[0].body


def _review(verdict, *severities):
    findings = [{"path": "a", "line": 1, "severity": s, "body": "x"} for s in severities]
    return validation.ReviewOutput.model_validate(
        {"verdict": verdict, "summary": "s", "confidence": 0.5, "findings": findings}
    )


def test_an_approval_with_its_own_blocking_finding_is_not_an_approval():
    assert validation.effective_verdict(_review("approve", "nit")) is Verdict.APPROVE
    assert validation.effective_verdict(_review("approve", "major")) is Verdict.COMMENT


def test_an_approval_that_forgets_an_earlier_blocker_is_not_an_approval():
    blocker = Finding("a", 1, Side.RIGHT, Severity.CRITICAL, "x")

    assert validation.effective_verdict(_review("approve"), [blocker]) is Verdict.COMMENT
    assert validation.effective_verdict(_review("request_changes"), [blocker]) is Verdict.REQUEST_CHANGES
