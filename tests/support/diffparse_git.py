"""Build real git repositories with a base and a head commit, and diff them as the git adapter does."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.ports import DIFF_ARGS


@dataclass(frozen=True)
class Entry:
    """A tree entry other than a plain file: `content` is a file body, a symlink target or a commit id."""

    content: bytes
    mode: str = "100644"  # 100644, 100755, 120000 (symlink) or 160000 (submodule commit)


Tree = Mapping[str, bytes | Entry]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    return env


def git(repo: Path, *args: str) -> bytes:
    """Run git in `repo` with no user or system configuration; return its stdout."""
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "core.autocrlf=false", *args]
    done = subprocess.run(command, cwd=repo, env=_env(), capture_output=True, check=True)
    return done.stdout


def _write(repo: Path, tree: Tree) -> None:
    for child in repo.iterdir():
        if child.name != ".git":
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    gitlinks = []
    for name, value in tree.items():
        entry = value if isinstance(value, Entry) else Entry(value)
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if entry.mode == "160000":
            gitlinks.append(f"160000,{entry.content.decode()},{name}")
        elif entry.mode == "120000":
            os.symlink(os.fsdecode(entry.content), path)
        else:
            path.write_bytes(entry.content)
            path.chmod(0o755 if entry.mode == "100755" else 0o644)
    git(repo, "add", "-A")
    for info in gitlinks:
        git(repo, "update-index", "--add", "--cacheinfo", info)


def commit(repo: Path, tree: Tree, message: str) -> str:
    """Replace the worktree with `tree`, commit it and return the commit id."""
    _write(repo, tree)
    git(repo, "commit", "-q", "--allow-empty", "--no-verify", "-m", message)
    return git(repo, "rev-parse", "HEAD").decode().strip()


def diff(repo: Path, base: Tree, head: Tree, *extra: str) -> bytes:
    """Commit `base` then `head` in a fresh repository at `repo` and return `git *DIFF_ARGS base head`."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q")
    base_id = commit(repo, base, "base")
    head_id = commit(repo, head, "head")
    return git(repo, *DIFF_ARGS, *extra, base_id, head_id)
