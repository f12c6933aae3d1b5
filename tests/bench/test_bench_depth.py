"""The depth benchmark still runs and measures (a small change and a short latency, not a gate)."""

from __future__ import annotations

from pathlib import Path

from tests.bench import bench_depth
from tests.fakes.llm_servers import RecordedRequest


def posted_at(at: float) -> RecordedRequest:
    return RecordedRequest("POST", "/v1/chat/completions", {}, {}, received_at=at)


def test_busy_time_is_the_union_of_the_calls_in_flight() -> None:
    calls = [posted_at(0.0), posted_at(0.5), posted_at(3.0)]

    assert bench_depth.busy_time(calls, 1.0) == 2.5  # [0, 1.5] and [3, 4]


async def test_the_benchmark_reviews_each_way_to_a_decision(tmp_path: Path) -> None:
    figures = await bench_depth.measure(tmp_path, 0.05, files=6, lines=60)

    assert [f.label for f in figures] == ["default", "speculative", "default-8k", "speculative-8k"]
    assert all(f.decision == "approved" and f.calls == 2 and f.depth >= 1.0 for f in figures)
    assert all(0 <= f.overhead < 1 and f.line().startswith(f.label) for f in figures)
    assert all(0 < sum(f.phases.values()) <= f.wall_s - f.busy_s + 1e-3 for f in figures)


def test_the_breakdown_names_what_ran_while_no_call_was_in_flight() -> None:
    steps = [(0.1, "resolving refs"), (0.35, "round 1: part 1/1 (a, m)"), (2.5, "round 2: part 1/1 (b, m)")]
    calls = [posted_at(0.4), posted_at(2.6)]

    phases = bench_depth.breakdown(steps, calls, 1.0, (0.0, 3.8))

    assert list(phases) == [bench_depth._AFTER_ANSWER, "resolving refs", "round N: part", "start"]
    assert [round(s, 3) for s in phases.values()] == [1.3, 0.25, 0.15, 0.1]
