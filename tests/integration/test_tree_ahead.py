"""The head worktree made ahead of the diff: ready when asked for, and gone after, asked for or not."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.adapters.git.worktrees import GitWorktrees
from bot.errors import WorkspaceError
from bot.review.tree_ahead import TreeAhead
from guardrails.workspace import RepoSource
from tests.support.git_repos import GitRepo


def _setup(tmp_path: Path, cap: int = 1_000_000) -> tuple[GitWorktrees, RepoSource, str]:
    repo = GitRepo(tmp_path / "src")
    repo.commit("base", {"a.txt": "one\n"})
    head = repo.commit("head", {"a.txt": "two\n" * 2000})
    return GitWorktrees(tmp_path / "state", max_checkout_bytes=cap), RepoSource(str(repo.path), "o/r"), head


def _left(tmp_path: Path) -> list[Path]:
    worktrees = tmp_path / "state" / "worktrees"
    return list(worktrees.iterdir()) if worktrees.exists() else []


async def test_the_tree_asked_for_holds_the_head_and_is_removed_on_leaving(tmp_path: Path) -> None:
    workspaces, source, head = _setup(tmp_path)

    async with TreeAhead(workspaces, source, head, "job-1") as ahead:
        tree = await ahead.path()
        assert (tree / "a.txt").read_text().startswith("two\n")

    assert not tree.exists() and _left(tmp_path) == []


async def test_a_tree_never_asked_for_is_removed_too(tmp_path: Path) -> None:
    workspaces, source, head = _setup(tmp_path)

    async with TreeAhead(workspaces, source, head, "job-2"):
        await asyncio.sleep(0)  # leaving while the checkout may still be running

    assert _left(tmp_path) == []
    async with TreeAhead(workspaces, source, head, "job-3"):
        await asyncio.sleep(0.5)  # leaving after it is ready, never asked for
    assert _left(tmp_path) == []


async def test_a_tree_that_cannot_be_made_fails_only_who_asks_for_it(tmp_path: Path) -> None:
    workspaces, source, head = _setup(tmp_path, cap=1024)  # the head's checkout is over the cap

    async with TreeAhead(workspaces, source, head, "job-4") as ahead:
        with pytest.raises(WorkspaceError, match="exceeds"):
            await ahead.path()
    async with TreeAhead(workspaces, source, head, "job-5"):
        await asyncio.sleep(0.3)  # failed meanwhile, asked by nobody: leaving is not an error

    assert _left(tmp_path) == []


async def test_a_cancelled_review_leaves_no_tree(tmp_path: Path) -> None:
    workspaces, source, head = _setup(tmp_path)

    async def review() -> None:
        async with TreeAhead(workspaces, source, head, "job-6") as ahead:
            await ahead.path()
            await asyncio.sleep(30)

    task = asyncio.create_task(review())
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert _left(tmp_path) == []
