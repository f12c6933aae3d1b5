"""Depth and overhead of a review: its wall time in model latencies, on a generated 60-file change.

    python -m tests.bench.bench_depth [--latency 1.0] [--files 60] [--lines 1500]

A repository gets a change of `--files` files and `--lines` changed lines; a fake OpenAI-compatible
server answers every call with an approval after `--latency` seconds (model gpt-4o-mini, so the
model's own context window applies). The review runs in process at default settings (two approving
rounds, agent rounds, `review.parallel_calls` 4), then with speculative rounds, then both again with
`llm.context_tokens = 8192` (several parts per round), after one warm-up review that caches the
repository's mirror (as a running `serve` has it). Per run: `depth` = review wall / latency,
`overhead` = (wall - time with a call in flight) / wall, and the calls made. Process start is not in
these figures: `bench_cli` measures it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import pipeline
from bot.bootstrap import review as review_root
from config.settings import load_settings
from guardrails import workspace
from tests.fakes.llm_servers import FakeLLMServer, RecordedRequest, Reply
from tests.support.git_repos import GitRepo

APPROVE = json.dumps({"verdict": "approve", "summary": "Looks right.", "confidence": 0.9, "findings": []})
MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class DepthFigures:
    label: str
    latency_s: float
    wall_s: float
    busy_s: float
    calls: int
    decision: str
    phases: dict[str, float] = field(default_factory=dict)  # idle seconds by step, largest first

    @property
    def depth(self) -> float:
        return self.wall_s / self.latency_s if self.latency_s else 0.0

    @property
    def overhead(self) -> float:
        return (self.wall_s - self.busy_s) / self.wall_s

    def line(self) -> str:
        return (
            f"{self.label}: latency_s={self.latency_s:g} wall_s={self.wall_s:.2f} depth={self.depth:.2f} "
            f"overhead={self.overhead:.3f} calls={self.calls} decision={self.decision}"
        )

    def phase_lines(self, top: int = 5) -> list[str]:
        """The largest parts of the time no call was in flight (what `overhead` is made of)."""
        return [
            f"  {self.label} idle {seconds * 1000:6.1f} ms  {name}"
            for name, seconds in list(self.phases.items())[:top]
        ]


class _Steps:
    """The review's progress steps, timed (the breakdown of the time no call is in flight)."""

    def __init__(self) -> None:
        self.at: list[tuple[float, str]] = []

    def step(self, message: str) -> None:
        self.at.append((time.monotonic(), message))


_AFTER_ANSWER = "after an answer (read, validate, tally, next round or finish)"


def _phase(message: str) -> str:
    """A step's message without its numbers and names, so every round's share adds up under one label."""
    head, part, _ = message.partition(": part")
    return re.sub(r"\d+", "N", head + part)


def breakdown(
    steps: list[tuple[float, str]], requests: list[RecordedRequest], latency: float, span: tuple[float, float]
) -> dict[str, float]:
    """Seconds with no call in flight, by the step (or answer) that came last before them."""
    start, end = span
    posts = [r.received_at for r in requests if r.method == "POST"]
    events = sorted([(start, "start"), *steps, *((t + latency, _AFTER_ANSWER) for t in posts)])
    calls = sorted((t, t + latency) for t in posts)
    totals: dict[str, float] = {}
    for index, (at, message) in enumerate(events):
        until = events[index + 1][0] if index + 1 < len(events) else end
        idle = _idle(max(at, start), min(until, end), calls)
        if idle > 0:
            totals[_phase(message)] = totals.get(_phase(message), 0.0) + idle
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def _idle(lo: float, hi: float, calls: list[tuple[float, float]]) -> float:
    """How much of [lo, hi] no call covers."""
    covered, cursor = 0.0, lo
    for begin, finish in calls:
        a, b = max(begin, cursor), min(finish, hi)
        if b > a:
            covered += b - a
            cursor = b
    return max(0.0, hi - lo - covered)


def build_change(root: Path, files: int, lines: int) -> GitRepo:
    """A repository whose second commit changes `lines` lines spread over `files` Python files."""
    per_file = max(1, lines // files)
    repo = GitRepo(root)
    for i in range(files):
        body = "".join(f"def f{i}_{n}(x):\n    return x + {n}\n\n\n" for n in range(per_file))
        repo.write(f"pkg{i % 6}/mod{i:03d}.py", body)
    repo.commit("initial")
    for i in range(files):
        body = "".join(f"def f{i}_{n}(x):\n    return x * {n}\n\n\n" for n in range(per_file))
        repo.write(f"pkg{i % 6}/mod{i:03d}.py", body)
    repo.commit("multiply instead")
    return repo


def busy_time(requests: list[RecordedRequest], latency: float) -> float:
    """How long at least one call was in flight at the provider (the union of the calls' intervals)."""
    spans = sorted((r.received_at, r.received_at + latency) for r in requests if r.method == "POST")
    total, end = 0.0, float("-inf")
    for start, stop in spans:
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


async def review_once(repo: Path, state: Path, latency: float, label: str, **overrides: Any) -> DepthFigures:
    with FakeLLMServer("openai", lambda r: Reply(text=APPROVE, delay_s=latency), models=(MODEL,)) as server:
        settings = load_settings(
            None,
            secrets_dirs=[],
            llm={"provider": "openai", "base_url": server.base_url, "model": MODEL, "api_key": "sk-bench"}
            | overrides.pop("llm", {}),
            workspace={"state_dir": state},
            **overrides,
        )
        request = pipeline.ReviewRequest(
            workspace.RepoSource(str(repo), repo.name), "HEAD", "HEAD~1", job_id=f"bench-{label}"
        )
        steps = _Steps()
        async with review_root.local_review(settings, steps) as (deps, _observed):
            steps.at.clear()  # building the dependencies is not part of the review's wall time
            began, started = time.monotonic(), time.perf_counter()
            outcome = await pipeline.review(request, deps)
            wall = time.perf_counter() - started
            ended = time.monotonic()
        posts = [r for r in server.requests if r.method == "POST"]
        busy = busy_time(posts, latency)
        phases = breakdown(steps.at, posts, latency, (began, ended))
        return DepthFigures(label, latency, wall, busy, len(posts), outcome.decision.value, phases)


async def measure(root: Path, latency: float, files: int, lines: int) -> list[DepthFigures]:
    repo = build_change(root / "repo", files, lines).path
    # One state directory: the repository's mirror is cached on disk after the warm-up, as in `serve`.
    await review_once(repo, root / "state", 0.0, "warm-up")
    runs: list[tuple[str, dict[str, Any]]] = [
        ("default", {}),
        ("speculative", {"consensus": {"speculative_rounds": True}}),
        ("default-8k", {"llm": {"context_tokens": 8192}}),
        ("speculative-8k", {"llm": {"context_tokens": 8192}, "consensus": {"speculative_rounds": True}}),
    ]
    return [await review_once(repo, root / "state", latency, label, **overrides) for label, overrides in runs]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--lines", type=int, default=1500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="quorum-depth-") as tmp:
        for figures in asyncio.run(measure(Path(tmp), args.latency, args.files, args.lines)):
            print(figures.line(), flush=True)
            for line in figures.phase_lines():
                print(line, flush=True)


if __name__ == "__main__":
    main()
