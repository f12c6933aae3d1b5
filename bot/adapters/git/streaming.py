"""Run one isolated git command whose stdout is consumed while git writes it (a diff parsed as it comes)."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TypeVar

import git

from guardrails import workspace

T = TypeVar("T")
_PIECE_BYTES = 1 << 16
_PIPE_BYTES = 1 << 20  # room for git to write ahead while the reader parses (Linux's default cap)


def run(
    cwd: Path, args: Sequence[str], consume: Callable[[Iterator[bytes]], T], *, timeout_s: float
) -> tuple[int, T | None, str]:
    """Run `git <isolation> <args>` in `cwd`, handing its stdout to `consume` in pieces as they arrive;
    return (status, what `consume` returned, stderr). When git fails, its output may be cut short, so its
    status is returned (and `consume`'s result or error dropped); otherwise an error of `consume` is
    raised. Killed after `timeout_s`."""
    # The environment gitpython gives every other git call here (see worktrees._git_sync).
    env = {**os.environ, "LANGUAGE": "C", "LC_ALL": "C", **workspace.ISOLATION_ENV}
    executable = str(git.Git.GIT_PYTHON_GIT_EXECUTABLE or "git")
    command = [executable, "-C", str(cwd), *workspace.ISOLATION_CONFIG, *args]
    # stderr goes to a file: a pipe nobody reads could fill and stall git.
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr
        )
        _widen(proc.stdout)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(timeout_s, expire)
        timer.start()
        try:
            assert proc.stdout is not None
            result, error = _consume(proc.stdout, consume)
            status = proc.wait()
        finally:
            timer.cancel()
            _stop(proc)
        stderr.seek(0)
        message = stderr.read().decode("utf-8", "replace")
    if status != 0:
        note = f" (killed after {timeout_s:g}s)" if expired.is_set() else ""
        return status, None, message + note
    if error is not None:
        raise error
    return status, result, message


def _consume(stdout: IO[bytes], consume: Callable[[Iterator[bytes]], T]) -> tuple[T | None, Exception | None]:
    pieces = iter(functools.partial(os.read, stdout.fileno(), _PIECE_BYTES), b"")
    try:
        return consume(pieces), None
    except Exception as exc:  # held until git's status says whether the output was whole
        for _ in pieces:
            pass  # drained, so that git ends by itself and its status means what it says
        return None, exc


def _widen(stdout: IO[bytes] | None) -> None:
    """Give git a larger pipe where the system allows it (Linux), so it seldom waits for the reader."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if stdout is not None and set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(stdout.fileno(), set_size, _PIPE_BYTES)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Leave no git process behind, also when the consumer raised something we did not hold."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
