"""Benchmark: parse + filter + chunk of a large diff, as a ratio to `git diff` producing it.

    python -m tests.bench.bench_diff [--files 3000] [--lines 120] [--quick]

Builds a repository in a temporary directory (thousands of files, hundreds of thousands of changed
lines), times `git diff` and then Quorum's parse, filter and chunk steps on its output in the same run,
and prints one line of figures. Peak memory is measured in a second pass under tracemalloc.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile
import time
import tracemalloc
from pathlib import Path

from bot.ports import DIFF_ARGS
from bot.review import chunking, diffparse, filters

GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
POLICY = filters.FilterPolicy(
    exclude=(),
    lock_files=("package-lock.json",),
    generated=("*.min.js",),
    vendored=("vendor/**",),
    max_files=100_000,
    max_file_lines=100_000,
    max_file_bytes=10**9,
)


def git(repo: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", *args],
        cwd=repo,
        env=GIT_ENV,
        check=True,
        capture_output=True,
    ).stdout


def build(repo: Path, files: int, lines: int, rng: random.Random) -> None:
    git(repo, "init", "-q", "-b", "main")
    for i in range(files):
        path = repo / f"pkg{i % 40}" / f"module_{i}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text("".join(f"value_{i}_{n} = compute({n}, {rng.random():.6f})\n" for n in range(lines)))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    for i in range(files):
        path = repo / f"pkg{i % 40}" / f"module_{i}.py"
        out = []
        for n, line in enumerate(path.read_text().splitlines(keepends=True)):
            roll = rng.random()
            if roll < 0.35:
                out.append(f"changed_{i}_{n} = other({n})\n")
            elif roll < 0.45:
                continue
            else:
                out.append(line)
            if roll > 0.9:
                out.append(f"added_{i}_{n} = 1\n")
        path.write_text("".join(out))
    git(repo, "commit", "-qam", "head")


def pipeline(raw: bytes, budget_tokens: int) -> tuple[int, int]:
    parsed = diffparse.parse(raw)
    kept, _ = filters.apply(parsed, POLICY)
    chunks, _ = chunking.build_chunks(kept, budget_tokens)
    return len(parsed), len(chunks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--lines", type=int, default=120)
    parser.add_argument("--quick", action="store_true", help="a smaller repository, for CI")
    args = parser.parse_args()
    files, lines = (800, 100) if args.quick else (args.files, args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        build(repo, files, lines, random.Random(1))
        started = time.perf_counter()
        raw = git(repo, *DIFF_ARGS, "HEAD~1", "HEAD")
        git_s = time.perf_counter() - started
    started = time.perf_counter()
    parsed_files, chunk_count = pipeline(raw, 6000)
    ours_s = time.perf_counter() - started
    tracemalloc.start()
    pipeline(raw, 6000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    diff_lines = raw.count(b"\n")
    print(
        f"bench_diff files={parsed_files} diff_lines={diff_lines} diff_mb={len(raw) / 2**20:.1f} "
        f"chunks={chunk_count} git_diff_s={git_s:.3f} parse_filter_chunk_s={ours_s:.3f} "
        f"ratio_to_git_diff={ours_s / git_s:.2f} peak_mb={peak / 2**20:.1f} "
        f"peak_to_diff_size={peak / max(len(raw), 1):.1f}"
    )


if __name__ == "__main__":
    main()
