"""`quorum breaker list` and `quorum breaker reset PROVIDER/MODEL`: see and close circuit breakers by hand.

The breakers live in Redis and are shared by every replica, so a reset here takes effect everywhere at
once. Exit codes: 0 done, 1 Redis unreachable or the breaker was not open, 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TextIO

from bot import errors
from bot.bootstrap import operator as operator_root
from config.settings import Settings
from guardrails import breaker

EXIT_OK, EXIT_FAILED = 0, 1


def run(settings: Settings, args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """List or reset; print one line per breaker."""
    stream = sys.stdout if out is None else out
    if args.action == "reset" and not args.name:
        stream.write("quorum breaker reset needs PROVIDER/MODEL (see `quorum breaker list`)\n")
        return 2
    try:
        return asyncio.run(_run(settings, args, stream))
    except errors.CoordinationUnavailable as exc:
        stream.write(f"quorum: {exc.message}\n")
        return EXIT_FAILED


async def _run(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    async with operator_root.opened(settings) as ports:
        if args.action == "reset":
            closed = await ports.breakers.reset(args.name)
            out.write(f"{args.name}: {'closed' if closed else 'was not open (nothing to do)'}\n")
            return EXIT_OK if closed else EXIT_FAILED
        states = await ports.breakers.states()
    now = time.time()
    for status in states:
        out.write(breaker.describe(status, now) + f", opened {status.opened} time(s)\n")
    if not states:
        out.write("no breaker has recorded a failure\n")
    return EXIT_OK
