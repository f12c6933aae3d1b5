"""The path glob language of filters and protected paths: one definition, used by both.

`*` and `?` stay within a directory, `[...]` is a character class, `**` spans any number of directories.
A pattern without `/` matches the last path component at any depth (`*.min.js`, `setup.py`); one with a
`/` is anchored at the repository root (a leading `/` is allowed). A match on a directory covers what is
in it. The two rules err toward matching more, which for protected paths means protecting more.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence


@functools.lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile a path glob: `*` and `?` stay within a directory, `**` spans any number of them.

    A pattern without `/` matches the last path component at any depth (`*.min.js`); one with a `/` is
    anchored at the repository root (a leading `/` is allowed). A match on a directory covers what is in it.
    """
    body = pattern.strip()
    anchored = body.startswith("/") or "/" in body.strip("/")
    segments = body.strip("/").split("/")
    parts: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            parts.append(".*" if last else "(?:[^/]*/)*")
        else:
            parts.append(_segment(segment) + ("" if last else "/"))
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(prefix + "".join(parts) + "(?:/.*)?", re.DOTALL)


def _segment(segment: str) -> str:
    """One path component of a glob as a regex: `*`, `?` and `[…]` classes, the rest literal."""
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            while i + 1 < len(segment) and segment[i + 1] == "*":
                i += 1  # `**` inside a component is just `*`
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := segment.find("]", i + 2)) != -1:
            body = segment[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = re.escape(body[1:] if negate else body).replace("\\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def matches_any(path: str, patterns: Sequence[str]) -> bool:
    """True when any glob in `patterns` matches `path` (a leading `/` on the path is ignored)."""
    return any(compile_glob(pattern).fullmatch(path.lstrip("/")) for pattern in patterns)
