"""The diff benchmark still runs, measures git alone in the same run, and its two paths agree."""

from __future__ import annotations

import random
from pathlib import Path

from tests.bench import bench_diff


def test_the_benchmark_times_git_and_both_paths_on_the_same_diff(tmp_path: Path) -> None:
    bench_diff.build(tmp_path, files=30, lines=40, rng=random.Random(1))

    figures = bench_diff.measure(tmp_path, rounds=2)

    assert figures.files == 30 and figures.chunks >= 1
    assert figures.diff_lines > 30 * 20 and figures.diff_bytes > 0
    assert all(figures.seconds[path] > 0 for path in ("git", "streamed", "whole"))
    assert figures.cpu["git"][1] > 0  # git's own CPU time was counted
    assert figures.peaks["streamed"] > 0 and figures.peaks["whole"] > 0
    fields = dict(part.split("=") for part in figures.line().split()[1:])
    assert {"git_diff_s", "ratio_to_git_diff", "cpu_to_git_cpu", "peak_to_diff_size"} <= fields.keys()
