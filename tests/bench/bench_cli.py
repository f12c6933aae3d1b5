"""Start-up time of `quorum --help` and `quorum review --help` against a bare `python -c pass`.

    python -m tests.bench.bench_cli [--runs 7]

Each command runs `--runs` times in a fresh interpreter, interleaved with the bare one so both see the
same load; the figures are medians in milliseconds, and `extra_ms` is what Quorum adds to a bare start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BARE = ("-c", "pass")
HELP = ("-m", "bot.entrypoints.cli", "--help")
REVIEW_HELP = ("-m", "bot.entrypoints.cli", "review", "--help")
TARGET_S = 0.3


@dataclass(frozen=True)
class StartFigures:
    bare_ms: float
    help_ms: float
    review_help_ms: float

    @property
    def extra_ms(self) -> float:
        return max(self.help_ms, self.review_help_ms) - self.bare_ms

    def line(self) -> str:
        return (
            f"bare_ms={self.bare_ms:.0f} help_ms={self.help_ms:.0f} review_help_ms={self.review_help_ms:.0f} "
            f"extra_ms={self.extra_ms:.0f} target_ms={TARGET_S * 1000:.0f}"
        )


def _once(args: tuple[str, ...]) -> float:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run([sys.executable, *args], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - started) * 1000


def measure(runs: int) -> StartFigures:
    """Median wall time of each command over `runs` interleaved runs."""
    times: dict[tuple[str, ...], list[float]] = {BARE: [], HELP: [], REVIEW_HELP: []}
    for _ in range(runs):
        for args, seen in times.items():
            seen.append(_once(args))
    return StartFigures(*(statistics.median(times[args]) for args in (BARE, HELP, REVIEW_HELP)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    print(measure(parser.parse_args(argv).runs).line())


if __name__ == "__main__":
    main()
