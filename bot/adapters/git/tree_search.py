"""Line search over a checked-out tree in plain Python: no shell, no symlink followed, `.git` never entered.

`search_child` is the entry point of the child process a regex search runs in (`python -I -c …`), so that
a pattern that backtracks forever is ended by killing the process; a fixed-string search runs in a thread.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

from bot.ports import SearchHit, SearchOutcome

_KIB = 1024
_BINARY_PROBE = 8192


def read_fd(fd: int, limit: int) -> bytes:
    """Up to `limit` bytes from an open file descriptor."""
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 64 * _KIB))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _walk(base: Path, path_glob: str | None) -> Iterator[tuple[str, str]]:
    """(relative posix path, absolute path) of the tree's non-symlink files, `.git` pruned, sorted."""
    for top, dirs, files in os.walk(base, followlinks=False):
        dirs[:] = sorted(
            d for d in dirs if d.casefold() != ".git" and not os.path.islink(os.path.join(top, d))
        )
        for name in sorted(files):
            full = os.path.join(top, name)
            rel = os.path.relpath(full, base).replace(os.sep, "/")
            if path_glob and not (
                fnmatch.fnmatchcase(rel, path_glob)
                or ("/" not in path_glob and fnmatch.fnmatchcase(name, path_glob))
            ):
                continue
            yield rel, full


def _text_of(full: str, max_bytes: int) -> str | None:
    """The file's text, or None for a symlink, special, binary or too large file."""
    try:
        fd = os.open(full, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        data = read_fd(fd, max_bytes)
    finally:
        os.close(fd)
    return None if b"\0" in data[:_BINARY_PROBE] else data.decode("utf-8", "replace")


def search_tree(
    base: Path, pattern: str, *, path_glob: str | None, regex: bool, max_matches: int, max_file_bytes: int
) -> SearchOutcome:
    """Search the tree under `base` line by line; stop at `max_matches`."""
    compiled = re.compile(pattern) if regex else None
    hits: list[SearchHit] = []
    searched = skipped = 0
    for rel, full in _walk(base, path_glob):
        text = _text_of(full, max_file_bytes)
        if text is None:
            skipped += 1
            continue
        searched += 1
        for number, line in enumerate(text.split("\n"), start=1):
            found = compiled.search(line) if compiled is not None else pattern in line
            if found:
                hits.append(SearchHit(rel, number, line.removesuffix("\r")))
                if len(hits) >= max_matches:
                    return SearchOutcome(tuple(hits), searched, skipped, capped=True)
    return SearchOutcome(tuple(hits), searched, skipped, capped=False)


def search_child() -> None:
    """Entry point of the regex search child: a JSON request on stdin, a JSON outcome on stdout."""
    request = json.loads(sys.stdin.read())
    outcome = search_tree(Path(request.pop("base")), **request)
    hits = [[h.path, h.line_no, h.text] for h in outcome.hits]
    sys.stdout.write(json.dumps([hits, outcome.files_searched, outcome.files_skipped, outcome.capped]) + "\n")
