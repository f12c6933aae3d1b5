"""Agent tool time as a ratio to the same reads done directly, on a large real repository built in the run.

    python -m tests.bench.bench_tools [--files 2000]

Builds a git repository of `--files` Python files over two commits, then times 20 mixed tool calls through
`BoundedToolBox` + `GitWorktreeTools` (guardrails, redaction, caps, isolated git) and the same work done
directly (`open`, `os.scandir`, a plain line scan, `subprocess` git), and prints one line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bot.adapters.git.tools import GitWorktreeTools
from bot.ports import ToolCall
from bot.review.agent.tools import BoundedToolBox, ToolLimits
from guardrails.text.redaction import Redactor
from tests.support.git_repos import GitRepo

_MODULE = '''"""Module {i}."""

import os


def handler_{i}(value: int) -> int:
    """Return the value plus {i}."""
    total = value + {i}
    for step in range(3):
        total += step
    return total


class Service{i}:
    limit = {i}

    def run(self) -> int:
        return handler_{i}(self.limit)
'''


@dataclass(frozen=True)
class BenchFigures:
    files: int
    calls: int
    tools_ms: float
    direct_ms: float

    @property
    def ratio(self) -> float:
        return self.tools_ms / self.direct_ms

    def line(self) -> str:
        return (
            f"files={self.files} calls={self.calls} tools_ms={self.tools_ms:.1f} "
            f"direct_ms={self.direct_ms:.1f} ratio={self.ratio:.2f}"
        )


def build_repo(root: Path, files: int) -> GitRepo:
    """A repository of `files` modules in directories of 100, then a second commit touching a tenth."""
    repo = GitRepo(root)
    for i in range(files):
        repo.write(f"pkg{i // 100:02d}/mod{i:04d}.py", _MODULE.format(i=i))
    repo.commit("initial")
    for i in range(0, files, 10):
        repo.write(f"pkg{i // 100:02d}/mod{i:04d}.py", _MODULE.format(i=i).replace("+= step", "+= step * 2"))
    repo.commit("double the steps")
    return repo


def _calls(files: int) -> list[ToolCall]:
    """20 calls: 10 reads, 3 listings, 2 fixed-string searches, 3 logs, 2 blames."""
    mod = [f"pkg{i // 100:02d}/mod{i:04d}.py" for i in range(0, files, max(files // 10, 1))][:10]
    calls: list[tuple[str, dict[str, object]]] = [
        ("read_file", {"path": p, "start": 3, "end": 16}) for p in mod
    ]
    calls += [("list_dir", {"path": d}) for d in (".", "pkg00", f"pkg{(files - 1) // 100:02d}")]
    calls += [
        ("search", {"pattern": "handler_7(", "path_glob": "pkg00/*"}),
        ("search", {"pattern": "limit = 1"}),
    ]
    calls += [
        ("git_log", {"path": mod[0], "n": 5}),
        ("git_log", {"path": mod[1], "n": 5}),
        ("git_log", {"n": 5}),
    ]
    calls += [("git_blame", {"path": p, "start": 5, "end": 12}) for p in mod[:2]]
    return [ToolCall(f"c{i}", name, args) for i, (name, args) in enumerate(calls)]


async def run_tools(root: Path, calls: list[ToolCall]) -> float:
    """Milliseconds for the calls through the toolbox; every call must succeed."""
    limits = ToolLimits(max_tool_calls=len(calls), max_read_bytes=10_000_000, max_result_bytes=16_384)
    box = BoundedToolBox(GitWorktreeTools(root), Redactor(["bench-known-secret"]), limits)
    started = time.perf_counter()
    for call in calls:
        result = await box.run(call)
        assert result.ok, result.text
    return (time.perf_counter() - started) * 1000


def _direct_search(root: Path, pattern: str, glob: str | None, cap: int = 100) -> int:
    """The same scan as the tool's, stopping at the same match cap, without the guardrails."""
    hits = 0
    for top, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(names):
            rel = os.path.relpath(os.path.join(top, name), root)
            if glob and not fnmatch.fnmatchcase(rel, glob):
                continue
            with open(os.path.join(top, name), encoding="utf-8") as handle:
                hits += sum(pattern in line for line in handle.read().split("\n"))
            if hits >= cap:
                return hits
    return hits


def run_direct(root: Path, calls: list[ToolCall]) -> float:
    """Milliseconds for the same work with `open`, `os.scandir`, a line scan and `subprocess` git."""
    started = time.perf_counter()
    for call in calls:
        args = call.arguments
        if call.name == "read_file":
            with open(root / args["path"], encoding="utf-8") as handle:
                handle.read().split("\n")[args["start"] - 1 : args["end"]]
        elif call.name == "list_dir":
            with os.scandir(root / args["path"]) as entries:
                [(e.name, e.stat(follow_symlinks=False).st_size) for e in entries]
        elif call.name == "search":
            _direct_search(root, args["pattern"], args.get("path_glob"))
        elif call.name == "git_log":
            path = [args["path"]] if "path" in args else []
            subprocess.run(
                ["git", "log", "-n", "5", "--format=%H %s", "--", *path],
                cwd=root,
                check=True,
                capture_output=True,
            )
        else:
            span = f"{args['start']},{args['end']}"
            subprocess.run(
                ["git", "blame", "--porcelain", "-L", span, "HEAD", "--", args["path"]],
                cwd=root,
                check=True,
                capture_output=True,
            )
    return (time.perf_counter() - started) * 1000


async def measure(root: Path, files: int) -> BenchFigures:
    """Direct, tools, direct again (the direct figure is the mean of both, to even out cache warm-up)."""
    calls = _calls(files)
    run_direct(root, calls)  # warm the page cache for both sides
    before = run_direct(root, calls)
    tools_ms = await run_tools(root, calls)
    after = run_direct(root, calls)
    return BenchFigures(files, len(calls), tools_ms, (before + after) / 2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    files = parser.parse_args(argv).files
    with tempfile.TemporaryDirectory(prefix="quorum-bench-") as tmp:
        root = Path(tmp) / "repo"
        build_repo(root, files)
        figures = asyncio.run(measure(root, files))
    print(figures.line())


if __name__ == "__main__":
    main()
