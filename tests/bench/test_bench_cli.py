"""`quorum --help` answers from argparse alone: no client library is imported, and it starts fast."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot.entrypoints import cli
from tests.bench import bench_cli

HEAVY = ("github", "aiohttp", "elasticsearch", "discord", "redis", "httpx", "pydantic", "llama_cpp")
_PROBE = """
import json, sys
from bot.entrypoints import {module}
try:
    {call}
except SystemExit:
    pass
print(json.dumps(sorted({{name.split(".")[0] for name in sys.modules}})))
"""


def imported(module: str, call: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after `call`."""
    code = _PROBE.format(module=module, call=call)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=bench_cli.ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize(
    "argv", [["--help"], ["review", "--help"], ["serve", "--help"], ["--version"], ["nonsense"]]
)
def test_help_and_usage_errors_import_no_client_library(argv: list[str]) -> None:
    loaded = imported("cli", f"cli.main({argv!r})")

    assert "bot" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_a_local_review_imports_no_github_aiohttp_elasticsearch_or_discord() -> None:
    loaded = imported("cli_commands", "pass")

    assert {"bot", "pydantic", "httpx"} <= loaded
    assert loaded.isdisjoint({"github", "aiohttp", "elasticsearch", "discord"}), loaded


def test_version_is_printed_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])

    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("quorum ")


def test_the_start_benchmark_measures_each_command() -> None:
    figures = bench_cli.measure(1)

    assert figures.bare_ms > 0 and figures.help_ms > 0 and figures.review_help_ms > 0
    assert figures.line().startswith("bare_ms=")
