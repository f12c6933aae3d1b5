"""What a review skips is decided by the base, not by the PR: prepared on real git repositories."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot import pipeline, ports
from bot.bootstrap import review as review_root
from bot.domain import Coverage
from config import settings as settings_module
from guardrails import workspace
from tests.fakes import github_git
from tests.fakes.github_git import Submodule, Symlink

BASE: dict[str, github_git.Content] = {
    "data/blob": "plain text that a PR later hides behind a NUL byte\n",
    "src/a.py": "A = 1\n",
    "gen/x.py": "X = 1\n",
    ".gitattributes": "gen/** linguist-generated=true\nold/** linguist-vendored\n",
    "lib": Submodule("1" * 40),
}


def _prepare(tmp_path: Path, change: dict[str, github_git.Content]) -> Coverage:
    git_dir = tmp_path / "repo.git"
    github_git.init_bare(git_dir, "main")
    base = github_git.commit_files(git_dir, None, dict(BASE), "base", "alice")
    head = github_git.commit_files(git_dir, base, change, "change", "mallory")
    loaded = settings_module.load_settings(
        None, secrets_dirs=[], workspace={"state_dir": str(tmp_path / "state")}
    )
    deps = review_root.prepare_deps(loaded, ports.NO_PROGRESS)
    request = pipeline.ReviewRequest(workspace.RepoSource(str(git_dir), "acme/w"), head, base)
    return asyncio.run(pipeline.prepare(request, deps)).coverage


def _reasons(coverage: Coverage) -> dict[str, str]:
    return {s.path: s.reason.value for s in coverage.skipped}


def test_a_nul_in_a_file_that_was_text_on_the_base_or_has_text_around_it_is_suspicious(tmp_path):
    coverage = _prepare(
        tmp_path,
        {
            "data/blob": b"plain text\0 and a payload\n",
            "tools/run": b"#!/bin/sh\0\nrm -rf ~\n",
            "i.dat": b"\xff\0\xfe",
        },
    )

    assert _reasons(coverage) == {"data/blob": "nul_in_text", "tools/run": "nul_in_text", "i.dat": "binary"}


def test_generated_and_vendored_come_from_the_base_gitattributes_never_the_prs(tmp_path):
    coverage = _prepare(
        tmp_path,
        {
            ".gitattributes": "src/** linguist-generated=true -diff binary\n",
            "src/a.py": "# @generated\nA = 2\n",
            "gen/x.py": "X = 2\n",
            "old/y.py": "Y = 1\n",
        },
    )

    assert _reasons(coverage) == {"gen/x.py": "generated", "old/y.py": "vendored"}
    assert {"src/a.py", ".gitattributes"} <= set(coverage.seen_paths)


@pytest.mark.parametrize("target", ["../.github/workflows/ci.yml", "/etc/passwd"])
def test_symlinks_and_submodules_are_recorded_for_the_merge_gate(tmp_path, target):
    coverage = _prepare(tmp_path, {"docs/ci.yml": Symlink(target), "lib": Submodule("2" * 40)})

    assert coverage.links == (("docs/ci.yml", target),)
    assert coverage.submodules == ("lib",)
    assert _reasons(coverage) == {"lib": "submodule"}
    assert "docs/ci.yml" in coverage.seen_paths and "lib" not in coverage.seen_paths


def test_both_names_of_a_pure_rename_are_shown(tmp_path):
    coverage = _prepare(tmp_path, {"src/a.py": None, "src/b.py": BASE["src/a.py"]})

    assert _reasons(coverage) == {}
    assert {"src/a.py", "src/b.py"} <= set(coverage.seen_paths)
