"""Benchmark: parse + filter + chunk of a large diff, as a ratio to `git diff` producing it.

    python -m tests.bench.bench_diff [--files 3000] [--lines 120] [--rounds 5] [--quick]

Builds a repository in a temporary directory (thousands of files, hundreds of thousands of changed
lines). In the same run, and interleaved so that a busy machine slows each alike, it times:

- `git diff` alone, its output read from the pipe and dropped (the baseline);
- the streamed path the daemon takes: the diff parsed while git writes it, then filtered and chunked;
- the whole-text path: git's output read whole, then parsed, filtered and chunked.

Each figure is the median of `--rounds`. A path's ratio is the time it adds to `git diff` alone, over
that time: (path - git) / git. On a machine with a core to spare the streamed path overlaps git; on a
busy one it cannot, so the CPU time this process spends on the streamed path is printed too, beside
git's own (cpu_to_git_cpu: what the ratio would be with no overlap at all).

Peak memory is measured in a second pass under tracemalloc, from the
start of the git call, so it counts what the process holds of the diff (whole text, pieces, parsed
files, chunks), and is given over the diff's size.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.adapters.git import streaming
from bot.domain import FileDiff
from bot.ports import DIFF_ARGS
from bot.review import chunking, diffparse, diffstream, filters

GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
ARGS = (*DIFF_ARGS, "HEAD~1", "HEAD")
BUDGET_TOKENS = 6000
TIMEOUT_S = 600.0
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


def _git_output(repo: Path, consume: Callable[[Iterator[bytes]], object]) -> object:
    """What `consume` makes of the output of the daemon's own `git diff` command, run as it runs it."""
    status, result, err = streaming.run(repo, ARGS, consume, timeout_s=TIMEOUT_S)
    if status != 0:
        raise RuntimeError(f"git diff failed: {err}")
    return result


def _filter_and_chunk(parsed: Sequence[FileDiff]) -> tuple[int, int]:
    kept, _ = filters.apply(parsed, POLICY)
    chunks, _ = chunking.build_chunks(kept, BUDGET_TOKENS)
    return len(parsed), len(chunks)


def git_alone(repo: Path) -> object:
    return _git_output(repo, lambda pieces: sum(map(len, pieces)))


def streamed(repo: Path) -> tuple[int, int]:
    parsed = _git_output(repo, lambda pieces: list(diffstream.parse_stream(pieces)))
    assert isinstance(parsed, list)
    return _filter_and_chunk(parsed)


def whole_text(repo: Path) -> tuple[int, int]:
    raw = _git_output(repo, b"".join)
    assert isinstance(raw, bytes)
    return _filter_and_chunk(diffparse.parse(raw))


@dataclass(frozen=True)
class Figures:
    diff_bytes: int
    diff_lines: int
    files: int
    chunks: int
    seconds: dict[str, float]  # path -> median wall time
    cpu: dict[str, tuple[float, float]]  # path -> median CPU seconds of (this process, git)
    peaks: dict[str, int]  # path -> peak traced bytes

    def ratio(self, path: str) -> float:
        """The time `path` adds to `git diff` alone, over the time of `git diff` alone."""
        return (self.seconds[path] - self.seconds["git"]) / self.seconds["git"]

    def peak_ratio(self, path: str) -> float:
        return self.peaks[path] / max(self.diff_bytes, 1)

    def line(self) -> str:
        git_s, stream_s, whole_s = (self.seconds[p] for p in ("git", "streamed", "whole"))
        return (
            f"bench_diff files={self.files} diff_lines={self.diff_lines} "
            f"diff_mb={self.diff_bytes / 2**20:.1f} chunks={self.chunks} git_diff_s={git_s:.3f} "
            f"streamed_s={stream_s:.3f} whole_text_s={whole_s:.3f} "
            f"ratio_to_git_diff={self.ratio('streamed'):.2f} "
            f"whole_text_ratio={self.ratio('whole'):.2f} "
            f"cpu_s={self.cpu['streamed'][0]:.3f} git_cpu_s={self.cpu['git'][1]:.3f} "
            f"cpu_to_git_cpu={self.cpu['streamed'][0] / max(self.cpu['git'][1], 1e-9):.2f} "
            f"peak_mb={self.peaks['streamed'] / 2**20:.1f} "
            f"peak_to_diff_size={self.peak_ratio('streamed'):.1f} "
            f"whole_text_peak_to_diff_size={self.peak_ratio('whole'):.1f}"
        )


def measure(repo: Path, rounds: int) -> Figures:
    """Time the three paths `rounds` times each, interleaved, then trace each path's peak memory once."""
    paths: dict[str, Callable[[Path], object]] = {"git": git_alone, "streamed": streamed, "whole": whole_text}
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, run in paths.items():
            times[name].append(_timed(run, repo))
    peaks = {name: _peak(paths[name], repo) for name in ("streamed", "whole")}
    raw = _git_output(repo, b"".join)
    assert isinstance(raw, bytes)
    files, chunks = streamed(repo)
    assert (files, chunks) == whole_text(repo), "the two paths disagree"
    seconds = {name: statistics.median(v[0] for v in values) for name, values in times.items()}
    cpu = {
        name: (statistics.median(v[1] for v in values), statistics.median(v[2] for v in values))
        for name, values in times.items()
    }
    return Figures(len(raw), raw.count(b"\n"), files, chunks, seconds, cpu, peaks)


def _timed(run: Callable[[Path], object], repo: Path) -> tuple[float, float, float]:
    """Wall seconds, this process's CPU seconds and git's CPU seconds of one run."""
    wall, ours, git_cpu = time.perf_counter(), time.process_time(), _children_cpu()
    run(repo)
    return time.perf_counter() - wall, time.process_time() - ours, _children_cpu() - git_cpu


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _peak(run: Callable[[Path], object], repo: Path) -> int:
    tracemalloc.start()
    try:
        run(repo)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--lines", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="the 120k-line diff, for CI")
    args = parser.parse_args()
    files, lines = (800, 100) if args.quick else (args.files, args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        build(repo, files, lines, random.Random(1))
        print(measure(repo, args.rounds).line())


if __name__ == "__main__":
    main()
