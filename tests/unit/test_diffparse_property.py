"""Property test: over random real repositories, every parsed line number points at the real line."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import domain
from bot.review import diffparse
from tests.support import diffparse_git

# No name is a directory of another, so any set of them can share a tree.
NAMES = ("a.txt", "dir/b c.txt", "dir/deep/z", "é.txt", 'q"t', "t\tab", "x b/y", "nl\nname", "back\\slash")
# Lines that look like diff syntax, non-UTF-8 bytes and blanks, from a small pool so edits leave context.
LINES: tuple[bytes, ...] = (b"alpha", b"beta", b"gamma", b"", b"  indented", b"caf\xe9", b"\xff\xfe")
LINES += (b"+plus", b"-minus", b"\\ No newline at end of file", b"@@ -1 +1 @@", b"diff --git a/x b/x", b" b/")
LINES += (b"tab\there", b"trailing \r")

Doc = tuple[list[bytes], bytes, bool]  # lines, line ending, ends with a newline


@st.composite
def documents(draw: st.DrawFn) -> Doc:
    lines = draw(st.lists(st.sampled_from(LINES), max_size=25))
    return lines, draw(st.sampled_from([b"\n", b"\n", b"\r\n"])), draw(st.booleans())


@st.composite
def edits(draw: st.DrawFn, doc: Doc) -> Doc:
    lines, ending, final = list(doc[0]), doc[1], doc[2]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        if op == "insert" or not lines:
            lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(LINES)))
        elif op == "delete":
            del lines[draw(st.integers(0, len(lines) - 1))]
        else:
            lines[draw(st.integers(0, len(lines) - 1))] = draw(st.sampled_from(LINES))
    return lines, ending, draw(st.sampled_from([final, final, not final]))


def render(doc: Doc) -> bytes:
    lines, ending, final = doc
    return ending.join(lines) + (ending if final and lines else b"")


@st.composite
def changes(draw: st.DrawFn) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """A base tree and a head tree made from it by edits, deletions, renames and additions."""
    docs = draw(st.dictionaries(st.sampled_from(NAMES), documents(), max_size=5))
    head: dict[str, bytes] = {}
    for name, doc in docs.items():
        action = draw(st.sampled_from(["keep", "edit", "delete", "rename", "rename-edit"]))
        free = [n for n in NAMES if n not in docs and n not in head]
        target = draw(st.sampled_from(free)) if action.startswith("rename") and free else name
        if action != "delete":
            head[target] = render(draw(edits(doc)) if action.endswith("edit") else doc)
    for name in draw(st.lists(st.sampled_from(NAMES), max_size=2, unique=True)):
        if name not in docs and name not in head:
            head[name] = render(draw(documents()))
    return {name: render(doc) for name, doc in docs.items()}, head


def check_lines(fd: domain.FileDiff, old: list[bytes], new: list[bytes]) -> None:
    for hunk in fd.hunks:
        for ln in hunk.lines:
            text = ln.text.encode("utf-8", "surrogateescape")
            if ln.kind is domain.LineKind.ADDED:
                assert ln.old_no is None
            else:
                assert ln.old_no is not None and 1 <= ln.old_no <= len(old)
                assert old[ln.old_no - 1] == text
            if ln.kind is domain.LineKind.REMOVED:
                assert ln.new_no is None
            else:
                assert ln.new_no is not None and 1 <= ln.new_no <= len(new)
                assert new[ln.new_no - 1] == text


def apply(old: bytes, fd: domain.FileDiff) -> bytes:
    """Rebuild the head file from the base file and the parsed hunks alone."""
    lines = old.split(b"\n")
    ends_with_newline = lines[-1] == b""
    if ends_with_newline:
        lines.pop()
    out: list[bytes] = []
    pos = 0
    for hunk in fd.hunks:
        start = hunk.old_start if hunk.old_count == 0 else hunk.old_start - 1
        out += lines[pos:start]
        pos = start + hunk.old_count
        out += [
            ln.text.encode("utf-8", "surrogateescape")
            for ln in hunk.lines
            if ln.kind is not domain.LineKind.REMOVED
        ]
        if pos == len(lines):  # the hunk reaches the end of the file, so its flags tell how both sides end
            assert hunk.old_no_newline_at_eof == (bool(lines) and not ends_with_newline)
            ends_with_newline = not hunk.new_no_newline_at_eof
    out += lines[pos:]
    return b"\n".join(out) + (b"\n" if out and ends_with_newline else b"")


@settings(max_examples=35, deadline=None)
@given(changes())
def test_every_line_number_points_at_the_real_line(change: tuple[dict[str, bytes], dict[str, bytes]]) -> None:
    base, head = change
    with tempfile.TemporaryDirectory() as tmp:
        raw = diffparse_git.diff(Path(tmp) / "repo", base, head)

    files = diffparse.parse(raw)

    changed = {path for path in base.keys() | head.keys() if base.get(path) != head.get(path)}
    assert {path for fd in files for path in (fd.old_path, fd.new_path) if path is not None} == changed
    for fd in files:
        old = base[fd.old_path] if fd.old_path is not None else b""
        new = head[fd.new_path] if fd.new_path is not None else None
        check_lines(fd, old.split(b"\n"), (new or b"").split(b"\n"))
        if new is not None:
            assert apply(old, fd) == new
