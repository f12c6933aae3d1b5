"""`quorum pr owner/repo#N`: one PR as Quorum knows it: state, decision, heads, approvals, its place in
the queue, and the audit trail of its state changes."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from bot.entrypoints.operator import common as operator_cli

if TYPE_CHECKING:
    from config.settings import Settings
    from guardrails import admission

# The record's fields an operator reads (the outbox and notice keys are internal).
_SHOWN = (
    "state", "decision", "head_sha", "reviewed_sha", "approvals", "paused", "review_id", "review_sha",
    "review_blocking", "human_approved_sha", "updated_at", "version", "fence",
)  # fmt: skip


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `pr` on the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "pr",
        help="show one PR: state, decision, head, reviewed SHA, approvals and its audit trail",
        description="Show what Quorum has recorded for one pull request: its state, last decision, "
        "head and reviewed SHA, approving rounds counted, whether it is paused, where it is in the "
        "queue, and the audit trail of its state changes (oldest first).",
    )
    parser.add_argument("job_id", metavar="OWNER/REPO#N", help="the pull request")
    operator_cli.common(parser)
    return parser


def run(settings: Settings, args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Print the PR; 1 when Quorum has no record of it or Redis cannot be read."""
    from bot import errors
    from guardrails import admission

    admission.parse_job_id(args.job_id)
    try:
        shown = asyncio.run(_show(settings, args.job_id))
    except errors.CoordinationUnavailable as exc:
        return operator_cli.unavailable(exc.message)
    if shown["record"] is None and shown["queue"] == "none":
        operator_cli.write(out, args.format, shown, lambda: [f"{args.job_id}: Quorum has no record of it"])
        return operator_cli.EXIT_FAILED
    operator_cli.write(out, args.format, shown, lambda: _text(shown, time.time()))
    return operator_cli.EXIT_OK


async def _show(settings: Settings, job_id: str) -> dict[str, Any]:
    from bot.bootstrap import operator as operator_root

    async with operator_root.opened(settings) as ports:
        record, trail = await ports.records.load(job_id), await ports.records.audit(job_id)
        queue = await _queue_state(ports.scheduler, job_id)
    return {
        "job_id": job_id,
        "record": None if record is None else {name: getattr(record, name) for name in _SHOWN},
        "queue": queue,
        "audit": [dataclasses.asdict(entry) for entry in trail],
    }


async def _queue_state(scheduler: admission.Scheduler, job_id: str) -> str:
    if any(job.job_id == job_id for job in await scheduler.running()):
        return "running"
    for job in await scheduler.queued():
        if job.job_id == job_id:
            return "delayed" if job.delayed else "waiting"
    return "dead" if any(d.job_id == job_id for d in await scheduler.dead_letters()) else "none"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _text(shown: dict[str, Any], now: float) -> list[str]:
    lines = [f"{shown['job_id']}  (queue: {shown['queue']})"]
    record = shown["record"]
    if record is None:
        lines.append("  no record yet")
    else:
        lines += [f"  {name:<19} {record[name]}" for name in _SHOWN if name != "updated_at"]
        lines.append(f"  {'updated':<19} {operator_cli.age(now - record['updated_at'])} ago")
    lines.append(f"audit trail ({len(shown['audit'])}):")
    for entry in shown["audit"]:
        reason = f"  ({entry['reason']})" if entry["reason"] else ""
        lines.append(
            f"  {_when(entry['at'])}  {entry['from_state']} -> {entry['to_state']}  on {entry['trigger']}  "
            f"by {entry['actor']}{reason}"
        )
    return lines
