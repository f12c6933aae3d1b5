"""The fake GitHub's diff model: which lines of each side a review comment may anchor on, file statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import github_git

TEN = "".join(f"line {n}\n" for n in range(1, 11))
FORTY = "".join(f"row {n}\n" for n in range(1, 41))


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    git_dir = tmp_path / "r.git"
    github_git.init_bare(git_dir, "main")
    base = github_git.commit_files(
        git_dir,
        None,
        {"ten.txt": TEN, "forty.txt": FORTY, "gone.txt": "bye\n", "old.txt": FORTY},
        "base",
        "a",
    )
    return git_dir, base


def head_with(repo: tuple[Path, str], files: dict[str, str | bytes | None]) -> dict[str, github_git.FileDiff]:
    git_dir, base = repo
    head = github_git.commit_files(git_dir, base, files, "head", "b")
    return {f.filename: f for f in github_git.diff_files(git_dir, base, head)}


def test_an_edit_makes_context_lines_commentable_on_both_sides(repo: tuple[Path, str]) -> None:
    diff = head_with(repo, {"ten.txt": TEN.replace("line 5\n", "line five\nline 5b\n")})["ten.txt"]

    assert (diff.status, diff.additions, diff.deletions) == ("modified", 2, 1)
    assert sorted(diff.right_lines) == list(range(2, 10))  # 3 context lines around new lines 5 and 6
    assert sorted(diff.left_lines) == list(range(2, 9))
    assert diff.patch is not None and diff.patch.startswith("@@ -2,7 +2,8 @@")
    assert diff.positions == len(diff.patch.split("\n")) - 1


def test_distant_edits_make_two_hunks(repo: tuple[Path, str]) -> None:
    changed = FORTY.replace("row 5\n", "row V\n").replace("row 35\n", "row XXXV\n")

    diff = head_with(repo, {"forty.txt": changed})["forty.txt"]

    assert diff.right_lines[5] == 0 and diff.right_lines[35] == 1
    assert 20 not in diff.right_lines and 20 not in diff.left_lines


def test_added_removed_renamed_and_binary_files(repo: tuple[Path, str]) -> None:
    files = head_with(
        repo,
        {
            "new.txt": "a\nb\n",
            "gone.txt": None,
            "old.txt": None,
            "moved.txt": FORTY.replace("row 1\n", "row one\n"),
            "blob.bin": b"\x00\x01\x02",
        },
    )

    assert (files["new.txt"].status, files["new.txt"].left_lines, sorted(files["new.txt"].right_lines)) == (
        "added",
        {},
        [1, 2],
    )
    assert (files["gone.txt"].status, files["gone.txt"].right_lines, list(files["gone.txt"].left_lines)) == (
        "removed",
        {},
        [1],
    )
    assert (files["moved.txt"].status, files["moved.txt"].previous_filename) == ("renamed", "old.txt")
    assert files["blob.bin"].patch is None and files["blob.bin"].status == "added"


def test_the_diff_starts_at_the_merge_base(repo: tuple[Path, str]) -> None:
    git_dir, base = repo
    head = github_git.commit_files(git_dir, base, {"ten.txt": TEN + "line 11\n"}, "head", "b")
    moved_base = github_git.commit_files(git_dir, base, {"other.txt": "x\n"}, "base moves", "a")

    files = github_git.diff_files(git_dir, moved_base, head)

    assert [f.filename for f in files] == ["ten.txt"]  # the base's own change is not the PR's
