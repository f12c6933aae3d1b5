"""What the operator commands (`jobs`, `budget`, `pr`) share: their options, the audit actor, output.

Imports stay light at module level so `quorum --help` does not load Redis or the review pipeline; the
ports the commands work on come from `bot.bootstrap.operator`, opened inside each command.
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

EXIT_OK, EXIT_FAILED = 0, 1


def common(parser: argparse.ArgumentParser, *, top: bool = True) -> None:
    """`--format` and `--config`; a sub-command's copies leave the parent's value alone unless given."""
    keep: Any = argparse.SUPPRESS
    parser.add_argument(
        "--format", choices=["text", "json"], default="text" if top else keep, help="output format"
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE", default=None if top else keep, help="a TOML settings file"
    )


def actor() -> str:
    """Who runs the command, for the audit trail: `cli:user@host`."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
        user = "unknown"
    return f"cli:{user}@{socket.gethostname()}"


def write(out: TextIO | None, fmt: str, data: object, text: Callable[[], list[str]]) -> None:
    """Print `data` as JSON, or the lines `text` makes."""
    stream = sys.stdout if out is None else out
    if fmt == "json":
        stream.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        stream.write("".join(line + "\n" for line in text()))


def unavailable(message: str) -> int:
    """Say Redis could not be reached (on stderr); the exit code for it."""
    sys.stderr.write(f"quorum: {message}\n")
    return EXIT_FAILED


def age(seconds: float) -> str:
    """A short duration: `42s`, `3m05s`, `2h10m`, `3d4h`."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86_400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86_400}d{s % 86_400 // 3600}h"


def usd(micro: int) -> str:
    return f"${micro / 1_000_000:,.4f}"
