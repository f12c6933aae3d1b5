"""Parse `git diff` output into files and hunks with exact old/new line maps."""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

from bot import domain, errors

_GIT_HEADER = "diff --git "
_DEV_NULL = "/dev/null"
_HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)", re.DOTALL)
# The C escapes git's quote_c_style emits besides three-digit octal bytes.
_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
_KINDS = {kind.value: kind for kind in domain.LineKind}


def parse(raw: bytes) -> list[domain.FileDiff]:
    """Parse the output of `git *DIFF_ARGS base head`; raise InputError naming the line if malformed."""
    return parse_block(raw)


def parse_block(raw: bytes | bytearray, first_line: int = 0, more: bool = False) -> list[domain.FileDiff]:
    """Parse whole file sections of a diff: `raw` starts at its line `first_line` (0-based) and, when
    `more`, ends just before another `diff --git` line, which the parser sees but leaves alone."""
    # One decode of the whole buffer: "\n" never occurs inside a UTF-8 sequence, so each line's text
    # encodes back (utf-8, surrogateescape) to exactly its original bytes, "\r" included.
    lines = raw.decode("utf-8", "surrogateescape").split("\n")
    if lines[-1] == "":
        lines.pop()
    stop = len(lines)
    if more:
        # Every look past a file's end tests only this prefix, so the next line need not have arrived.
        lines.append(_GIT_HEADER)
    with gc_paused():
        return _Parser(lines, first_line).files(stop)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic collector: a big diff allocates a million acyclic lines, and the collector's
    repeated passes over them would otherwise double the parse time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(slots=True)
class _Header:
    """What the lines between `diff --git` and the first hunk said about one file."""

    git_line: str
    line_index: int
    old_path: str | None = None
    new_path: str | None = None
    paths_known: bool = False  # set by ---/+++ lines, which also carry /dev/null for one side
    old_mode: str | None = None
    new_mode: str | None = None
    index_mode: str | None = None
    similarity: int | None = None
    status: domain.FileStatus | None = None
    is_binary: bool = False


class _Parser:
    """A cursor over the lines of one diff."""

    def __init__(self, lines: list[str], first_line: int = 0) -> None:
        self.lines = lines
        self.pos = 0
        self.first_line = first_line  # where `lines` starts in the whole diff, for error messages
        self.label = "before any file"

    def fail(self, message: str, line_index: int | None = None) -> errors.InputError:
        """Build the error for a malformed diff, naming the file and the 1-based line.

        Messages quote paths but never file content: a diff may hold secrets, and errors get logged.
        """
        number = (self.pos if line_index is None else line_index) + self.first_line + 1
        return errors.InputError(f"malformed git diff at line {number}, {self.label}: {message}")

    def files(self, stop: int) -> list[domain.FileDiff]:
        result = []
        while self.pos < stop:
            line = self.lines[self.pos]
            if not line.startswith(_GIT_HEADER):
                raise self.fail(f"expected a 'diff --git' line, got one starting {line[:1]!r}")
            result.append(self._file())
        return result

    def _file(self) -> domain.FileDiff:
        git_line = self.lines[self.pos]
        self.label = f"in {git_line[:200]!r}"
        header = _Header(git_line, self.pos)
        self.pos += 1
        self._headers(header)
        hunks = []
        while self.pos < len(self.lines) and self.lines[self.pos].startswith("@@"):
            hunks.append(self._hunk())
        if self.pos < len(self.lines) and not self.lines[self.pos].startswith(_GIT_HEADER):
            tag = self.lines[self.pos][:1]
            raise self.fail(f"unexpected line starting {tag!r} after the hunks (do their counts match?)")
        return self._build(header, tuple(hunks))

    def _headers(self, header: _Header) -> None:
        lines, handlers = self.lines, self._HANDLERS
        while self.pos < len(lines):
            line = lines[self.pos]
            if line.startswith(("@@", _GIT_HEADER)):
                return
            for prefix, handle in handlers:
                if line.startswith(prefix):
                    handle(self, header, line[len(prefix) :])
                    break
            else:
                raise self.fail(f"unknown header line starting {line.partition(' ')[0][:20]!r}")
            self.pos += 1

    def _build(self, header: _Header, hunks: tuple[domain.Hunk, ...]) -> domain.FileDiff:
        if not header.paths_known and header.status not in (
            domain.FileStatus.RENAMED,
            domain.FileStatus.COPIED,
        ):
            header.old_path = header.new_path = self._same_paths(header)
        status = header.status
        if status is domain.FileStatus.ADDED:
            header.old_path = None
        elif status is domain.FileStatus.DELETED:
            header.new_path = None
        elif status is None:
            changed = header.old_mode is not None and header.old_mode != header.new_mode
            only_mode = changed and not hunks and not header.is_binary
            status = domain.FileStatus.MODE_CHANGED if only_mode else domain.FileStatus.MODIFIED
        if header.old_path is None and header.new_path is None:
            raise self.fail("no path for this file", header.line_index)
        old_mode = header.old_mode or (None if status is domain.FileStatus.ADDED else header.index_mode)
        new_mode = header.new_mode or (None if status is domain.FileStatus.DELETED else header.index_mode)
        return domain.FileDiff(
            header.old_path,
            header.new_path,
            status,
            hunks,
            header.is_binary,
            old_mode,
            new_mode,
            header.similarity,
        )

    def _same_paths(self, header: _Header) -> str:
        """The one path of a `diff --git a/P b/P` line whose two sides are equal (no rename)."""
        rest, at = header.git_line[len(_GIT_HEADER) :], header.line_index
        if rest.startswith('"'):
            old, end = self._unquote(rest, 0, at)
            new, _ = (
                self._unquote(rest, end + 2, at) if rest[end + 2 : end + 3] == '"' else (rest[end + 2 :], 0)
            )
            if old.startswith("a/") and new.startswith("b/") and old[2:] == new[2:]:
                return old[2:]
        # Unquoted, "a/P b/P" has length 2·len(P) + 5, so P is found without guessing where " b/" is.
        half = (len(rest) - 5) // 2
        if (
            rest.startswith("a/")
            and rest[2 + half : 5 + half] == " b/"
            and rest[2 : 2 + half] == rest[5 + half :]
        ):
            return rest[2 : 2 + half]
        raise self.fail("cannot tell the paths of the 'diff --git' line apart", at)

    def _unquote(self, text: str, start: int, at: int | None = None) -> tuple[str, int]:
        """Decode the C-quoted string opening at `text[start]`; return it and its closing quote's index."""
        out = bytearray()
        i = start + 1
        while i < len(text):
            char = text[i]
            if char == '"':
                return out.decode("utf-8", "surrogateescape"), i
            if char != "\\":
                out += char.encode("utf-8", "surrogateescape")
                i += 1
                continue
            code = text[i + 1 : i + 2]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                i += 2
            elif len(digits := text[i + 1 : i + 4]) == 3 and all(d in "01234567" for d in digits):
                out.append(int(digits, 8) & 0xFF)
                i += 4
            else:
                raise self.fail(f"bad escape in quoted path {text[start:][:80]!r}", at)
        raise self.fail(f"unterminated quoted path {text[start:][:80]!r}", at)

    def _name(self, value: str, prefix: str | None) -> str | None:
        """A path from a ---/+++/rename/copy line: unquoted, without its prefix; None for /dev/null."""
        # git appends a tab after a name holding a space; an unquoted name never holds a tab.
        value = self._unquote(value, 0)[0] if value.startswith('"') else value.partition("\t")[0]
        if prefix is None:
            return value
        if value == _DEV_NULL:
            return None
        if not value.startswith(prefix):
            raise self.fail(f"path {value[:80]!r} lacks the {prefix!r} prefix")
        return value[len(prefix) :]

    def _index(self, header: _Header, value: str) -> None:
        _, _, mode = value.partition(" ")
        header.index_mode = mode or None

    def _old_name(self, header: _Header, value: str) -> None:
        old = self._name(value, "a/")
        self.pos += 1
        line = self.lines[self.pos] if self.pos < len(self.lines) else ""
        if not line.startswith("+++ "):
            raise self.fail("a '---' line is not followed by a '+++' line")
        new = self._name(line[4:], "b/")
        if header.status not in (domain.FileStatus.RENAMED, domain.FileStatus.COPIED):
            header.old_path, header.new_path, header.paths_known = old, new, True

    def _new_file(self, header: _Header, value: str) -> None:
        header.new_mode, header.status = value, domain.FileStatus.ADDED

    def _deleted_file(self, header: _Header, value: str) -> None:
        header.old_mode, header.status = value, domain.FileStatus.DELETED

    def _old_mode(self, header: _Header, value: str) -> None:
        header.old_mode = value

    def _new_mode(self, header: _Header, value: str) -> None:
        header.new_mode = value

    def _similarity(self, header: _Header, value: str) -> None:
        digits = value.rstrip("%")
        if not digits.isdigit():
            raise self.fail(f"bad similarity index {value[:20]!r}")
        header.similarity = int(digits)

    def _rename_from(self, header: _Header, value: str) -> None:
        header.old_path, header.status = self._name(value, None), domain.FileStatus.RENAMED

    def _rename_to(self, header: _Header, value: str) -> None:
        header.new_path, header.status = self._name(value, None), domain.FileStatus.RENAMED

    def _copy_from(self, header: _Header, value: str) -> None:
        header.old_path, header.status = self._name(value, None), domain.FileStatus.COPIED

    def _copy_to(self, header: _Header, value: str) -> None:
        header.new_path, header.status = self._name(value, None), domain.FileStatus.COPIED

    def _binary(self, header: _Header, value: str) -> None:
        header.is_binary = True

    def _binary_patch(self, header: _Header, value: str) -> None:
        # The base85 payload runs to the next file; its lines start with a length letter, never "diff ".
        header.is_binary = True
        while self.pos + 1 < len(self.lines) and not self.lines[self.pos + 1].startswith(_GIT_HEADER):
            self.pos += 1

    def _ignore(self, header: _Header, value: str) -> None:
        """Accept a header line that tells nothing the domain keeps."""

    # Plain functions, not bound methods: a parser holding its own bound methods would be a reference
    # cycle, keeping its lines alive until the (paused) collector ran.
    _HANDLERS: ClassVar[tuple[tuple[str, Callable[[_Parser, _Header, str], None]], ...]] = (
        ("index ", _index),
        ("--- ", _old_name),
        ("new file mode ", _new_file),
        ("deleted file mode ", _deleted_file),
        ("old mode ", _old_mode),
        ("new mode ", _new_mode),
        ("similarity index ", _similarity),
        ("dissimilarity index ", _ignore),
        ("rename from ", _rename_from),
        ("rename to ", _rename_to),
        ("copy from ", _copy_from),
        ("copy to ", _copy_to),
        ("Binary files ", _binary),
        ("GIT binary patch", _binary_patch),
    )

    def _hunk(self) -> domain.Hunk:
        match = _HUNK_HEADER.fullmatch(self.lines[self.pos])
        if match is None:
            raise self.fail("bad hunk header")
        old_start, new_start = int(match[1]), int(match[3])
        old_count = 1 if match[2] is None else int(match[2])
        new_count = 1 if match[4] is None else int(match[4])
        self.pos += 1
        markers: list[domain.LineKind] = []
        text = self._hunk_lines(old_start, new_start, old_start + old_count, new_start + new_count, markers)
        if self.pos < len(self.lines) and self.lines[self.pos].startswith("\\"):
            markers.append(_KINDS[text[text.rfind("\n") + 1]])
            self.pos += 1
        # A marker after a context line means neither side ends with a newline.
        old_eof = any(kind is not domain.LineKind.ADDED for kind in markers)
        new_eof = any(kind is not domain.LineKind.REMOVED for kind in markers)
        lines = domain.HunkLines(text, old_start, new_start)
        return domain.Hunk(old_start, old_count, new_start, new_count, match[5], lines, old_eof, new_eof)

    def _hunk_lines(
        self, old_no: int, new_no: int, old_end: int, new_end: int, markers: list[domain.LineKind]
    ) -> str:
        """Read lines until the header's ranges are used up, and return them as HunkLines text (without
        the "\\ No newline" markers, whose line kinds go to `markers`); the hot loop of the parser."""
        lines, start = self.lines, self.pos
        i = start
        while old_no < old_end or new_no < new_end:
            try:
                tag = lines[i][:1]
            except IndexError:
                raise self.fail("the diff ends inside this hunk", start - 1) from None
            if tag == " ":
                old_no += 1
                new_no += 1
            elif tag == "-":
                old_no += 1
            elif tag == "+":
                new_no += 1
            elif tag == "\\" and (kind := self._marked(start, i)) is not None:
                markers.append(kind)
            else:
                self.pos = i
                raise self.fail(f"unexpected line starting {tag!r} inside a hunk")
            i += 1
        self.pos = i
        if old_no != old_end or new_no != new_end or i == start:
            raise self.fail("hunk line counts do not match its header", i - 1)
        if not markers:
            return "\n".join(lines[start:i])
        return "\n".join(line for line in lines[start:i] if not line.startswith("\\"))

    def _marked(self, start: int, at: int) -> domain.LineKind | None:
        """The kind of the hunk line before the marker at `at`, or None if the hunk has none yet."""
        for line in reversed(self.lines[start:at]):
            if not line.startswith("\\"):
                return _KINDS[line[0]]
        return None
