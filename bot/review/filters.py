"""Which changed files a review reads: binary, lock, vendored, generated, excluded or oversized files are
skipped with a reason, so coverage can say what was left out and why.

What the PR controls never decides what is skipped: "generated" comes from the server's globs, the base
commit's `.gitattributes` and markers that were already on the base, never from a marker or an attribute
the PR adds; a file that git calls binary but that was text on the base, or has a text name or text
content, is `nul_in_text`, not `binary`. Every skip is listed, and none merges without a human.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from bot.domain import DiffLine, FileDiff, HunkLines, LineKind, SkippedFile, SkipReason, count_kind
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
_MARKER_DEPTH = 20  # only near the top of the file, where tools put the marker
_TEXT = operator.attrgetter("text")
SUBMODULE_MODE = "160000"
SYMLINK_MODE = "120000"
# Names that are text whatever their bytes: a NUL in one of them is suspicious, not "binary".
_TEXT_SUFFIXES = frozenset({
    ".py", ".pyi", ".pyx", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".bat", ".cmd", ".js", ".mjs",
    ".cjs", ".jsx", ".ts", ".tsx", ".vue", ".svelte", ".json", ".yml", ".yaml", ".toml", ".ini", ".cfg",
    ".conf", ".env", ".properties", ".xml", ".html", ".htm", ".css", ".scss", ".less", ".md", ".rst",
    ".txt", ".csv", ".sql", ".go", ".rs", ".rb", ".erb", ".java", ".kt", ".kts", ".scala", ".groovy",
    ".gradle", ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".fs", ".php", ".pl", ".pm", ".lua", ".r",
    ".swift", ".m", ".mm", ".dart", ".ex", ".exs", ".erl", ".hs", ".clj", ".tf", ".hcl", ".nix", ".mk",
    ".cmake", ".proto", ".graphql", ".lock", ".csproj", ".gemspec", ".svg"
})  # fmt: skip
_TEXT_NAMES = frozenset({
    "makefile", "dockerfile", "jenkinsfile", "gemfile", "rakefile", "procfile", "vagrantfile",
    "brewfile", "codeowners", "pipfile", "justfile", ".gitattributes", ".gitignore", ".gitmodules",
    ".npmrc", ".yarnrc", ".env"
})  # fmt: skip


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


@dataclass(frozen=True, slots=True)
class BaseFacts:
    """What the base commit, not the PR, says about the changed paths."""

    generated: tuple[str, ...] = ()  # globs the base's .gitattributes marks generated, -diff or binary
    vendored: tuple[str, ...] = ()  # globs the base's .gitattributes marks linguist-vendored
    textual: frozenset[str] = field(default_factory=frozenset)  # git says binary, but the bytes are text


def from_gitattributes(text: str) -> BaseFacts:
    """The generated and vendored globs of a `.gitattributes` (macros and negations are ignored)."""
    generated: list[str] = []
    vendored: list[str] = []
    for raw in text.splitlines():
        parts = raw.split()
        if not parts or parts[0].startswith("#"):
            continue
        pattern, attributes = parts[0], set(parts[1:])
        if attributes & {"linguist-generated", "linguist-generated=true", "-diff", "binary"}:
            generated.append(pattern)
        if attributes & {"linguist-vendored", "linguist-vendored=true"}:
            vendored.append(pattern)
    return BaseFacts(tuple(generated), tuple(vendored))


def looks_like_text(data: bytes) -> bool:
    """True when `data` is UTF-8 text once its NUL bytes are taken out (a NUL hides text from git diff)."""
    try:
        text = data.replace(b"\0", b"").decode("utf-8")
    except UnicodeDecodeError:
        return False
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f")
    return bool(text) and controls * 100 <= len(text)


def has_text_name(path: str) -> bool:
    """True for a path whose name says it is text (a source file, a config file, a build file)."""
    name = PurePosixPath(path).name.lower()
    suffix = PurePosixPath(name).suffix
    return name in _TEXT_NAMES or name.startswith("dockerfile") or suffix in _TEXT_SUFFIXES


def is_submodule(diff: FileDiff) -> bool:
    return SUBMODULE_MODE in (diff.old_mode, diff.new_mode)


def _has_base_marker(diff: FileDiff) -> bool:
    """A generated marker the base already had: one on an unchanged line near the top (one the PR adds
    is the PR's claim, and the PR does not decide what is reviewed)."""
    for hunk in diff.hunks:
        if isinstance(hunk.lines, HunkLines) and _unmarked(hunk.lines):
            continue
        for line in hunk.lines:
            if line.new_no is None:
                continue
            if line.new_no > _MARKER_DEPTH:
                break  # a hunk numbers its new side in increasing order: the rest are deeper still
            if line.kind is LineKind.CONTEXT and _GENERATED_MARKER.search(line.text):
                return True
    return False


def _unmarked(lines: HunkLines) -> bool:
    """True when no line of `lines` can hold a base marker, seen without building a line: they all lie
    deeper, or their whole text lacks the word every marker holds (in any case)."""
    return lines.new_start > _MARKER_DEPTH or "generated" not in lines.text.lower()


def _policy_reason(diff: FileDiff, policy: FilterPolicy, base: BaseFacts) -> SkipReason | None:
    """Why `diff` is skipped by configuration or by its nature, ignoring size and count limits."""
    path = diff.path
    if is_submodule(diff):
        return SkipReason.SUBMODULE
    if diff.is_binary:
        names = {p for p in (diff.old_path, diff.new_path) if p}
        textual = any(has_text_name(p) for p in names) or bool(names & base.textual)
        return SkipReason.NUL_IN_TEXT if textual else SkipReason.BINARY
    reason = _glob_reason(path, policy, base)
    if reason is not None and diff.old_path not in (None, path):
        # Renamed or copied: what was ordinary on the base stays reviewed under its new name.
        reason = reason if _glob_reason(diff.old_path, policy, base) is not None else None
    if reason is None and _has_base_marker(diff):
        reason = SkipReason.GENERATED
    return reason  # a pure rename or mode change is shown too: its header names both paths and modes


def _glob_reason(path: str, policy: FilterPolicy, base: BaseFacts) -> SkipReason | None:
    """Why the configured or base-attribute globs skip `path`, if they do."""
    if matches(path, policy.lock_files):
        return SkipReason.LOCK_FILE
    if matches(path, (*policy.vendored, *base.vendored)):
        return SkipReason.VENDORED
    if matches(path, (*policy.generated, *base.generated)):
        return SkipReason.GENERATED
    if matches(path, policy.exclude):
        return SkipReason.EXCLUDED
    return None


def _too_large(diff: FileDiff, policy: FilterPolicy) -> bool:
    # Added + removed is every line but the context ones; counted and measured by C loops, as this runs
    # over every line of the diff.
    changed = size = 0
    for hunk in diff.hunks:
        lines = hunk.lines
        changed += len(lines) - count_kind(lines, LineKind.CONTEXT)
        size += _text_size(lines)
    return changed > policy.max_file_lines or size > policy.max_file_bytes


def _text_size(lines: Sequence[DiffLine]) -> int:
    """The length of the lines' texts together."""
    if isinstance(lines, HunkLines):
        return len(lines.text) - 2 * len(lines) + 1  # less each line's sign and the newlines between
    return sum(map(len, map(_TEXT, lines)))


def apply(
    files: Sequence[FileDiff], policy: FilterPolicy, base: BaseFacts | None = None
) -> tuple[list[FileDiff], list[SkippedFile]]:
    """Split `files` into those to review (in order, at most `max_files`) and those skipped, with reasons."""
    kept: list[FileDiff] = []
    skipped: list[SkippedFile] = []
    for diff in files:
        reason = _policy_reason(diff, policy, base or BaseFacts())
        if reason is None and _too_large(diff, policy):
            reason = SkipReason.TOO_LARGE
        if reason is None and len(kept) >= policy.max_files:
            reason = SkipReason.TOO_MANY_FILES
        if reason is None:
            kept.append(diff)
        else:
            skipped.append(SkippedFile(diff.path, reason))
    return kept, skipped
