"""The tool benchmark still runs and measures both sides (a small repository, not a performance gate)."""

from __future__ import annotations

from pathlib import Path

from tests.bench import bench_tools


async def test_benchmark_measures_tools_and_direct_reads(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    bench_tools.build_repo(root, 120)

    figures = await bench_tools.measure(root, 120)

    assert figures.calls == 20
    assert figures.tools_ms > 0 and figures.direct_ms > 0
    assert figures.line().startswith("files=120 calls=20 tools_ms=")
