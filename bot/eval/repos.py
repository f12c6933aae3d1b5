"""A throwaway git repository per case: `main` holds the base tree, `change` the head tree or the patch.

Git runs with no user or system configuration and no hook templates, so a case builds the same way on
every machine and nothing in it is executed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from bot.errors import InputError
from bot.eval.cases import Case

BASE_BRANCH, HEAD_BRANCH = "main", "change"
_GIT_TIMEOUT_S = 60.0
# Fixed identity and dates: the same case gives the same commits, run after run.
_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "quorum-eval",
    "GIT_AUTHOR_EMAIL": "eval@quorum.invalid",
    "GIT_COMMITTER_NAME": "quorum-eval",
    "GIT_COMMITTER_EMAIL": "eval@quorum.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
}


def _git(repo: Path, case: Case, *args: str) -> None:
    try:
        subprocess.run(
            ["git", *args],
            cwd=repo,
            env={**os.environ, **_ENV},
            check=True,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
        )
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or exc.stdout or "").strip().splitlines()
        raise InputError(
            f"eval case {case.name}: git {args[0]} failed: {detail[-1] if detail else exc.returncode}"
        ) from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"eval case {case.name}: git {args[0]} could not run: {exc}") from exc


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True, symlinks=True)


def _clear(repo: Path, keep: Sequence[str] = (".git",)) -> None:
    for entry in repo.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def build(case: Case, repo: Path) -> Path:
    """Create the case's repository at `repo` (which must not exist) and return it."""
    repo.mkdir(parents=True)
    _git(repo, case, "init", "--quiet", "--template=", "-b", BASE_BRANCH)
    _copy_tree(case.base_tree, repo)
    _git(repo, case, "add", "--all")
    _git(repo, case, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", "base")
    _git(repo, case, "checkout", "--quiet", "-b", HEAD_BRANCH)
    if case.head_tree is not None:
        _clear(repo)
        _copy_tree(case.head_tree, repo)
        # Copies keep their source's modification time: a head file of the base file's size and time
        # would pass git's stat check as unchanged. An empty index makes git read every file afresh.
        _git(repo, case, "read-tree", "--empty")
        _git(repo, case, "add", "--all")
    else:
        assert case.patch is not None
        _git(repo, case, "apply", "--index", "--whitespace=nowarn", str(case.patch.resolve()))
    _git(repo, case, "commit", "--quiet", "--allow-empty", "--no-verify", "-m", case.title)
    return repo
