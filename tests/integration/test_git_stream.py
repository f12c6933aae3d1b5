"""git's stdout consumed as it is written: the daemon's streamed diff equals the whole-text parse, and a
failing, slow or unparsable git run ends the way a whole-text run does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import errors
from bot.adapters.git import streaming
from bot.adapters.git.worktrees import GitWorktrees
from bot.ports import DIFF_ARGS
from bot.review import diffparse, diffstream
from guardrails.workspace import RepoSource
from tests.support import diffparse_git, varied_diff


def _two_commits(repo: Path, base: diffparse_git.Tree, head: diffparse_git.Tree) -> tuple[str, str]:
    diffparse_git.diff(repo, base, head)
    base_sha, head_sha = diffparse_git.git(repo, "rev-parse", "HEAD~1", "HEAD").decode().split()
    return base_sha, head_sha


async def test_the_streamed_diff_of_a_varied_change_equals_the_whole_text_parse(tmp_path: Path) -> None:
    base_sha, head_sha = _two_commits(tmp_path / "repo", *varied_diff.trees())
    workspaces = GitWorktrees(tmp_path / "state", max_checkout_bytes=10**7)
    source = RepoSource(str(tmp_path / "repo"), "o/r")

    merge_base, files = await workspaces.diff_stream(source, base_sha, head_sha, diffstream.parse_all)

    same_base, raw = await workspaces.diff(source, base_sha, head_sha)
    assert (merge_base, files) == (same_base, diffparse.parse(raw))
    assert len(files) > 20


def test_a_git_failure_wins_over_what_the_consumer_made_of_its_output(tmp_path: Path) -> None:
    diffparse_git.diff(tmp_path / "repo", {"a.txt": b"a\n"}, {"a.txt": b"b\n"})

    def refuse(pieces: Iterator[bytes]) -> None:
        raise errors.InputError("cannot read this")

    status, result, err = streaming.run(
        tmp_path / "repo", ("diff", "HEAD", "no-such-revision"), refuse, timeout_s=30
    )

    assert (status, result) == (128, None)
    assert "no-such-revision" in err


def test_a_consumer_error_is_raised_when_git_succeeded(tmp_path: Path) -> None:
    diffparse_git.diff(tmp_path / "repo", {"a.txt": b"a\n"}, {"a.txt": b"b\n"})

    def refuse(pieces: Iterator[bytes]) -> None:
        next(pieces)
        raise errors.InputError("cannot read this")

    with pytest.raises(errors.InputError, match="cannot read this"):
        streaming.run(tmp_path / "repo", ("diff", "HEAD~1", "HEAD"), refuse, timeout_s=30)


def test_git_is_killed_at_its_timeout_while_the_consumer_stalls(tmp_path: Path) -> None:
    big = b"".join(b"line %d\n" % n for n in range(200_000))  # more than the pipe holds: git waits
    diffparse_git.diff(tmp_path / "repo", {"a.txt": b""}, {"a.txt": big})

    def stall(pieces: Iterator[bytes]) -> int:
        time.sleep(1.0)
        return sum(map(len, pieces))

    started = time.monotonic()
    status, result, err = streaming.run(tmp_path / "repo", ("diff", "HEAD~1", "HEAD"), stall, timeout_s=0.2)

    assert status < 0 and result is None
    assert "killed after 0.2s" in err
    assert time.monotonic() - started < 10


def test_the_whole_output_reaches_the_consumer(tmp_path: Path) -> None:
    big = b"".join(b"line %d\n" % n for n in range(40_000))
    raw = diffparse_git.diff(tmp_path / "repo", {"a.txt": b""}, {"a.txt": big})

    status, result, err = streaming.run(
        tmp_path / "repo", (*DIFF_ARGS, "HEAD~1", "HEAD"), b"".join, timeout_s=30
    )

    assert (status, result, err) == (0, raw, "")
