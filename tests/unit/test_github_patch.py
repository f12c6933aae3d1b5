"""The GitHub `patch` parser: commentable lines per side and hunk, checked by hand and against git's diffs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot import domain
from bot.adapters.github import patch as github_patch
from bot.review import diffparse
from tests.support import diffparse_git

L, R = domain.Side.LEFT, domain.Side.RIGHT

TWO_HUNKS = """@@ -1,4 +1,5 @@ def top():
 one
-two
+TWO
+two and a half
 three
 four
@@ -20,3 +21,2 @@ def bottom():
 twenty
-twenty-one
 twenty-two
\\ No newline at end of file
"""


def finding(path: str, line: int, side: domain.Side = R, start: int | None = None) -> domain.Finding:
    return domain.Finding(path, line, side, domain.Severity.MINOR, "note", start_line=start)


def test_maps_each_hunk_to_its_lines_per_side() -> None:
    lines = github_patch.parse_patch(TWO_HUNKS)

    assert [(sorted(h.left), sorted(h.right)) for h in lines.hunks] == [
        ([2], [1, 2, 3, 4, 5]),
        ([21], [21, 22]),
    ]


def test_a_comment_is_allowed_only_inside_a_hunk_on_its_side() -> None:
    lines = github_patch.parse_patch(TWO_HUNKS)

    assert lines.allows(R, 3)
    assert lines.allows(L, 2)
    assert not lines.allows(L, 1)  # a context line belongs to the right side
    assert not lines.allows(R, 10)  # between the hunks
    assert not lines.allows(R, 23)  # past the last hunk


def test_a_range_must_stay_within_one_hunk_and_go_forward() -> None:
    lines = github_patch.parse_patch(TWO_HUNKS)

    assert lines.allows(R, 4, start_line=2)
    assert lines.allows(R, 4, start_line=4)
    assert not lines.allows(R, 21, start_line=4)  # starts in the other hunk
    assert not lines.allows(R, 2, start_line=4)  # backwards


def test_no_patch_means_no_commentable_line() -> None:
    assert github_patch.parse_patch(None).hunks == ()
    assert not github_patch.parse_patch("").allows(R, 1)


def test_a_trimmed_empty_context_line_still_counts() -> None:
    # GitHub's patch may carry an empty context line without its leading space.
    lines = github_patch.parse_patch("@@ -1,3 +1,3 @@\n a\n\n-b\n+c")

    assert sorted(lines.hunks[0].right) == [1, 2, 3]
    assert sorted(lines.hunks[0].left) == [3]


def test_header_without_counts_means_one_line() -> None:
    lines = github_patch.parse_patch("@@ -5 +5 @@\n-old\n+new\n")

    assert (sorted(lines.hunks[0].left), sorted(lines.hunks[0].right)) == ([5], [5])


def test_split_findings_keeps_valid_anchors_inline_and_moves_the_rest() -> None:
    files = {"a.py": github_patch.parse_patch(TWO_HUNKS), "bin.png": github_patch.parse_patch(None)}
    good, range_ok = finding("a.py", 3), finding("a.py", 5, start=3)
    outside, unknown, binary = finding("a.py", 12), finding("gone.py", 1), finding("bin.png", 1)

    inline, moved = github_patch.split_findings([good, outside, range_ok, unknown, binary], files)

    assert inline == [good, range_ok]
    assert moved == [outside, unknown, binary]


def _patch_of(raw: bytes) -> str:
    """The hunks of a one-file git diff, as GitHub's `patch` field shows them."""
    text = raw.decode()
    return text[text.index("@@") :]


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_the_diff_parser_on_real_git_diffs(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    base = [f"line {n}" for n in range(1, 60)]
    head = list(base)
    for _ in range(rng.randint(1, 6)):
        at = rng.randrange(len(head))
        action = rng.choice(["delete", "insert", "replace"])
        if action == "delete":
            del head[at]
        elif action == "insert":
            head[at:at] = [f"new {rng.random():.6f}" for _ in range(rng.randint(1, 3))]
        else:
            head[at] = f"changed {rng.random():.6f}"
    raw = diffparse_git.diff(tmp_path / "repo", {"f.txt": "\n".join(base).encode() + b"\n"},
                             {"f.txt": "\n".join(head).encode() + b"\n"})  # fmt: skip
    (expected,) = diffparse.parse(raw)

    lines = github_patch.parse_patch(_patch_of(raw))

    for side in (L, R):
        mine = frozenset().union(*(h.lines(side) for h in lines.hunks))
        assert mine == expected.commentable(side)
        for number in mine:
            assert lines.allows(side, number)
