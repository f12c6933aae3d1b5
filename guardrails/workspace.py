"""Workspace isolation: how git must run on untrusted repositories, and reads confined to a worktree.

The policy here is pure (no git library): the environment and `-c` overrides every git call uses, the
path checks every read goes through, and the `Workspaces` port an adapter implements.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol, TypeVar

from bot.errors import WorkspaceError

T = TypeVar("T")

# Overrides for every git process. A repository under review is hostile: anything git could be made to
# execute from a config, an attribute file or a hook must be switched off or pinned by us.
ISOLATION_ENV: Mapping[str, str] = {
    # Neither the operator's ~/.gitconfig nor /etc/gitconfig: they may define hooks, filters, helpers.
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    # Config smuggled in through the inherited environment is dropped; our `-c` pairs are re-added.
    "GIT_CONFIG_COUNT": "0",
    "GIT_CONFIG_PARAMETERS": "",
    # A daemon has no terminal: a credential prompt would hang the job instead of failing it.
    "GIT_TERMINAL_PROMPT": "0",
    # An empty value stops git falling back to core.askPass or SSH_ASKPASS programs.
    "GIT_ASKPASS": "",
    "SSH_ASKPASS": "",
    # Wins over core.sshCommand from any config; BatchMode makes ssh fail rather than prompt.
    "GIT_SSH_COMMAND": "ssh -o BatchMode=yes",
    # Even if an LFS binary and filter config exist somewhere, never download or run smudge.
    "GIT_LFS_SKIP_SMUDGE": "1",
    # A whitelist that overrides protocol.*.allow: `ext::` (runs a command) and the rest are refused.
    "GIT_ALLOW_PROTOCOL": "file:https:http:ssh",
    # refs/replace could make a SHA show content other than the commit we approved.
    "GIT_NO_REPLACE_OBJECTS": "1",
    # /etc/gitattributes could attach filters or diff drivers to paths.
    "GIT_ATTR_NOSYSTEM": "1",
    # Never page: a pager is a program chosen by configuration.
    "GIT_PAGER": "cat",
}

# `-c key=value` pairs, flattened, to put right after `git` (before the subcommand).
ISOLATION_CONFIG: tuple[str, ...] = (
    # Hooks (post-checkout, reference-transaction …) would run code from wherever hooksPath points.
    "-c",
    "core.hooksPath=/dev/null",
    # fsmonitor is a command git runs on index refreshes (checkout, status, diff against the worktree).
    "-c",
    "core.fsmonitor=false",
    # Submodules are other repositories, possibly with their own hooks: never fetched or checked out.
    "-c",
    "submodule.recurse=false",
    "-c",
    "fetch.recurseSubmodules=false",
    # `ext::` runs an arbitrary command as a transport; also refused by GIT_ALLOW_PROTOCOL.
    "-c",
    "protocol.ext.allow=never",
    # .gitattributes may say `filter=lfs`; an empty driver makes git pass the blob through untouched
    # (a set `process`, even empty, also makes git ignore `smudge`), and required=false keeps the
    # missing filter from being an error. Other driver names have no definition in any config we read.
    "-c",
    "filter.lfs.process=",
    "-c",
    "filter.lfs.smudge=",
    "-c",
    "filter.lfs.clean=",
    "-c",
    "filter.lfs.required=false",
    # A global attributes file could attach filters or diff drivers to any path.
    "-c",
    "core.attributesFile=/dev/null",
    # Drop any configured credential helper (an empty value resets the list): helpers are programs.
    "-c",
    "credential.helper=",
    # Check symlinks out as symlinks, so the path checks below see (and refuse) those that escape.
    "-c",
    "core.symlinks=true",
    # Refuse tree entries that alias `.git` on case-folding or NTFS-like file systems.
    "-c",
    "core.protectNTFS=true",
    "-c",
    "core.protectHFS=true",
    # Bytes as committed: no line-ending conversion that would shift what the reviewer reads.
    "-c",
    "core.autocrlf=false",
    # No background gc/maintenance process outliving the mirror lock or pruning objects a job needs.
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
    # `git log` in the agent's tools must not start gpg to verify signatures.
    "-c",
    "log.showSignature=false",
    # Quiet output: no advice text to trim out of error messages.
    "-c",
    "advice.detachedHead=false",
)

# Full object names only: anything else could be read by git as an option or a rev expression.
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# Up to the last `@` before the path: a password may hold an unescaped `@`.
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s]*@")
# As git decides: a scheme, or a colon before the first slash (scp-like `git@host:owner/repo`).
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://|[^/]+:")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_BINARY_PROBE_BYTES = 8192


@dataclass(frozen=True, slots=True)
class RepoSource:
    """Where a repository comes from: a local path or a clone URL, and a display name (`owner/repo`)."""

    location: str
    name: str


def is_remote(location: str) -> bool:
    """True for a URL (`https://…`, `file://…`) or an scp-like `git@host:path`; False for a local path."""
    return _URL.match(location) is not None


def scrub_credentials(text: str) -> str:
    """Remove the userinfo (`user:token@`) from every URL in `text`."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def sanitise(name: str, *, max_len: int = 60) -> str:
    """A file-name-safe form of `name` (letters, digits, `.`, `_`, `-`), never empty."""
    cleaned = _UNSAFE_NAME.sub("-", name).strip(".-")[:max_len]
    return cleaned or "x"


def mirror_dir_name(source: RepoSource) -> str:
    """The mirror's directory name: the sanitised display name plus a hash of the credential-free location."""
    digest = hashlib.sha256(scrub_credentials(source.location).encode()).hexdigest()[:8]
    return f"{sanitise(source.name)}-{digest}.git"


def check_sha(sha: str) -> str:
    """Return `sha` if it is a full lowercase object name; raise WorkspaceError otherwise."""
    if _SHA.fullmatch(sha) is None:
        raise WorkspaceError(f"not a full commit SHA: {sha[:80]!r}")
    return sha


def check_location(location: str) -> str:
    """Return `location` unless git could read it as an option."""
    if not location or location.startswith("-"):
        raise WorkspaceError(f"refusing repository location {scrub_credentials(location)[:200]!r}")
    return location


def check_checkout_size(total_bytes: int, limit: int) -> None:
    """Refuse a checkout whose files add up to more than `limit` bytes."""
    if total_bytes > limit:
        raise WorkspaceError(f"checkout of {total_bytes} bytes exceeds the {limit}-byte cap")


def safe_path(root: Path, relative: str) -> Path:
    """Resolve `relative` inside `root`, refusing absolute paths, NUL bytes and escapes by `..` or symlink."""
    if "\0" in relative:
        raise WorkspaceError("path contains a NUL byte")
    if PurePosixPath(relative).is_absolute() or Path(relative).is_absolute():
        raise WorkspaceError(f"absolute path refused: {relative!r}")
    try:
        base = root.resolve(strict=True)
        # resolve() follows every symlink component by component, so any escape shows in the result.
        resolved = (base / relative).resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop on Python 3.11/3.12
        raise WorkspaceError(f"cannot resolve {relative!r}: {exc}") from exc
    if not resolved.is_relative_to(base):
        raise WorkspaceError(f"path leaves the worktree: {relative!r}")
    return resolved


def read_text(root: Path, relative: str, *, max_bytes: int) -> str:
    """Read a text file inside `root`: no directories, no files over `max_bytes`, no binary files."""
    path = safe_path(root, relative)
    fd = open_beneath(root.resolve(), path)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise WorkspaceError(f"{relative!r} is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise WorkspaceError(f"{relative!r} is not a regular file")
        if info.st_size > max_bytes:
            raise WorkspaceError(f"{relative!r} has {info.st_size} bytes, over the {max_bytes}-byte cap")
        data = _read_up_to(fd, max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise WorkspaceError(f"{relative!r} grew past the {max_bytes}-byte cap while being read")
    if b"\0" in data[:_BINARY_PROBE_BYTES]:
        raise WorkspaceError(f"{relative!r} is a binary file")
    return data.decode("utf-8", errors="replace")


def _read_up_to(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(fd, min(remaining, 1 << 16))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def open_beneath(base: Path, resolved: Path, *, directory: bool = False) -> int:
    """Open `resolved` (a file, or a directory when `directory`) walking down from `base` without
    following any symlink; returns the descriptor.

    `resolved` has no symlink left in it, so a symlink met now was swapped in after the check: O_NOFOLLOW
    on every component turns that race into an error instead of a read outside the worktree.
    """
    parts = resolved.relative_to(base).parts
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        fd = os.open(base, flags | os.O_DIRECTORY)
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            # O_NONBLOCK keeps a FIFO from blocking the open; fstat then refuses it.
            extra = (os.O_DIRECTORY if directory else os.O_NONBLOCK) if last else os.O_DIRECTORY
            try:
                child = os.open(part, flags | extra, dir_fd=fd)
            finally:
                os.close(fd)
            fd = child
    except OSError as exc:
        raise WorkspaceError(f"cannot open {resolved.relative_to(base)}: {exc.strerror}") from exc
    return fd


class Workspaces(Protocol):
    """Mirrors and per-job worktrees of repositories under review; nothing from them is ever executed.

    Every method raises WorkspaceError for git failures, unknown refs and refused checkouts.
    """

    async def resolve(self, source: RepoSource, ref: str) -> str:
        """The commit SHA a ref or rev expression names in `source`."""
        ...

    async def default_branch(self, source: RepoSource) -> str:
        """The name of the branch `source` treats as its default."""
        ...

    async def fetch(self, source: RepoSource, shas: Sequence[str]) -> Path:
        """Make sure the bare mirror of `source` holds these commits; return the mirror's path."""
        ...

    async def diff(self, source: RepoSource, base_sha: str, head_sha: str) -> tuple[str, bytes]:
        """The merge base of the two commits and the raw `git diff` from it to `head_sha`."""
        ...

    async def diff_stream(
        self, source: RepoSource, base_sha: str, head_sha: str, consume: Callable[[Iterator[bytes]], T]
    ) -> tuple[str, T]:
        """The merge base, and what `consume` (run in a thread) makes of the raw `git diff` from it to
        `head_sha`, handed over in pieces while git writes it."""
        ...

    async def read_blob(self, source: RepoSource, sha: str, path: str, *, max_bytes: int) -> bytes | None:
        """The first `max_bytes` of `path` at commit `sha` (fetched), or None when it is not a file there."""
        ...

    def worktree(self, source: RepoSource, sha: str, job_id: str) -> AbstractAsyncContextManager[Path]:
        """A detached checkout of `sha` for one job, removed on exit (also on error or cancellation)."""
        ...

    async def remove_orphans(self, live_jobs: Collection[str]) -> list[Path]:
        """Remove the worktrees of jobs not in `live_jobs`; return what was removed."""
        ...
