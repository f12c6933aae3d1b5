"""GitWorktreeTools behind BoundedToolBox on real git repositories: confinement, refusals, git, analysers.

Ends with a seeded property test: hostile call sequences never get a byte of a canary planted outside the
worktree, nor a planted secret, into any result.
"""

from __future__ import annotations

import os
import random
import secrets
import sys
from pathlib import Path

import pytest

from bot.adapters.git import tools as worktree_tools
from bot.adapters.git.tools import GitWorktreeTools
from bot.adapters.git.worktrees import GitWorktrees
from bot.errors import WorkspaceError
from bot.ports import ToolCall, ToolResult
from bot.review.agent import tools
from bot.review.agent.tools import BoundedToolBox, ToolLimits
from guardrails.text.redaction import Redactor
from guardrails.workspace import RepoSource
from tests.support.git_repos import GitRepo

_RNG = random.Random(5)
KNOWN = "kn0wn-" + "".join(_RNG.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(18))
GH_TOKEN = "ghp_" + "".join(_RNG.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij0123456789") for _ in range(36))
CANARY = secrets.token_hex(16)
RUFF = str(Path(sys.executable).with_name("ruff"))
APP = (
    "import os\n\n\ndef handler(x):\n    return x + 1\n\n\n"
    "class Thing:\n    def go(self):\n        return 2\n"
)


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary.txt").write_text(f"CANARY {CANARY}\n")
    repo = GitRepo(tmp_path / "repo")
    repo.commit("first", {"src/app.py": APP, "README.md": "# demo\n", "docs/guide.md": "handler docs\n"})
    repo.commit(
        f"configure {GH_TOKEN}",
        {
            "src/app.py": APP.replace("x + 1", "x + 2"),
            ".env": f"API_TOKEN={KNOWN}\nGITHUB={GH_TOKEN}\n",
            f"keys/{KNOWN}.txt": "named after a secret\n",
            "data/blob.bin": b"\x89PNG\r\n\x1a\n\x00\x00binary",
        },
    )
    repo.symlink("link_etc", "/etc")
    repo.symlink("link_canary", "../outside/canary.txt")
    repo.symlink("link_outside", "../outside")
    repo.symlink("src/alias.py", "app.py")
    return repo


def _box(root: Path, *, analysers: tuple[tuple[str, ...], ...] = (), **limits: int) -> BoundedToolBox:
    tools_ = GitWorktreeTools(root, analysers=analysers, search_timeout_s=2.0)
    values = {"max_tool_calls": 100, "max_read_bytes": 1_000_000, "max_result_bytes": 16_000, **limits}
    return BoundedToolBox(
        tools_, Redactor([KNOWN]), ToolLimits(**values), changed_paths=["src/app.py", ".env"]
    )


async def _run(box: BoundedToolBox, name: str, **arguments: object) -> ToolResult:
    return await box.run(ToolCall("c", name, arguments))


async def test_reads_a_file_and_a_symlink_that_stays_inside(repo):
    box = _box(repo.path)

    direct = await _run(box, "read_file", path="src/app.py", start=4, end=5)
    aliased = await _run(box, "read_file", path="./src/../src/alias.py", start=5, end=5)

    assert direct.ok and direct.text.endswith("4: def handler(x):\n5:     return x + 2")
    assert aliased.ok and aliased.text.endswith("5:     return x + 2")


@pytest.mark.parametrize(
    ("path", "complaint"),
    [
        ("../../etc/passwd", "leaves the worktree"),
        ("/etc/passwd", "absolute path refused"),
        ("link_etc/passwd", "leaves the worktree"),
        ("link_canary", "leaves the worktree"),
        ("link_outside/canary.txt", "leaves the worktree"),
        (".git/config", ".git directory is off limits"),
        ("src/../.git/HEAD", ".git directory is off limits"),
        ("src", "is a directory"),
        ("data/blob.bin", "binary"),
        ("missing.txt", "No such file"),
    ],
)
async def test_refused_reads_say_why_and_leak_nothing(repo, path, complaint):
    result = await _run(_box(repo.path), "read_file", path=path)

    assert not result.ok and complaint in result.text
    assert CANARY not in result.text and "root:" not in result.text


async def test_a_50_mb_file_is_refused_without_being_read(repo):
    with open(repo.path / "huge.log", "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: costs no disk, and reading it would take a while
    tools_ = GitWorktreeTools(repo.path)

    result = await _run(_box(repo.path), "read_file", path="huge.log")
    with pytest.raises(WorkspaceError, match="52428800 bytes, over the 4096-byte cap"):
        await tools_.read_bytes("huge.log", 4096)

    assert not result.ok and "52428800 bytes" in result.text and result.bytes_read == 0


async def test_a_fifo_is_refused_instead_of_blocking(repo):
    os.mkfifo(repo.path / "pipe")

    result = await _run(_box(repo.path), "read_file", path="pipe")

    assert not result.ok and "not a regular file" in result.text


async def test_a_path_named_after_a_secret_is_redacted_everywhere(repo):
    box = _box(repo.path)

    listing = await _run(box, "list_dir", path="keys")
    read = await _run(box, "read_file", path=f"keys/{KNOWN}.txt")
    hits = await _run(box, "search", pattern="named after")
    env = await _run(box, "read_file", path=".env")

    assert listing.ok and read.ok and hits.ok and env.ok
    assert "named after a secret" in read.text and "keys/[REDACTED:known_secret].txt:1:" in hits.text
    assert "API_TOKEN=[REDACTED:" in env.text
    for result in (listing, read, hits, env):
        assert KNOWN not in result.text and GH_TOKEN not in result.text


async def test_list_dir_shows_kinds_and_sizes_and_hides_git(repo):
    result = await _run(_box(repo.path), "list_dir")

    lines = result.text.split("\n")
    assert result.ok and "src/" in lines and "link_etc  (symlink)" in lines
    assert "README.md  (7 bytes)" in lines
    assert not any(line.startswith(".git") for line in lines)


async def test_search_fixed_regex_glob_and_cap(repo):
    for i in range(30):
        repo.write(f"many/f{i:02d}.py", "def handler():\n    pass\n")
    box = _box(repo.path)

    fixed = await _run(box, "search", pattern="handler")
    regex = await _run(box, "search", pattern=r"return x \+ \d", regex=True)
    globbed = await _run(box, "search", pattern="handler", path_glob="docs/*")
    capped = await BoundedToolBox(
        GitWorktreeTools(repo.path), Redactor(), ToolLimits(10, 1_000_000, 16_000, max_matches=5)
    ).run(ToolCall("c", "search", {"pattern": "handler"}))

    assert fixed.ok and "src/app.py:4: def handler(x):" in fixed.text and "docs/guide.md:1:" in fixed.text
    assert regex.ok and regex.text.split("\n")[1:] == ["src/app.py:5:     return x + 2"]
    assert globbed.ok and globbed.text.split("\n")[1:] == ["docs/guide.md:1: handler docs"]
    assert capped.ok and "5 match(es)" in capped.text and "stopped at the cap of 5" in capped.text
    assert "link_canary" not in fixed.text and CANARY not in fixed.text


async def test_a_catastrophic_regex_is_ended_by_its_timeout(repo):
    repo.write("slow.txt", "a" * 40 + "!\n")

    result = await _run(_box(repo.path), "search", pattern=r"(a+)+$", regex=True, path_glob="slow.txt")

    assert not result.ok and "timed out" in result.text
    assert 1_500 <= result.duration_ms < 10_000


async def test_git_log_and_blame_read_the_repositorys_history(repo):
    box = _box(repo.path)

    log = await _run(box, "git_log", path="src/app.py", n=5)
    whole = await _run(box, "git_log", n=1)
    blame = await _run(box, "git_blame", path="src/app.py", start=4, end=5)
    outside = await _run(box, "git_log", path="../outside")

    assert log.ok and log.text.count("\n") == 2 and "Test Author: first" in log.text
    assert "configure [REDACTED:github_token]" in log.text and GH_TOKEN not in log.text
    assert whole.ok and whole.text.count("\n") == 1
    first, second = blame.text.split("\n")[1:]
    assert first.startswith("4: ") and first.endswith("| def handler(x):")
    assert second.startswith("5: ") and second.endswith("|     return x + 2")
    assert first.split()[1] != second.split()[1]  # two different commits
    assert not outside.ok and "leaves the worktree" in outside.text


async def test_blame_past_the_end_gives_the_lines_there_are(repo):
    box = _box(repo.path)

    tail = await _run(box, "git_blame", path="src/app.py", start=9)
    past = await _run(box, "git_blame", path="src/app.py", start=50, end=60)

    assert tail.ok and tail.text.split("\n")[0] == "blame of src/app.py lines 9-10"
    assert not past.ok and "has only 10 lines" in past.text


async def test_git_tools_work_in_a_detached_worktree_whose_git_is_a_file(repo, tmp_path):
    head = repo.git("rev-parse", "HEAD")
    workspaces = GitWorktrees(tmp_path / "state", max_checkout_bytes=10_000_000)

    async with workspaces.worktree(RepoSource(str(repo.path), "o/r"), head, "job-1") as path:
        box = _box(path)
        log = await _run(box, "git_log", path="src/app.py")
        git_file = await _run(box, "read_file", path=".git")

    assert log.ok and log.text.count("\n") == 2
    assert not git_file.ok and ".git directory is off limits" in git_file.text


async def test_an_analyser_sees_the_changed_files_and_nothing_runs_from_the_tree(repo):
    # A config the PR controls, pointing ruff at a file outside: --isolated must ignore it.
    repo.write("ruff.toml", 'extend = "../outside/canary.txt"\n')
    analysers = worktree_tools.parse_analysers(
        [f"{RUFF} check --isolated --no-cache --output-format=concise"]
    )
    box = _box(repo.path, analysers=analysers)

    result = await _run(box, "run_analysers")

    assert result.ok and "F401" in result.text and "src/app.py" in result.text
    assert "1 file(s) holding a secret not analysed" in result.text and ".env" not in result.text
    assert "(exit 1," in result.text and CANARY not in result.text
    assert not (repo.path / ".ruff_cache").exists()


async def test_analysers_from_settings_and_a_missing_program(repo):
    analysers = worktree_tools.parse_analysers(["definitely-not-installed-analyser --flag", "  "])

    result = await _run(_box(repo.path, analysers=analysers), "run_analysers")

    assert analysers == (("definitely-not-installed-analyser", "--flag"),)
    assert result.ok and "could not start" in result.text


_SEGMENTS = [
    "..", "../..", "/", "/etc", "/etc/passwd", "link_etc", "link_canary", "link_outside", ".git", "src",
    ".env", "keys", f"keys/{KNOWN}.txt", KNOWN, GH_TOKEN, f"it's\\{KNOWN}", "a" * 300, ".", "", "~",
    "canary.txt", "%2e%2e", "data/blob.bin", "README.md", "src/alias.py", "passwd", "\u202e..",
]  # fmt: skip
_PATTERNS = ["CANARY", "API_TOKEN", KNOWN[:8], "ghp_", r"\w+=\S+", "root:", ".", "handler", "(", KNOWN]
_GLOBS = [None, "*", "*.txt", "../*", "/etc/*", "link_*/*", ".git/*", "keys/*"]


def _hostile_path(rng: random.Random) -> str:
    if rng.random() < 0.3:  # a real file, often one holding a secret
        return rng.choice([".env", f"keys/{KNOWN}.txt", "src/app.py", "src/alias.py", "README.md"])
    return "/".join(rng.choice(_SEGMENTS) for _ in range(rng.choice([1, 1, 1, 2, 3, 4])))


def _hostile_call(rng: random.Random, index: int) -> ToolCall:
    line = lambda: rng.choice([-5, 0, 1, 1, 1, 2, 3, 10, 10**9, "4", None, None, None])  # noqa: E731
    name = rng.choice(
        ["read_file", "read_file", "list_dir", "search", "git_log", "git_blame", "run_analysers"]
    )
    arguments: dict[str, object] = {
        "read_file": lambda: {"path": _hostile_path(rng), "start": line(), "end": line()},
        "list_dir": lambda: {"path": _hostile_path(rng)},
        "search": lambda: {
            "pattern": rng.choice(_PATTERNS),
            "path_glob": rng.choice(_GLOBS),
            "regex": rng.random() < 0.2,
        },
        "git_log": lambda: {"path": _hostile_path(rng), "n": rng.choice([1, 5, 50, 51, 0])},
        "git_blame": lambda: {"path": _hostile_path(rng), "start": line(), "end": line()},
        "run_analysers": dict,
    }[name]()
    return ToolCall(f"c{index}", name, arguments)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_property_no_outside_byte_and_no_secret_in_any_result(repo, seed):
    rng = random.Random(seed)
    analysers = worktree_tools.parse_analysers([f"{RUFF} check --isolated --no-cache --output-format=full"])
    results: list[ToolResult] = []
    for round_no in range(4):
        box = _box(
            repo.path, analysers=analysers, max_tool_calls=30, max_read_bytes=20_000, max_result_bytes=2_000
        )
        for index in range(32):
            results.append(await box.run(_hostile_call(rng, round_no * 100 + index)))

    texts = [result.text for result in results]
    import collections

    print(collections.Counter((r.name, r.ok) for r in results))
    print("\n---\n".join(texts[:400:7]))
    planted = (
        CANARY,
        KNOWN,
        GH_TOKEN,
        KNOWN.removeprefix("kn0wn-"),
        GH_TOKEN.removeprefix("ghp_"),
        "root:x:0",
    )
    assert not [t for t in texts if any(value in t for value in planted)]
    assert any(r.ok for r in results) and any(not r.ok for r in results)
    assert all(len(t.encode()) <= 2_000 for t in texts)
    assert sum(r.bytes_read for r in results) <= 4 * 20_000
    assert sum(tools.CALL_LIMIT_TEXT in t for t in texts) == 4 * 2
