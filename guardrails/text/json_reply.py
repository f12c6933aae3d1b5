"""The one JSON object a model's reply is read from; several candidates that disagree make it invalid.

A reply may hold its answer bare, in a code fence or inside prose, and it may quote JSON it was shown
(a PR description's "approval", a forged fence). Taking the first fence, or the first object, lets a
quotation decide the verdict. So every top-level JSON object of the reply is found, wherever it stands:
- a candidate is an object holding a `"verdict"` key at any depth;
- one candidate, or several that are identical (one meaning, written twice: refusing them would only cost
  a repair call), is the answer;
- candidates that differ in anything (verdict, findings, claims) are ambiguous: no answer;
- a `"verdict":` key outside every object that could be read (an answer broken around a quoted one that
  parses) is ambiguous too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_DECODER = json.JSONDecoder(strict=False)  # local grammars let raw newlines into strings
_VERDICT_KEY = re.compile(r"""["']verdict["']\s*:""", re.IGNORECASE)
_OBJECT_START = re.compile(r'\{\s*["}]')  # only where an object can begin: a key or an empty object
# Replies are bounded by max_tokens; a reply far longer than any review is not read at all, which also
# bounds the scan (each failed start is retried at the next place an object can begin).
MAX_REPLY_CHARS = 100_000
AMBIGUOUS = "the reply must hold exactly one JSON object with a verdict"


@dataclass(frozen=True, slots=True)
class Found:
    """The one object the reply is read from, or why there is none."""

    body: dict[str, Any] | None
    error: str | None = None


def top_level_objects(text: str) -> list[tuple[int, int, dict[str, Any]]]:
    """Every JSON object of `text` not inside another one, with its span, left to right."""
    found: list[tuple[int, int, dict[str, Any]]] = []
    resume = 0
    for match in _OBJECT_START.finditer(text):
        start = match.start()
        if start < resume:
            continue  # inside an object already read
        try:
            value, end = _DECODER.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            continue
        found.append((start, end, value))  # a value starting with "{" is always an object
        resume = end
    return found


def has_verdict(value: object) -> bool:
    """True when `value` holds a "verdict" key at any depth."""
    if isinstance(value, dict):
        return "verdict" in value or any(has_verdict(v) for v in value.values())
    if isinstance(value, list):
        return any(has_verdict(v) for v in value)
    return False


def review_object(text: str) -> Found:
    """The object the verdict comes from (see the module docstring); never raises on model output."""
    if len(text) > MAX_REPLY_CHARS:
        return Found(None, f"the reply has {len(text)} characters, more than a review can need")
    try:
        objects = top_level_objects(text)
    except RecursionError:
        return Found(None, "the reply nests JSON too deeply")
    spans = [(start, end) for start, end, _ in objects]
    stray = any(
        not any(start <= m.start() < end for start, end in spans) for m in _VERDICT_KEY.finditer(text)
    )
    candidates = {_canonical(v): v for _, _, v in objects if has_verdict(v)}
    if objects and (len(candidates) > 1 or (stray and candidates)):
        count = sum(1 for _, _, v in objects if has_verdict(v)) + (1 if stray else 0)
        return Found(None, f"{AMBIGUOUS}; it holds {count} that disagree (quoted or repeated answers)")
    if candidates:
        return Found(next(iter(candidates.values())))
    if len(objects) == 1:
        return Found(objects[0][2])  # no verdict: the schema check says what is missing
    if objects:
        return Found(None, 'none of the JSON objects in the reply has a "verdict"')
    return Found(None, _why_unreadable(text))


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _why_unreadable(text: str) -> str:
    start = text.find("{")
    if start < 0:
        return "the reply holds no JSON object"
    end = text.rfind("}")
    try:
        json.loads(text[start : end + 1] if end > start else text[start:], strict=False)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except RecursionError:
        return "the reply nests JSON too deeply"
    return "the reply holds no JSON object"
