"""Real git repositories in temporary directories, built with the git command line for tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# The test machine's own git configuration must not leak into the repositories the tests build.
_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.invalid",
}


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` and return its stdout without the trailing newline."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=_ENV, check=True, capture_output=True, text=True, timeout=60
    )
    return done.stdout.rstrip("\n")


class GitRepo:
    """A non-bare repository with helpers to write files and commit."""

    def __init__(self, path: Path, *, branch: str = "main") -> None:
        path.mkdir(parents=True, exist_ok=True)
        git(path, "init", "--quiet", f"--initial-branch={branch}")
        self.path = path

    def git(self, *args: str) -> str:
        return git(self.path, *args)

    def write(self, relative: str, content: str | bytes) -> Path:
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
        return target

    def symlink(self, relative: str, target: str) -> None:
        link = self.path / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)

    def commit(self, message: str, files: dict[str, str | bytes] | None = None) -> str:
        """Write `files`, stage everything, commit, and return the new commit's SHA."""
        for relative, content in (files or {}).items():
            self.write(relative, content)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")
