"""Which changed files a review reads: binary, lock, vendored, generated, excluded or oversized files are
skipped with a reason, so coverage can say what was left out and why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain import FileDiff, LineKind, SkippedFile, SkipReason
from guardrails import globs

DEFAULT_LOCK_FILES: tuple[str, ...] = (
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "pdm.lock",
    "Cargo.lock",
    "go.sum",
    "Gemfile.lock",
    "composer.lock",
    "mix.lock",
    "pubspec.lock",
    "Podfile.lock",
    "packages.lock.json",
    "flake.lock",
)
DEFAULT_GENERATED: tuple[str, ...] = (
    "*.min.js",
    "*.min.css",
    "*.map",
    "*_pb2.py",
    "*_pb2_grpc.py",
    "*.pb.go",
    "*.generated.*",
    "**/__generated__/**",
    "**/__snapshots__/**",
)
DEFAULT_VENDORED: tuple[str, ...] = ("**/vendor/**", "**/third_party/**", "**/node_modules/**")

# Markers that tools write at the top of what they generate (Go's convention, `@generated`, prose).
_GENERATED_MARKER = re.compile(r"@generated\b|Code generated .* DO NOT EDIT|(?i:\bauto-?generated\b)")
_MARKER_LINES = 5  # how many added lines to look at
_MARKER_DEPTH = 20  # … and only near the top of the file, where tools put the marker


@dataclass(frozen=True, slots=True)
class FilterPolicy:
    """What to skip. Globs match the path; a glob without `/` matches the file name at any depth."""

    exclude: tuple[str, ...] = ()
    lock_files: tuple[str, ...] = DEFAULT_LOCK_FILES
    generated: tuple[str, ...] = DEFAULT_GENERATED
    vendored: tuple[str, ...] = DEFAULT_VENDORED
    max_files: int = 50
    max_file_lines: int = 1500  # added + removed
    max_file_bytes: int = 200_000  # total length of the file's diff line texts


def matches(path: str, patterns: Sequence[str]) -> bool:
    """True when any glob in `patterns` matches `path` (the glob language of `guardrails.globs`)."""
    return globs.matches_any(path, patterns)


def _has_generated_marker(diff: FileDiff) -> bool:
    seen = 0
    for hunk in diff.hunks:
        for line in hunk.lines:
            if line.kind is not LineKind.ADDED:
                continue
            if line.new_no is None or line.new_no > _MARKER_DEPTH or seen >= _MARKER_LINES:
                return False
            if _GENERATED_MARKER.search(line.text):
                return True
            seen += 1
    return False


def _policy_reason(diff: FileDiff, policy: FilterPolicy) -> SkipReason | None:
    """Why `diff` is skipped by configuration or by its nature, ignoring size and count limits."""
    path = diff.path
    if diff.is_binary:
        return SkipReason.BINARY
    if matches(path, policy.lock_files):
        return SkipReason.LOCK_FILE
    if matches(path, policy.vendored):
        return SkipReason.VENDORED
    if matches(path, policy.generated) or _has_generated_marker(diff):
        return SkipReason.GENERATED
    if matches(path, policy.exclude):
        return SkipReason.EXCLUDED
    if not diff.hunks:
        return SkipReason.NO_TEXT_CHANGE
    return None


def _too_large(diff: FileDiff, policy: FilterPolicy) -> bool:
    if diff.added + diff.removed > policy.max_file_lines:
        return True
    size = sum(len(line.text) for hunk in diff.hunks for line in hunk.lines)
    return size > policy.max_file_bytes


def apply(files: Sequence[FileDiff], policy: FilterPolicy) -> tuple[list[FileDiff], list[SkippedFile]]:
    """Split `files` into those to review (in order, at most `max_files`) and those skipped, with reasons."""
    kept: list[FileDiff] = []
    skipped: list[SkippedFile] = []
    for diff in files:
        reason = _policy_reason(diff, policy)
        if reason is None and _too_large(diff, policy):
            reason = SkipReason.TOO_LARGE
        if reason is None and len(kept) >= policy.max_files:
            reason = SkipReason.TOO_MANY_FILES
        if reason is None:
            kept.append(diff)
        else:
            skipped.append(SkippedFile(diff.path, reason))
    return kept, skipped
