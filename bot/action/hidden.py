"""The hidden blocks Quorum writes into its own reviews and comments, and how a later run reads them back.

Each block is an HTML comment (`<!-- quorum:…=… -->`) holding base64 or digits only, so no `-->` can end it
early; the model's text in a body is made inert (`review_text`), so only Quorum writes one there.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from bot.errors import InputError
from statemachine import records

# The PR record's open blockers, carried in Quorum's own review (base64: no `-->` can end it early).
# Text of the model's in a body is made inert (`review_text`), so only Quorum writes an HTML comment there.
_BLOCKERS = re.compile(r"<!-- quorum:blockers=(?P<data>[A-Za-z0-9+/=]*) -->")
# What the rounds of that head were shown (`review_coverage.Seen`), for the merge gate of a later run.
_SHOWN = re.compile(r"<!-- quorum:shown=(?P<data>[A-Za-z0-9+/=]*) -->")
_SHOWN_MAX_CHARS = 30_000  # a review body holds 65,536 characters: a larger record is left out (fails closed)
# The comment ids of commands already handled, and the head a maintainer's `/quorum merge` approved, on
# each comment Quorum posts (digits, spaces and a hex SHA only).
_SEEN = re.compile(
    r"\n?<!-- quorum:seen=(?P<ids>[0-9 ]*)(?:;merge=(?P<merge>[0-9a-f]{40}|[0-9a-f]{64}))? -->"
)


def blockers_tag(encoded: str) -> str:
    """The hidden block that carries a record's open blockers (`records.encode_blockers`) in a review."""
    return f"<!-- quorum:blockers={base64.b64encode(encoded.encode()).decode()} -->" if encoded else ""


def shown_tag(seen: str) -> str:
    """The hidden block that carries what a head's rounds were shown (the record's `seen`) in a review;
    empty when there is none or it is too large for a review body (the next run then asks a human)."""
    tag = f"<!-- quorum:shown={base64.b64encode(seen.encode()).decode()} -->" if seen else ""
    return tag if len(tag) <= _SHOWN_MAX_CHARS else ""


def shown(body: str) -> str:
    """The record's `seen` a review carries; "" when absent or unreadable (read as nothing shown)."""
    found = _SHOWN.search(body)
    if found is None:
        return ""
    try:
        return base64.b64decode(found["data"], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def seen_tag(commands_seen: str, merge_sha: str = "") -> str:
    """The hidden line that carries a record's handled command comments, and the head a `/quorum merge`
    approved, in a comment of Quorum's."""
    if not commands_seen and not merge_sha:
        return ""
    return f"<!-- quorum:seen={commands_seen}" + (f";merge={merge_sha}" if merge_sha else "") + " -->"


def without_seen(body: str) -> str:
    """A comment's text without its handled-commands line (to compare what a reader sees)."""
    return _SEEN.sub("", body).strip()


def handled(own_comments: Sequence[str]) -> tuple[str, str]:
    """The handled command comments and the `/quorum merge` head the newest of Quorum's comments carries
    (empty when none does)."""
    for body in reversed(own_comments):
        found = _SEEN.search(body)
        if found is not None:
            return " ".join(found["ids"].split()), found["merge"] or ""
    return "", ""


def blockers(body: str) -> str:
    """The open blockers a review carries; `InputError` when the block is unreadable (a review whose
    blockers cannot be read must stop the job, never drop them)."""
    found = _BLOCKERS.search(body)
    if found is None:
        return ""
    try:
        text = base64.b64decode(found["data"], validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InputError("unreadable open blockers in a review of Quorum's") from exc
    records.decode_blockers(text)  # raises InputError on anything `encode_blockers` did not write
    return text
