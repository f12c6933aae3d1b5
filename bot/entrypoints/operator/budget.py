"""`quorum budget`: today's spend against the caps, for all repositories, each repository and each PR.

Read through the `BudgetLedger` port on the configured Redis: every replica charges the same counters,
so this is the whole deployment's spend. Amounts include what running calls still hold reserved.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from bot.entrypoints.operator import common as operator_cli

if TYPE_CHECKING:
    from config.settings import Settings
    from guardrails import budget

Row = dict[str, Any]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `budget` on the CLI's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "budget",
        help="show today's spend against the caps: all, per repository, per PR",
        description="Show what the models cost today (UTC) against budget.daily_usd, each repository's "
        "spend against budget.per_repo_daily_usd, and each PR's spend against budget.per_pr_usd (a PR's "
        "cap spans all its reviews, kept budget.pr_ledger_days days). Spend includes what running calls "
        "hold reserved.",
    )
    operator_cli.common(parser)
    return parser


def run(settings: Settings, args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Print the spend; 1 when Redis cannot be read."""
    from bot import errors

    try:
        report = asyncio.run(_report(settings, time.time()))
    except errors.CoordinationUnavailable as exc:
        return operator_cli.unavailable(exc.message)
    operator_cli.write(out, args.format, report, lambda: _text(report))
    return operator_cli.EXIT_OK


async def _report(settings: Settings, now: float) -> dict[str, Any]:
    from bot.bootstrap import operator as operator_root
    from bot.bootstrap import review as review_root

    day = datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%d")
    async with operator_root.opened(settings) as ports:
        return await spend(ports.ledger, review_root.limits(settings), day)


async def spend(ledger: budget.BudgetLedger, limits: budget.BudgetLimits, day: str) -> dict[str, Any]:
    """Spend on `day` against the caps, read through the ledger port."""
    repos = {
        key[len("repo_day:") : -len(day) - 1]: used
        for key, used in (await ledger.counters("repo_day:")).items()
        if key.endswith(f":{day}")
    }
    prs = {key[len("pr:") :]: used for key, used in (await ledger.counters("pr:")).items()}
    return {
        "day": day,
        "all": _row(await ledger.used(f"day:{day}"), limits.per_day),
        "repositories": [{"repo": repo} | _row(used, limits.per_repo_day) for repo, used in repos.items()],
        "prs": [{"pr": pr} | _row(used, limits.per_pr) for pr, used in prs.items()],
    }


def _row(used: int, limit: int) -> Row:
    return {
        "spent_micro_usd": used,
        "limit_micro_usd": limit,
        "percent": round(100 * used / limit, 1) if limit else 0.0,
    }


def _line(name: str, row: Row) -> str:
    spent, limit = operator_cli.usd(row["spent_micro_usd"]), operator_cli.usd(row["limit_micro_usd"])
    return f"  {name:<40} {spent} of {limit} ({row['percent']}%)"


def _text(report: dict[str, Any]) -> list[str]:
    return [
        f"spend on {report['day']} (UTC):",
        _line("all repositories", report["all"]),
        "per repository (today):",
        *([_line(r["repo"], r) for r in report["repositories"]] or ["  none"]),
        "per PR (all its reviews):",
        *([_line(r["pr"], r) for r in report["prs"]] or ["  none"]),
    ]
