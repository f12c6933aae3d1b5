"""Matching reported findings to expected ones, and precision and recall over the matching.

A reported finding matches an expected one when the paths are equal and its line falls inside the
expected range (a multi-line finding matches when its span overlaps the range). Each expected finding is
matched at most once and each reported one at most once (a maximum matching), and a finding reported
twice on the same line counts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """An expected finding: a path and an inclusive line range of the head file."""

    path: str
    start: int
    end: int


@dataclass(frozen=True, slots=True, order=True)
class Reported:
    """A finding the reviewer reported: a path, its line, and the first line of a multi-line finding."""

    path: str
    line: int
    start_line: int | None = None


@dataclass(frozen=True, slots=True)
class Ratio:
    """`hits` out of `total`; `value` is None when there was nothing to count (never a made-up 0 or 1)."""

    hits: int
    total: int

    @property
    def value(self) -> float | None:
        return self.hits / self.total if self.total else None

    def __add__(self, other: Ratio) -> Ratio:
        return Ratio(self.hits + other.hits, self.total + other.total)


def matches(found: Reported, expected: Span) -> bool:
    """True when `found` lies on `expected`'s path and its line (or span) meets the expected range."""
    if found.path != expected.path:
        return False
    first = found.start_line if found.start_line is not None else found.line
    return first <= expected.end and found.line >= expected.start


def unique(findings: Sequence[Reported]) -> list[Reported]:
    """The findings without duplicates, in a stable order."""
    return sorted(set(findings))


def matched(reported: Sequence[Reported], expected: Sequence[Span]) -> int:
    """How many expected findings the reported ones cover, each on either side used at most once."""
    found = unique(reported)
    owner: dict[int, int] = {}  # expected index -> reported index

    def assign(r: int, seen: set[int]) -> bool:
        # Kuhn's augmenting path: small sets, and a greedy match could miss a valid pairing.
        for e, span in enumerate(expected):
            if e in seen or not matches(found[r], span):
                continue
            seen.add(e)
            if e not in owner or assign(owner[e], seen):
                owner[e] = r
                return True
        return False

    return sum(1 for r in range(len(found)) if assign(r, set()))


def precision(reported: Sequence[Reported], expected: Sequence[Span]) -> Ratio:
    """Matched reported findings out of distinct reported findings."""
    return Ratio(matched(reported, expected), len(unique(reported)))


def recall(reported: Sequence[Reported], expected: Sequence[Span]) -> Ratio:
    """Matched expected findings out of expected findings."""
    return Ratio(matched(reported, expected), len(expected))
