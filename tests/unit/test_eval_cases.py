"""Evaluation cases: the loader's checks, the bundled golden set, and the repository built for a case."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.errors import InputError
from bot.eval import case_toml, cases, repos

TOML = """title = "Add page_count"
expected = "request_changes"

[[findings]]
path = "pages.py"
lines = [3, 3]
category = "bug"
note = "one page too many"
"""
BASE = "def page_count(total, size):\n    return total // size\n"
HEAD = '"""Pages."""\ndef page_count(total, size):\n    return total // size + 1\n'
PATCH = """diff --git a/pages.py b/pages.py
--- a/pages.py
+++ b/pages.py
@@ -1,2 +1,3 @@
+\"\"\"Pages.\"\"\"
 def page_count(total, size):
-    return total // size
+    return total // size + 1
"""


def write_case(root: Path, toml: str = TOML, *, patch: bool = False, pr: str | None = None) -> Path:
    root.mkdir(parents=True)
    (root / "case.toml").write_text(toml)
    (root / "base").mkdir()
    (root / "base" / "pages.py").write_text(BASE)
    if patch:
        (root / "change.patch").write_text(PATCH)
    else:
        (root / "head").mkdir()
        (root / "head" / "pages.py").write_text(HEAD)
    if pr is not None:
        (root / "pr.md").write_text(pr)
    return root


def test_a_case_with_trees_loads_with_its_labels(tmp_path):
    root = write_case(tmp_path / "01-pages", pr="# Add page_count\n\nFor the list view.\n")

    case = cases.load_case(root)

    assert (case.name, case.title, case.expected, case.injection) == (
        "01-pages",
        "Add page_count",
        "request_changes",
        False,
    )
    assert case.findings == (case_toml.ExpectedFinding("pages.py", 3, 3, "bug", "one page too many"),)
    assert case.head_tree == root / "head" and case.patch is None
    assert case.pr_text == "Add page_count\n\nFor the list view."


def test_a_case_with_a_patch_loads(tmp_path):
    case = cases.load_case(write_case(tmp_path / "02-patch", patch=True))

    assert case.patch == tmp_path / "02-patch" / "change.patch" and case.head_tree is None
    assert case.pr_text == ""


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        ("title = 'x'\nexpected = 'maybe'\n", "expected must be one of approve, request_changes"),
        ("expected = 'approve'\n", "title must be a non-empty string"),
        ("title = 'x'\nexpected = 'approve'\nverdict = 1\n", "unknown key(s) verdict"),
        ("title = 'x'\nexpected = 'approve'\ninjection = 'yes'\n", "injection must be true or false"),
        ("title = 'x'\nexpected = 'request_changes'\n", "needs at least one [[findings]]"),
        ("title = 'x'\nexpected = 'approve'\ninjection = true\n", "injection case hides a real problem"),
        ("title = 'x\n", "case.toml is not valid TOML"),
        (TOML.replace("[3, 3]", "[4, 2]"), "lines must be [start, end]"),
        (TOML.replace("[3, 3]", "[3]"), "lines must be [start, end]"),
        (TOML.replace("[3, 3]", "[3, 40]"), "lie past its end (3 lines)"),
        (TOML.replace('"bug"', '"typo"'), "category must be one of bug, security, performance, style"),
        (TOML.replace('"pages.py"', '"other.py"'), "finding on other.py: no such file in head/"),
        (TOML.replace('"pages.py"', '"../pages.py"'), "must be relative to the repository"),
        (TOML.replace('note = "one page too many"', "severity = 2"), "unknown key(s) severity"),
    ],
)
def test_a_broken_case_is_refused_with_its_name_and_the_problem(tmp_path, toml, problem):
    root = write_case(tmp_path / "07-broken", toml)

    with pytest.raises(InputError) as caught:
        cases.load_case(root)

    assert caught.value.message.startswith("eval case 07-broken: ")
    assert problem in caught.value.message


def test_a_case_needs_exactly_one_of_head_and_patch(tmp_path):
    root = write_case(tmp_path / "08-both")
    (root / "change.patch").write_text(PATCH)

    with pytest.raises(InputError, match="exactly one of head/"):
        cases.load_case(root)


def test_a_patch_case_expects_findings_only_on_files_it_changes(tmp_path):
    root = write_case(tmp_path / "09-patch", TOML.replace('"pages.py"', '"other.py"'), patch=True)

    with pytest.raises(InputError, match=r"change\.patch does not change that file"):
        cases.load_case(root)


def test_loading_a_set_reports_every_broken_case_at_once(tmp_path):
    write_case(tmp_path / "a-good")
    write_case(tmp_path / "b-bad", "title = 'x'\nexpected = 'nope'\n")
    write_case(tmp_path / "c-bad", "expected = 'approve'\n")
    (tmp_path / "notes").mkdir()  # a directory without case.toml is not a case

    with pytest.raises(InputError) as caught:
        cases.load_cases(tmp_path)

    lines = caught.value.message.splitlines()
    assert [line.split(":")[0] for line in lines] == ["eval case b-bad", "eval case c-bad"]


def test_an_empty_directory_has_no_cases(tmp_path):
    with pytest.raises(InputError, match="no case under"):
        cases.load_cases(tmp_path)


def test_the_golden_set_is_complete_and_valid():
    golden = cases.load_cases(cases.golden_dir())

    assert len(golden) >= 30
    assert sum(c.injection for c in golden) >= 5
    assert sum(c.expected == "approve" for c in golden) >= 8
    suffixes = {p.suffix for c in golden for p in c.root.rglob("*") if p.is_file()}
    assert {".py", ".js", ".go", ".sh", ".md", ".patch"} <= suffixes
    assert len({c.name for c in golden}) == len(golden)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize("patch", [False, True])
def test_a_case_becomes_a_repository_with_a_base_and_a_change_branch(tmp_path, patch):
    case = cases.load_case(write_case(tmp_path / "case", patch=patch))

    repo = repos.build(case, tmp_path / "repo")

    assert git(repo, "show", f"{repos.BASE_BRANCH}:pages.py") == BASE
    assert git(repo, "show", f"{repos.HEAD_BRANCH}:pages.py") == HEAD
    assert git(repo, "log", "--format=%s", repos.HEAD_BRANCH).splitlines() == ["Add page_count", "base"]


def test_a_patch_that_does_not_apply_names_the_case(tmp_path):
    root = write_case(tmp_path / "10-stale", patch=True)
    (root / "base" / "pages.py").write_text("something else entirely\n")
    case = cases.load_case(root)

    with pytest.raises(InputError, match=r"eval case 10-stale: git apply failed"):
        repos.build(case, tmp_path / "repo")


def test_a_head_file_with_the_base_files_size_and_time_is_still_committed_as_changed(tmp_path):
    # Copies keep their source's modification time, and a fresh checkout often gives both golden copies
    # the same one: git must not take the head file for the unchanged base file by size and time.
    root = tmp_path / "37-same-size"
    for side, value in (("base", 20), ("head", 50)):
        (root / side).mkdir(parents=True)
        (root / side / "settings.py").write_text(f"PAGE_SIZE = {value}\n")
        os.utime(root / side / "settings.py", ns=(1_700_000_000_000_000_000,) * 2)
    (root / "case.toml").write_text('title = "Raise the page size"\nexpected = "approve"\n')
    case = cases.load_case(root)

    repo = repos.build(case, tmp_path / "repo")

    assert git(repo, "show", f"{repos.HEAD_BRANCH}:settings.py") == "PAGE_SIZE = 50\n"
