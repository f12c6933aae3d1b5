"""The throughput benchmark runs end to end at a small size and its figures add up (not a speed gate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench import bench_throughput

pytestmark = pytest.mark.redis


async def test_every_pr_is_decided_and_merged_and_the_figures_add_up(tmp_path: Path) -> None:
    figures = await bench_throughput.measure(tmp_path, prs=4, repos=2, replicas=2, latency_s=0.3)

    assert (figures.decisions, figures.merges) == (4, 4)
    assert figures.calls == 8  # two approving rounds per PR: the consensus
    assert 0 < figures.ideal_s <= figures.makespan_s
    assert 0 < figures.efficiency <= 1
    # Every call ran inside a claim's slot, so slot time covers model time plus what is outside it.
    assert figures.held_s >= figures.calls * 0.3 - 0.05
    assert figures.outside_s >= 0 and figures.idle_claims == 0
    assert figures.writes >= 4 * 2  # at least a review and a merge per PR
    # Both replicas use one token: GitHub saw its writes one interval apart at least, and the write floor
    # is a true floor of the time to the last write.
    assert figures.min_write_gap_s >= bench_throughput.WRITE_INTERVAL_S
    assert figures.makespan_s <= figures.done_s
    assert 0 < figures.write_floor_s <= figures.done_s
    assert figures.efficiency <= figures.efficiency_vs_bound <= 1
    assert figures.line().startswith("efficiency=")
