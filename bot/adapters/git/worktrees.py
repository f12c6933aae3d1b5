"""Workspaces on git: a bare mirror per repository and a detached worktree per job, run in threads.

Every git process gets `workspace.ISOLATION_ENV` and `workspace.ISOLATION_CONFIG`, so nothing from the
repository under review (hooks, filters, submodules, helpers) is executed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TypeVar, cast

import git

from bot.adapters.git import streaming
from bot.errors import WorkspaceError
from bot.ports import DIFF_ARGS
from guardrails import workspace

_log = logging.getLogger(__name__)
T = TypeVar("T")

_LOCK_POLL_S = 0.05
_STDERR_CHARS = 800
_FALLBACK_BRANCHES = ("main", "master")
_BLOB_READ_CAP = 8 * 1024 * 1024  # the largest blob `read_blob` reads whole to return its first bytes


def _git_sync(
    cwd: Path, args: Sequence[str], *, timeout_s: float, extra_env: Mapping[str, str] | None = None
) -> tuple[int, bytes, str]:
    """Run `git <isolation> <args>` in `cwd`; return (status, stdout bytes, stderr)."""
    env = {**workspace.ISOLATION_ENV, **(extra_env or {})}
    executable = str(git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git")
    # `-C` as well: for a directory that has gone, gitpython would run in the process's own directory
    # (perhaps another repository); git refuses a missing `-C` directory instead.
    return git.Git(cwd).execute(
        [executable, "-C", str(cwd), *workspace.ISOLATION_CONFIG, *args],
        with_extended_output=True,
        with_exceptions=False,
        stdout_as_string=False,
        strip_newline_in_stdout=False,
        env=env,
        kill_after_timeout=timeout_s,
    )


def _failure(args: Sequence[str], status: int, stderr: str) -> WorkspaceError:
    """A WorkspaceError naming the command and git's complaint, with any URL credentials scrubbed."""
    command = workspace.scrub_credentials(" ".join(("git", *args)))
    detail = workspace.scrub_credentials(stderr.strip())[-_STDERR_CHARS:]
    return WorkspaceError(f"{command} failed (exit {status}): {detail}")


class GitWorktrees:
    """`Workspaces` on the git command line: mirrors under `state_dir/mirrors`, worktrees beside them."""

    def __init__(self, state_dir: Path, *, max_checkout_bytes: int, git_timeout_s: float = 600.0) -> None:
        self._mirrors = state_dir / "mirrors"
        self._worktrees = state_dir / "worktrees"
        self._max_checkout_bytes = max_checkout_bytes
        self._timeout_s = git_timeout_s
        self._locks: dict[Path, asyncio.Lock] = {}
        # Commits seen in a mirror: each is kept by a ref of its own, so it stays (no re-check per step).
        self._present: dict[Path, set[str]] = {}
        # Removals still running after their waiter was cancelled a second time: kept, not forgotten.
        self._cleanups: set[asyncio.Future[None]] = set()

    async def _exec(
        self, cwd: Path, *args: str, extra_env: Mapping[str, str] | None = None
    ) -> tuple[int, bytes, str]:
        return await asyncio.to_thread(_git_sync, cwd, args, timeout_s=self._timeout_s, extra_env=extra_env)

    async def _run(self, cwd: Path, *args: str, extra_env: Mapping[str, str] | None = None) -> bytes:
        status, out, err = await self._exec(cwd, *args, extra_env=extra_env)
        if status != 0:
            raise _failure(args, status, err)
        return out

    async def _run_remote(self, *args: str) -> str:
        """Run a command that needs no repository, from a directory where git finds none."""
        await asyncio.to_thread(self._mirrors.mkdir, parents=True, exist_ok=True)
        ceiling = {"GIT_CEILING_DIRECTORIES": str(self._mirrors)}
        return (await self._run(self._mirrors, *args, extra_env=ceiling)).decode("utf-8", "replace")

    def _location(self, source: workspace.RepoSource) -> str:
        location = workspace.check_location(source.location)
        if workspace.is_remote(location):
            return location
        # Absolute, because git runs with the mirror as its working directory.
        return str(Path(location).expanduser().resolve())

    def _mirror_path(self, source: workspace.RepoSource) -> Path:
        return self._mirrors / workspace.mirror_dir_name(source)

    async def resolve(self, source: workspace.RepoSource, ref: str) -> str:
        """The commit SHA `ref` names in `source` (a rev expression for a local path, a ref for a URL)."""
        location = self._location(source)
        if workspace.is_remote(location):
            return await self._resolve_remote(source, location, ref)
        status, out, _ = await self._exec(
            Path(location), "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        )
        if status != 0:
            raise WorkspaceError(f"unknown ref {ref!r} in {source.name}")
        return out.decode().strip()

    async def _resolve_remote(self, source: workspace.RepoSource, location: str, ref: str) -> str:
        with contextlib.suppress(WorkspaceError):
            return workspace.check_sha(ref)
        # A tag's peeled line (`refs/tags/v1^{}`, the commit) is only listed for a pattern naming it.
        listing = await self._run_remote("ls-remote", "--", location, ref, f"{ref}^{{}}")
        found: dict[str, str] = {}
        for line in listing.splitlines():
            sha, _, name = line.partition("\t")
            found[name] = sha
        for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}", f"refs/{ref}"):
            if name in found:
                return found[name]
        raise WorkspaceError(f"unknown ref {ref!r} in {source.name}")

    async def default_branch(self, source: workspace.RepoSource) -> str:
        """origin/HEAD's branch, else main, else master, else the current branch; a URL's HEAD symref."""
        location = self._location(source)
        if workspace.is_remote(location):
            listing = await self._run_remote("ls-remote", "--symref", "--", location, "HEAD")
            for line in listing.splitlines():
                if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
                    return line.removeprefix("ref: refs/heads/").removesuffix("\tHEAD")
            raise WorkspaceError(f"{source.name} does not say which branch is its default")
        repo = Path(location)
        status, out, _ = await self._exec(repo, "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD")
        if status == 0:
            return out.decode().strip().removeprefix("refs/remotes/origin/")
        for branch in _FALLBACK_BRANCHES:
            status, _, _ = await self._exec(repo, "show-ref", "--verify", "--quiet", f"refs/heads/{branch}")
            if status == 0:
                return branch
        status, out, _ = await self._exec(repo, "symbolic-ref", "--quiet", "--short", "HEAD")
        if status == 0:
            return out.decode().strip()
        raise WorkspaceError(f"{source.name} has no default branch")

    @contextlib.asynccontextmanager
    async def _locked(self, mirror: Path) -> AsyncIterator[None]:
        """Hold the mirror: an asyncio lock for this process, then `flock` against other processes."""
        async with self._locks.setdefault(mirror, asyncio.Lock()):
            await asyncio.to_thread(mirror.parent.mkdir, parents=True, exist_ok=True)
            lock_path = mirror.parent / f"{mirror.name}.lock"
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                # Polled rather than blocking in a thread, so a cancelled waiter never acquires it later.
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        await asyncio.sleep(_LOCK_POLL_S)
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the flock

    async def _has_commit(self, mirror: Path, sha: str) -> bool:
        status, _, _ = await self._exec(mirror, "cat-file", "-e", f"{sha}^{{commit}}")
        return status == 0

    async def fetch(self, source: workspace.RepoSource, shas: Sequence[str]) -> Path:
        """Fetch the commits the mirror lacks (keeping a ref to each, for later negotiation)."""
        wanted = [workspace.check_sha(sha) for sha in dict.fromkeys(shas)]
        location = self._location(source)
        mirror = self._mirror_path(source)
        present = self._present.setdefault(mirror, set())
        if present.issuperset(wanted) and await asyncio.to_thread((mirror / "HEAD").exists):
            return mirror  # (a mirror deleted meanwhile is made and fetched again below)
        async with self._locked(mirror):
            if not await asyncio.to_thread((mirror / "HEAD").exists):
                present.clear()
                # An empty template: no sample hooks or other files we did not choose.
                await self._run(self._mirrors, "init", "--quiet", "--bare", "--template=", str(mirror))
            missing = [sha for sha in wanted if not await self._has_commit(mirror, sha)]
            if missing:
                refspecs = [f"+{sha}:refs/quorum/{sha}" for sha in missing]
                await self._run(
                    mirror, "fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                    "--no-recurse-submodules", "--", location, *refspecs,
                )  # fmt: skip
            for sha in missing:
                if not await self._has_commit(mirror, sha):
                    raise WorkspaceError(f"{source.name} has no commit {sha}")
            present.update(wanted)
        return mirror

    async def diff(self, source: workspace.RepoSource, base_sha: str, head_sha: str) -> tuple[str, bytes]:
        """The merge base of base and head, and the raw diff from it to head (three-dot semantics)."""
        mirror, merge_base = await self._merge_base(source, base_sha, head_sha)
        raw = await self._run(mirror, *DIFF_ARGS, merge_base, head_sha)
        return merge_base, raw

    async def diff_stream(
        self,
        source: workspace.RepoSource,
        base_sha: str,
        head_sha: str,
        consume: Callable[[Iterator[bytes]], T],
    ) -> tuple[str, T]:
        """The merge base, and what `consume` (run in a thread) makes of the diff from it to head, handed
        over in pieces while git writes it."""
        mirror, merge_base = await self._merge_base(source, base_sha, head_sha)
        args = (*DIFF_ARGS, merge_base, head_sha)
        status, result, err = await asyncio.to_thread(
            streaming.run, mirror, args, consume, timeout_s=self._timeout_s
        )
        if status != 0:
            raise _failure(args, status, err)
        return merge_base, cast(T, result)

    async def _merge_base(
        self, source: workspace.RepoSource, base_sha: str, head_sha: str
    ) -> tuple[Path, str]:
        mirror = await self.fetch(source, [base_sha, head_sha])
        status, out, err = await self._exec(mirror, "merge-base", base_sha, head_sha)
        if status != 0:
            if status == 1 and not out.strip():
                raise WorkspaceError(f"{base_sha} and {head_sha} share no history in {source.name}")
            raise _failure(("merge-base", base_sha, head_sha), status, err)
        return mirror, out.decode().strip()

    async def read_blob(
        self, source: workspace.RepoSource, sha: str, path: str, *, max_bytes: int
    ) -> bytes | None:
        """The first `max_bytes` of `path` at commit `sha` in the mirror; None when it is not a file there,
        or when it is so large that reading it whole (git has no partial read) would cost too much."""
        mirror = await self.fetch(source, [sha])
        spec = f"{workspace.check_sha(sha)}:{path}"  # starts with the SHA: never read as an option
        status, out, _ = await self._exec(mirror, "cat-file", "-t", spec)
        if status != 0 or out.strip() != b"blob":
            return None
        size = int((await self._run(mirror, "cat-file", "-s", spec)).strip() or b"0")
        if size > max(max_bytes, _BLOB_READ_CAP):
            return None
        return (await self._run(mirror, "cat-file", "blob", spec))[:max_bytes]

    async def _tree_bytes(self, mirror: Path, sha: str) -> int:
        listing = await self._run(mirror, "ls-tree", "-r", "-l", "-z", "--full-tree", sha)
        total = 0
        for record in listing.split(b"\0"):
            fields = record.split(b"\t", 1)[0].split()
            if len(fields) == 4 and fields[3].isdigit():  # a submodule's size is "-"
                total += int(fields[3])
        return total

    def worktree(
        self, source: workspace.RepoSource, sha: str, job_id: str
    ) -> contextlib.AbstractAsyncContextManager[Path]:
        """A detached checkout of `sha` for `job_id`, removed on exit, also on error or cancellation."""
        return self._worktree(source, sha, job_id)

    @contextlib.asynccontextmanager
    async def _worktree(self, source: workspace.RepoSource, sha: str, job_id: str) -> AsyncIterator[Path]:
        mirror = await self.fetch(source, [sha])
        workspace.check_checkout_size(await self._tree_bytes(mirror, sha), self._max_checkout_bytes)
        path = self._worktrees / f"{workspace.sanitise(job_id)}-{secrets.token_hex(4)}"
        # Each git step runs shielded and is remembered: when the job is cancelled mid-step, the thread
        # still runs, and removal must wait for it or the step would recreate what was just removed.
        step: asyncio.Future[bytes] | None = None
        try:
            async with self._locked(mirror):
                step = asyncio.ensure_future(
                    self._run(
                        mirror, "worktree", "add", "--quiet", "--detach", "--no-checkout", str(path), sha
                    )
                )
                await asyncio.shield(step)
            step = asyncio.ensure_future(self._run(path, "checkout", "--quiet", "--force", "--detach", sha))
            await asyncio.shield(step)
            yield path
        finally:
            removal = asyncio.ensure_future(self._remove(step, mirror, path))
            self._cleanups.add(removal)
            removal.add_done_callback(self._cleanups.discard)
            # Shielded: a second cancellation must not leave a half-removed worktree behind.
            await asyncio.shield(removal)

    async def _remove(self, pending: asyncio.Future[bytes] | None, mirror: Path, path: Path) -> None:
        if pending is not None:
            await asyncio.wait([pending])  # its outcome already reached the job through the shield
        await asyncio.to_thread(self._remove_sync, mirror, path)

    def _remove_sync(self, mirror: Path, path: Path) -> None:
        status, _, err = _git_sync(
            mirror, ("worktree", "remove", "--force", "--force", str(path)), timeout_s=self._timeout_s
        )
        if status == 0 and not path.exists():
            return  # removed with its record in the mirror: nothing left to prune
        _log.debug("git worktree remove failed, deleting the directory: %s", err.strip()[:200])
        shutil.rmtree(path, ignore_errors=True)
        _git_sync(mirror, ("worktree", "prune"), timeout_s=self._timeout_s)
        if path.exists():
            _log.warning("worktree %s could not be removed; the monitor will retry", path)

    async def remove_orphans(self, live_jobs: Collection[str]) -> list[Path]:
        """Remove every worktree whose job is not live, then prune the mirrors' worktree records."""
        live = {workspace.sanitise(job) for job in live_jobs}
        return await asyncio.to_thread(self._remove_orphans_sync, live)

    def _remove_orphans_sync(self, live: set[str]) -> list[Path]:
        if not self._worktrees.is_dir():
            return []
        removed: list[Path] = []
        for entry in sorted(self._worktrees.iterdir()):
            job = entry.name.rpartition("-")[0]
            if job in live or entry.is_symlink() or not entry.is_dir():
                continue
            shutil.rmtree(entry, ignore_errors=True)
            if not entry.exists():
                removed.append(entry)
        if removed:
            for mirror in sorted(self._mirrors.glob("*.git")):
                _git_sync(mirror, ("worktree", "prune"), timeout_s=self._timeout_s)
        return removed
