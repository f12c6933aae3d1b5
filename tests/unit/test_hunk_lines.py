"""A parsed hunk keeps its lines as one text: on a varied real diff they equal, count, render, filter
and redact as the DiffLines built one by one the ordinary way."""

from __future__ import annotations

import dataclasses
import re

import pytest

from bot import domain
from bot.pipeline import redact_files
from bot.review import chunking, diffparse, filters
from guardrails.text import redaction
from tests.support import diffparse_git, varied_diff

_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_KINDS = {"+": domain.LineKind.ADDED, "-": domain.LineKind.REMOVED, " ": domain.LineKind.CONTEXT}
POLICY = filters.FilterPolicy(
    exclude=(),
    lock_files=(),
    generated=(),
    vendored=(),
    max_files=1000,
    max_file_lines=40,
    max_file_bytes=900,
)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    base, head = varied_diff.trees()
    return diffparse_git.diff(tmp_path_factory.mktemp("varied") / "repo", base, head)


def ordinary_lines(raw: bytes) -> list[tuple[domain.DiffLine, ...]]:
    """Every hunk's lines, in order, each built by DiffLine's own constructor from git's text."""
    texts = raw.decode("utf-8", "surrogateescape").split("\n")
    hunks, i = [], 0
    while i < len(texts):
        match = _HEADER.match(texts[i])
        i += 1
        if match is None:
            continue
        old, new = int(match[1]), int(match[3])
        old_left, new_left = int(match[2] or 1), int(match[4] or 1)
        body = []
        while old_left or new_left:
            sign, text = texts[i][:1], texts[i][1:]
            i += 1
            if sign == "\\":
                continue
            old_no, new_no = None if sign == "+" else old, None if sign == "-" else new
            body.append(domain.DiffLine(_KINDS[sign], old_no, new_no, text))
            old, old_left = (old, old_left) if sign == "+" else (old + 1, old_left - 1)
            new, new_left = (new, new_left) if sign == "-" else (new + 1, new_left - 1)
        hunks.append(tuple(body))
    return hunks


def as_tuples(files: list[domain.FileDiff]) -> list[domain.FileDiff]:
    """The same files with each hunk's lines as a plain tuple of DiffLines."""
    return [
        dataclasses.replace(f, hunks=tuple(dataclasses.replace(h, lines=tuple(h.lines)) for h in f.hunks))
        for f in files
    ]


def test_parsed_lines_equal_the_ones_built_the_ordinary_way(raw: bytes) -> None:
    hunks = [h for f in diffparse.parse(raw) for h in f.hunks]
    expected = ordinary_lines(raw)

    assert len(hunks) == len(expected) > 20
    for hunk, lines in zip(hunks, expected, strict=True):
        assert isinstance(hunk.lines, domain.HunkLines)
        assert tuple(hunk.lines) == lines
        assert hunk.lines == lines and lines == hunk.lines and hash(hunk.lines) == hash(lines)
        assert len(hunk.lines) == len(lines)
        assert (hunk.lines[0], hunk.lines[-1], hunk.lines[1:]) == (lines[0], lines[-1], lines[1:])
        for kind in domain.LineKind:
            assert domain.count_kind(hunk.lines, kind) == [ln.kind for ln in lines].count(kind)
    assert any("\udce9" in ln.text for lines in expected for ln in lines)


def test_compact_hunks_equal_only_the_same_lines(raw: bytes) -> None:
    hunk = next(h for f in diffparse.parse(raw) for h in f.hunks if len(h.lines) > 3)
    assert isinstance(hunk.lines, domain.HunkLines)
    text, old, new = hunk.lines.text, hunk.lines.old_start, hunk.lines.new_start

    assert hunk.lines == domain.HunkLines(text, old, new)
    assert hunk.lines != domain.HunkLines(text, old + 1, new)
    assert hunk.lines != domain.HunkLines(text + "\n+x", old, new)
    assert hunk.lines != list(hunk.lines)  # as a tuple is never equal to a list
    assert repr(hunk.lines) == repr(tuple(hunk.lines))


def test_compact_hunks_render_count_and_filter_as_ordinary_ones(raw: bytes) -> None:
    files = diffparse.parse(raw)
    ordinary = as_tuples(files)

    assert [chunking.render_file(f) for f in files] == [chunking.render_file(f) for f in ordinary]
    assert [(f.added, f.removed) for f in files] == [(f.added, f.removed) for f in ordinary]
    assert [f.commentable(side) for f in files for side in domain.Side] == [
        f.commentable(side) for f in ordinary for side in domain.Side
    ]
    kept, skipped = filters.apply(files, POLICY)
    assert (kept, skipped) == filters.apply(ordinary, POLICY)
    assert {s.reason for s in skipped} >= {domain.SkipReason.GENERATED, domain.SkipReason.TOO_LARGE}
    assert [c.text for c in chunking.build_chunks(kept, 400)[0]] == [
        c.text for c in chunking.build_chunks(as_tuples(kept), 400)[0]
    ]


def test_redacted_hunks_stay_compact_and_equal_ordinary_ones(raw: bytes) -> None:
    files = diffparse.parse(raw)
    secret = next(ln.text for f in files for h in f.hunks for ln in h.lines if len(ln.text) > 8)
    redactor = redaction.Redactor([secret])

    compact, count = redact_files(files, redactor)

    assert count > 0
    assert (as_tuples(compact), count) == redact_files(as_tuples(files), redactor)
    assert all(isinstance(h.lines, domain.HunkLines) for f in compact for h in f.hunks)
    assert not any(secret in ln.text for f in compact for h in f.hunks for ln in h.lines)
