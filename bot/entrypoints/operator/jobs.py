"""`quorum jobs`: the shared queue as an operator sees it, and `requeue` / `cancel` by hand.

Everything goes through the `Scheduler` port on the configured Redis, so what it shows and changes is
what every replica sees. Exit codes: 0 done, 1 Redis unreachable or nothing matched, 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from typing import TYPE_CHECKING, Any, TextIO

from bot.entrypoints.operator import common as operator_cli

if TYPE_CHECKING:
    from config.settings import Settings
    from guardrails import admission

_CANCEL_HELP = (
    "Drop one job. A waiting, delayed or dead job is removed from the queue. A running job has its "
    "lease revoked: its fence moves on and its slot is freed in one step, so the worker holding it is "
    "fenced out (its lease renewal, publish gate, record saves and finish all refuse) and posts nothing "
    "after the cancel (a post already past the publish gate completes); the cancel is written to the "
    "queue's audit stream. Cancel does not stop Quorum from reviewing "
    "the PR again: a new push, a command or the reconciler may queue it later. To stop reviews of a PR, "
    "comment `/quorum pause` on it."
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `jobs` (with `requeue` and `cancel`) on the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "jobs",
        help="show the review queue: waiting, running (holder, fence, age) and dead jobs",
        description="Show the shared review queue: waiting and delayed jobs with their head and age, "
        "running jobs with their holder (worker and claim), fence and age, and dead letters with their "
        "last error. `requeue` and `cancel` change it for every replica.",
    )
    operator_cli.common(parser)
    actions = parser.add_subparsers(dest="jobs_action", metavar="ACTION")
    requeue = actions.add_parser(
        "requeue",
        help="put a dead job (or all of them) back in line with fresh attempts",
        description="Put a dead letter back at the end of the queue with fresh attempts.",
    )
    requeue.add_argument("job_id", nargs="?", metavar="OWNER/REPO#N", help="the dead job to requeue")
    requeue.add_argument("--dead", action="store_true", help="requeue every dead letter")
    operator_cli.common(requeue, top=False)
    cancel = actions.add_parser(
        "cancel", help="drop a job; a running one is fenced out", description=_CANCEL_HELP
    )
    cancel.add_argument("job_id", metavar="OWNER/REPO#N", help="the job to cancel")
    operator_cli.common(cancel, top=False)
    return parser


def run(settings: Settings, args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Show the queue, or requeue or cancel; print what happened."""
    from bot import errors

    action = args.jobs_action or "list"
    if action == "requeue" and bool(args.job_id) == bool(args.dead):
        raise errors.InputError("quorum jobs requeue needs a job id (owner/repo#N) or --dead, not both")
    try:
        return asyncio.run(_run(settings, action, args, out))
    except errors.CoordinationUnavailable as exc:
        return operator_cli.unavailable(exc.message)


async def _run(settings: Settings, action: str, args: argparse.Namespace, out: TextIO | None) -> int:
    from bot.bootstrap import operator as operator_root

    async with operator_root.opened(settings) as ports:
        scheduler = ports.scheduler
        if action == "cancel":
            return await _cancel(scheduler, args.job_id, args.format, out)
        if action == "requeue":
            return await _requeue(scheduler, args, out)
        listing = await _listing(scheduler)
    operator_cli.write(out, args.format, listing, lambda: _listing_text(listing, time.time()))
    return operator_cli.EXIT_OK


async def _listing(scheduler: admission.Scheduler) -> dict[str, list[dict[str, Any]]]:
    return {
        "queued": [dataclasses.asdict(job) for job in await scheduler.queued()],
        "running": [_holder(job) for job in await scheduler.running()],
        "dead": [dataclasses.asdict(job) for job in await scheduler.dead_letters()],
    }


def _holder(job: admission.RunningJob) -> dict[str, Any]:
    # A prefix tells holders apart; the whole token is a capability over the lease, so it stays in Redis.
    shown = dataclasses.asdict(job)
    shown["token_prefix"] = shown.pop("token")[:8]
    return shown


def _listing_text(listing: dict[str, list[dict[str, Any]]], now: float) -> list[str]:
    return [
        f"queued ({len(listing['queued'])}):",
        *(_queued_line(job, now) for job in listing["queued"]),
        f"running ({len(listing['running'])}):",
        *(_running_line(job, now) for job in listing["running"]),
        f"dead letters ({len(listing['dead'])}):",
        *(_dead_line(job, now) for job in listing["dead"]),
    ]


def _head(job: dict[str, Any]) -> str:
    return str(job["head_sha"])[:12] or "-"


def _queued_line(job: dict[str, Any], now: float) -> str:
    age = operator_cli.age
    where = (
        f"delayed, due in {age(job['due_at'] - now)}"
        if job["delayed"]
        else f"waiting {age(now - job['since'])}"
    )
    error = f"  last error: {job['error']}" if job["error"] else ""
    return f"  {job['job_id']}  head {_head(job)}  {where}  attempts {job['attempts']}{error}"


def _running_line(job: dict[str, Any], now: float) -> str:
    age = operator_cli.age
    return (
        f"  {job['job_id']}  holder {job['claim_id'] or '-'} (token {job['token_prefix']})  "
        f"fence {job['fence']}  age {age(now - job['claimed_at'])}  "
        f"lease {age(job['lease_expires_at'] - now)} left  head {_head(job)}"
    )


def _dead_line(job: dict[str, Any], now: float) -> str:
    died = operator_cli.age(now - job["died_at"])
    return (
        f"  {job['job_id']}  head {_head(job)}  attempts {job['attempts']}  died {died} ago  "
        f"last error: {job['error'] or '-'}"
    )


async def _requeue(scheduler: admission.Scheduler, args: argparse.Namespace, out: TextIO | None) -> int:
    wanted = [dead.job_id for dead in await scheduler.dead_letters()] if args.dead else [args.job_id]
    done = {job: await scheduler.requeue_dead(job) for job in wanted}
    requeued = [job for job, ok in done.items() if ok]
    missed = [job for job, ok in done.items() if not ok]
    data = {"requeued": requeued, "not_dead": missed}
    operator_cli.write(out, args.format, data, lambda: [
        *(f"{job}: requeued" for job in requeued), *(f"{job}: not a dead letter" for job in missed),
        *(["no dead letters"] if not wanted else []),
    ])  # fmt: skip
    return operator_cli.EXIT_FAILED if missed else operator_cli.EXIT_OK


async def _cancel(scheduler: admission.Scheduler, job_id: str, fmt: str, out: TextIO | None) -> int:
    from guardrails import admission

    result = await scheduler.cancel(job_id, operator_cli.actor())
    words = {
        admission.CancelResult.REMOVED: "removed from the queue",
        admission.CancelResult.REVOKED: "was running: lease revoked, its holder is fenced out",
        admission.CancelResult.NOT_FOUND: "not queued, running or dead (nothing to cancel)",
    }
    operator_cli.write(
        out, fmt, {"job_id": job_id, "result": result.value}, lambda: [f"{job_id}: {words[result]}"]
    )
    return operator_cli.EXIT_FAILED if result is admission.CancelResult.NOT_FOUND else operator_cli.EXIT_OK
