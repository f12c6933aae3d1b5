"""Whether a token looks random (a key) rather than a name: lexeme length, case changes and entropy."""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter

_HEX = re.compile(r"[0-9a-fA-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_DIGIT = re.compile(r"\d")
_SEPARATORS = re.compile(r"[/_-]")  # `blob/<sha>/`, `pack-<sha>.idx`: an object name inside a path
# Lexemes of a name: acronyms, capitalised or lowercase words, numbers.
_LEXEME = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_MAX_RANDOM_LEXEME = 3.5
_GIT_OBJECT_LENGTHS = (40, 64)  # SHA-1 and SHA-256 object names: everywhere in reviews, not secrets


def shannon_entropy(text: str) -> float:
    """Bits per character of `text`'s own character distribution."""
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values()) if size else 0.0


def _class_changes(text: str) -> float:
    """Share of neighbouring letters/digits that switch between upper, lower and digit.

    Random tokens switch about every other character; identifiers only at word humps.
    """
    classes = [0 if c.isdigit() else 1 if c.isupper() else 2 for c in _NOT_ALNUM.sub("", text)]
    changes = sum(1 for a, b in itertools.pairwise(classes) if a != b)
    return changes / max(len(classes) - 1, 1)


def _is_git_object(text: str) -> bool:
    return len(text) in _GIT_OBJECT_LENGTHS and _HEX.fullmatch(text) is not None


def looks_random(token: str) -> bool:
    """True when `token` (20+ characters of a base64/hex alphabet) looks like a key rather than a name.

    Tuned on a million lines of Python and on random base64: names are made of words (a mean lexeme of
    4+ characters, `PytestRemovedIn10Warning`), random base64 of 1-2 character runs (p99.9 under 3.5 from
    24 characters on), and random text switches case or digit often and has high entropy.
    """
    if _HEX.fullmatch(token):
        if len(token) < 32 or _is_git_object(token):
            return False
        return _DIGIT.search(token) is not None and shannon_entropy(token) >= 3.3
    # Cheapest tests first: most candidates are names or rules of dashes.
    lexemes = _LEXEME.findall(token)
    if not lexemes or sum(map(len, lexemes)) >= _MAX_RANDOM_LEXEME * len(lexemes):
        return False
    if _UUID.fullmatch(token) or any(_is_git_object(part) for part in _SEPARATORS.split(token)):
        return False
    has_digit = _DIGIT.search(token) is not None
    # Entropy is capped by the token's length: demand most of what that length allows, at most 4 bits.
    threshold = min(4.0, 0.8 * math.log2(len(token)))
    return _class_changes(token) >= (0.3 if has_digit else 0.45) and shannon_entropy(token) >= threshold
