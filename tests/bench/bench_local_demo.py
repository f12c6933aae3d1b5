"""The README's demo with the bundled model: wall time, the model's share of it, and a verdict per round.

    python -m tests.bench.bench_local_demo [--runs 1]

Runs `quorum review . --base 9e608c3~1 --head 9e608c3 --format json` from this repository as a user
would (a fresh process: imports, the llama.cpp child server's start, the rounds) and prints one line per
run: `wall_s`, `model_s` (the rounds' time, which includes starting the server), `model_share`, and each
round's verdict. Needs the `local` extra; CPU load from other processes shows in the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND = ("review", ".", "--base", "9e608c3~1", "--head", "9e608c3", "--format", "json")
TARGET_S = 60.0


@dataclass(frozen=True)
class DemoFigures:
    wall_s: float
    model_s: float
    verdicts: tuple[str, ...]
    decision: str

    @property
    def model_share(self) -> float:
        return self.model_s / self.wall_s

    @property
    def all_valid(self) -> bool:
        return bool(self.verdicts) and "none" not in self.verdicts

    def line(self) -> str:
        return (
            f"wall_s={self.wall_s:.1f} model_s={self.model_s:.1f} model_share={self.model_share:.2f} "
            f"rounds={','.join(self.verdicts)} all_valid={self.all_valid} decision={self.decision} "
            f"target_s={TARGET_S:.0f} load1={os.getloadavg()[0]:.1f}"
        )


def run_once(cwd: Path = ROOT, command: tuple[str, ...] = COMMAND) -> DemoFigures:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUORUM_")}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", *command],
        cwd=cwd,
        env=env | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise RuntimeError(f"quorum exited {done.returncode}: {done.stderr[-2000:]}")
    out = json.loads(done.stdout)
    rounds = out["rounds"]
    model = sum(r["duration_ms"] for r in rounds) / 1000
    return DemoFigures(wall, model, tuple(r["verdict"] for r in rounds), out["decision"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    for _ in range(parser.parse_args(argv).runs):
        print(run_once().line(), flush=True)


if __name__ == "__main__":
    main()
