"""The agent's `Worktree` on a real checkout: confined reads, a Python search, isolated git, static analysers.

Every path goes through `workspace.safe_path` (relative only, no `..` or symlink out of the tree) and is
then opened component by component with O_NOFOLLOW, so a symlink swapped in after the check is refused.
`.git` is never read or listed. Git runs as an argv list with the isolation environment and `-c` overrides
of guardrails/workspace.py, in the worktree, under a timeout, its output capped. A regex search runs in a
child Python process (`-I`, so nothing from the tree can be imported) that is killed at its timeout:
Python's `re` cannot be interrupted, and a pathological pattern must not keep a thread busy forever.

Analysers are argv lists run with the changed files appended (as `./path`, so none reads as an option),
`cwd` = the worktree, a clean environment and a timeout. Only analysers that *read* files are acceptable
(for example `ruff check --isolated --no-cache --output-format=concise`): a test runner, a type checker
that imports plugins, or anything that honours configuration from the tree would execute the PR's code or
let it point the tool at files outside the tree. `--isolated` makes ruff ignore the PR's configuration.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import re
import shlex
import shutil
import signal
import stat
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.adapters.git import tree_search
from bot.errors import WorkspaceError
from bot.ports import BlameLine, Entry, EntryKind, LogEntry, SearchHit, SearchOutcome
from config import sections
from guardrails import workspace

_KIB = 1024
# Beyond the workspace isolation: no external diff or pager program, no blame ignore file from config.
_EXTRA_CONFIG = ("-c", "diff.external=", "-c", "core.pager=cat", "-c", "blame.ignoreRevsFile=")
_SEARCH_CHILD = "from bot.adapters.git import tree_search; tree_search.search_child()"
_MAX_ENTRIES = 2000
_ONLY_LINES = re.compile(r"has only (\d+) lines?")


def parse_analysers(commands: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Argv lists from configured command lines; a bare program name is resolved on PATH once, here."""
    parsed = []
    for command in commands:
        argv = shlex.split(command)
        if not argv:
            continue
        found = shutil.which(argv[0]) if "/" not in argv[0] else None
        parsed.append((found or argv[0], *argv[1:]))
    return tuple(parsed)


@dataclass(frozen=True, slots=True)
class _Output:
    status: int | None
    data: bytes
    truncated: bool
    timed_out: bool


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the whole group: an analyser's children die too


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while size <= cap:
        chunk = await stream.read(64 * _KIB)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:cap], size > cap


async def _run_capped(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout_s: float, cap: int, stdin: bytes = b""
) -> _Output:
    """Run `argv` (no shell) with stdout+stderr captured up to `cap` bytes; kill it at the timeout."""
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, env=dict(env), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    data, truncated, timed_out = b"", False, False
    try:
        async with asyncio.timeout(timeout_s):
            process.stdin.write(stdin)
            with contextlib.suppress(ConnectionError):
                await process.stdin.drain()
            process.stdin.close()
            data, truncated = await _read_capped(process.stdout, cap)
            if truncated:
                _kill(process)
            await process.wait()
    except TimeoutError:
        timed_out = True
    finally:
        if process.returncode is None:
            _kill(process)
        await process.stdout.read()  # EOF once the process is gone; leaves no transport open
        await process.wait()
    return _Output(None if timed_out else process.returncode, data, truncated, timed_out)


class GitWorktreeTools:
    """`Worktree` on a checked-out worktree at `root` (read-only; nothing from it is executed)."""

    def __init__(
        self,
        root: Path,
        *,
        git_env: Mapping[str, str] = workspace.ISOLATION_ENV,
        analysers: Sequence[Sequence[str]] = (),
        git_executable: str = "git",
        python_executable: str = sys.executable,
        git_timeout_s: float = 20.0,
        search_timeout_s: float = 20.0,
        analyser_timeout_s: float = 20.0,
        max_output_bytes: int = 256 * _KIB,
        max_search_file_bytes: int = 1024 * _KIB,
    ) -> None:
        self._base = root.resolve()
        self._git = git_executable
        self._python = python_executable
        # A fixed PATH and locale: nothing from the operator's environment, nothing the repository sets.
        self._git_env = {"PATH": os.defpath, "LC_ALL": "C", **git_env, "GIT_LITERAL_PATHSPECS": "1"}
        self._clean_env = {"PATH": os.defpath, "LC_ALL": "C.UTF-8", "NO_COLOR": "1"}
        self._analysers = tuple(tuple(argv) for argv in analysers if argv)
        self._git_timeout_s = git_timeout_s
        self._search_timeout_s = search_timeout_s
        self._analyser_timeout_s = analyser_timeout_s
        self._max_output = max_output_bytes
        self._max_search_file = max_search_file_bytes

    @classmethod
    def from_settings(cls, root: Path, agent: sections.AgentSettings) -> GitWorktreeTools:
        """Tools on the worktree at `root` with the analysers configured in `[agent]`."""
        return cls(root, analysers=parse_analysers(agent.analysers))

    @property
    def analysers_configured(self) -> bool:
        """Whether any analyser is configured."""
        return bool(self._analysers)

    def _resolve(self, rel_path: str) -> Path:
        path = workspace.safe_path(self._base, rel_path or ".")
        if any(part.casefold() == ".git" for part in path.relative_to(self._base).parts):
            raise WorkspaceError("the .git directory is off limits")
        return path

    def _rel(self, rel_path: str) -> str:
        """The checked path as git should see it ("" for the root)."""
        relative = self._resolve(rel_path).relative_to(self._base).as_posix()
        return "" if relative == "." else relative

    async def read_bytes(self, rel_path: str, max_bytes: int) -> bytes:
        """A regular file's bytes; its size is checked (fstat) before anything is read."""
        return await asyncio.to_thread(self._read_sync, rel_path, max_bytes)

    def _read_sync(self, rel_path: str, max_bytes: int) -> bytes:
        fd = workspace.open_beneath(self._base, self._resolve(rel_path))
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                raise WorkspaceError("is a directory (use list_dir)")
            if not stat.S_ISREG(info.st_mode):
                raise WorkspaceError("not a regular file")
            if info.st_size > max_bytes:
                raise WorkspaceError(f"file has {info.st_size} bytes, over the {max_bytes}-byte cap; refused")
            data = tree_search.read_fd(fd, max_bytes + 1)
        finally:
            os.close(fd)
        if len(data) > max_bytes:
            raise WorkspaceError(f"file grew past the {max_bytes}-byte cap while being read")
        return data

    async def list_dir(self, rel_path: str) -> list[Entry]:
        """Names, kinds and sizes (symlinks not followed), `.git` hidden, sorted by name."""
        return await asyncio.to_thread(self._list_sync, rel_path)

    def _list_sync(self, rel_path: str) -> list[Entry]:
        fd = workspace.open_beneath(self._base, self._resolve(rel_path), directory=True)
        entries = []
        try:
            for name in sorted(os.listdir(fd))[:_MAX_ENTRIES]:
                if name.casefold() == ".git":
                    continue
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                kind = (
                    EntryKind.DIR if stat.S_ISDIR(info.st_mode)
                    else EntryKind.FILE if stat.S_ISREG(info.st_mode)
                    else EntryKind.SYMLINK if stat.S_ISLNK(info.st_mode)
                    else EntryKind.OTHER
                )  # fmt: skip
                entries.append(Entry(name, kind, info.st_size))
        finally:
            os.close(fd)
        return entries

    async def search(
        self, pattern: str, *, path_glob: str | None, regex: bool, max_matches: int
    ) -> SearchOutcome:
        """A fixed-string search in a thread, or a regex search in a child process killed at its timeout."""
        if not regex:
            async with asyncio.timeout(self._search_timeout_s):
                return await asyncio.to_thread(
                    tree_search.search_tree, self._base, pattern, path_glob=path_glob, regex=False,
                    max_matches=max_matches, max_file_bytes=self._max_search_file,
                )  # fmt: skip
        request = {
            "base": str(self._base), "pattern": pattern, "path_glob": path_glob, "regex": True,
            "max_matches": max_matches, "max_file_bytes": self._max_search_file,
        }  # fmt: skip
        output = await _run_capped(
            [self._python, "-I", "-c", _SEARCH_CHILD], cwd=Path("/"), env=self._clean_env,
            timeout_s=self._search_timeout_s, cap=16 * self._max_output, stdin=json.dumps(request).encode(),
        )  # fmt: skip
        if output.timed_out:
            raise WorkspaceError(f"search timed out after {self._search_timeout_s:g}s; use a simpler pattern")
        if output.status != 0 or output.truncated:
            raise WorkspaceError(f"search failed (exit {output.status})")
        hits, searched, skipped, capped = json.loads(output.data.decode().strip().splitlines()[-1])
        found = tuple(SearchHit(path, int(line), text) for path, line, text in hits)
        return SearchOutcome(found, int(searched), int(skipped), bool(capped))

    async def _git_run(self, *args: str) -> str:
        argv = [self._git, "-C", str(self._base), *workspace.ISOLATION_CONFIG, *_EXTRA_CONFIG, *args]
        output = await _run_capped(
            argv, cwd=self._base, env=self._git_env, timeout_s=self._git_timeout_s, cap=self._max_output
        )
        text = output.data.decode("utf-8", "replace")
        if output.timed_out:
            raise WorkspaceError(f"git {args[0]} timed out after {self._git_timeout_s:g}s")
        if output.status != 0:
            raise WorkspaceError(f"git {args[0]} failed: {text.strip()[-300:]}")
        return text

    async def git_log(self, rel_path: str, n: int) -> list[LogEntry]:
        """The last `n` commits of HEAD touching `rel_path` (no patches, no signatures, no textconv)."""
        relative = await asyncio.to_thread(self._rel, rel_path)
        text = await self._git_run(
            "log", "--no-color", "--no-textconv", "--no-ext-diff", "--date=short",
            "--format=%H%x1f%ad%x1f%an%x1f%s%x1e", f"--max-count={n}", "HEAD", "--",
            *([relative] if relative else []),
        )  # fmt: skip
        entries = []
        for record in text.split("\x1e"):
            fields = record.strip("\n").split("\x1f")
            if len(fields) == 4:
                entries.append(LogEntry(*fields))
        return entries

    async def git_blame(self, rel_path: str, start: int, end: int) -> list[BlameLine]:
        """Porcelain blame of lines `start`..`end` of HEAD's version of `rel_path`."""
        relative = await asyncio.to_thread(self._rel, rel_path)
        if not relative:
            raise WorkspaceError("blame needs a file")
        try:
            text = await self._blame(relative, start, end)
        except WorkspaceError as exc:
            # A range past the end is the model's guess at the length: blame what there is.
            shorter = _ONLY_LINES.search(str(exc))
            if shorter is None or int(shorter.group(1)) < start:
                raise
            text = await self._blame(relative, start, int(shorter.group(1)))
        return _parse_blame(text)

    async def _blame(self, relative: str, start: int, end: int) -> str:
        return await self._git_run(
            "blame", "--porcelain", "--no-textconv", "-L", f"{start},{end}", "HEAD", "--", relative
        )

    async def analyse(self, paths: Sequence[str]) -> str:
        """Each analyser's exit status and output, on the changed files that are regular files in the tree."""
        targets = await asyncio.to_thread(self._analysable, paths)
        if not targets:
            return "none of the changed files is a regular file in the head checkout"
        parts: list[str] = []
        for argv in self._analysers:
            parts.append(await self._analyse_one(argv, targets))
        return "\n".join(parts)

    async def _analyse_one(self, argv: Sequence[str], targets: Sequence[str]) -> str:
        title = shlex.join([Path(argv[0]).name, *argv[1:]])
        started = time.monotonic()
        try:
            output = await _run_capped(
                [*argv, *targets], cwd=self._base, env=self._clean_env,
                timeout_s=self._analyser_timeout_s, cap=self._max_output,
            )  # fmt: skip
        except OSError as exc:  # not installed, not executable: the other analysers still run
            return f"$ {title} (could not start: {exc.strerror})"
        status = "timed out" if output.timed_out else f"exit {output.status}"
        cut = " (output cut)" if output.truncated else ""
        body = output.data.decode("utf-8", "replace")
        return f"$ {title} ({status}, {time.monotonic() - started:.1f}s){cut}\n{body}"

    def _analysable(self, paths: Sequence[str]) -> list[str]:
        targets: list[str] = []
        for path in paths:
            with contextlib.suppress(WorkspaceError):
                resolved = self._resolve(path)
                if resolved.is_file() and resolved != self._base:
                    targets.append("./" + resolved.relative_to(self._base).as_posix())
        return targets


def _parse_blame(text: str) -> list[BlameLine]:
    """Lines of `git blame --porcelain`: a header per line, commit details the first time a commit shows."""
    commits: dict[str, dict[str, str]] = {}
    lines: list[BlameLine] = []
    sha, final = "", 0
    for raw in text.split("\n"):
        if raw.startswith("\t"):
            info = commits.get(sha, {})
            when = int(info.get("author-time", "0") or 0)
            date = datetime.datetime.fromtimestamp(when, datetime.UTC).date().isoformat()
            lines.append(BlameLine(final, sha, info.get("author", "?"), date, raw[1:]))
            continue
        key, _, value = raw.partition(" ")
        if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", key):
            sha, final = key, int(value.split(" ")[1])
            commits.setdefault(sha, {})
        elif key in ("author", "author-time") and sha:
            commits[sha][key] = value
    return lines
