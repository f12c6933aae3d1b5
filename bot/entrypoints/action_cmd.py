"""`quorum action`: review (and, when allowed, merge) the pull request of a GitHub Actions workflow run.

Exit codes: 0 when the run reached a decision or had nothing to do (an escalation included), 3 for an
escalation only with `--fail-on-escalation`, 1 when a job failed (re-run the workflow), 2 for a
configuration or usage error. The heavy modules load only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_ESCALATED = 0, 1, 3  # 3 as `quorum review` uses for an escalation


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    action = commands.add_parser(
        "action",
        help="handle the event of a GitHub Actions workflow run (no server, no public URL)",
        description="Read the workflow run's event (GITHUB_EVENT_NAME, GITHUB_EVENT_PATH) and act on its "
        "pull request as `quorum serve` would: review rounds, the consensus gate, the review and status "
        "on the PR, and a merge pinned to the approved head when the merge policy allows. Writes a job "
        "summary, annotations and the outputs `decision` and `cost`.",
    )
    action.add_argument(
        "--fail-on-escalation",
        action="store_true",
        help=f"exit {EXIT_ESCALATED} when the decision is an escalation to a human (default: exit 0)",
    )
    action.add_argument("--config", type=Path, metavar="FILE", help="a TOML settings file")


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Handle the run's event; the exit code says whether the workflow step should fail."""
    import asyncio
    import functools
    import os
    import sys

    from bot import ports
    from bot.action import environment, runner_output, writers
    from bot.action import run as action_run
    from bot.bootstrap import action as action_root

    env = environment.from_environ(os.environ)
    for name in [n for n in os.environ if n.startswith("GIT_")]:
        # An inherited GIT_DIR or GIT_WORK_TREE would point every git call somewhere else.
        del os.environ[name]
    settings = action_root.with_runner(settings, env)
    with runner_output.group(sys.stdout, f"Quorum: {env.event_name} on {env.repository}"):
        open_runtime = functools.partial(action_root.runtime, settings, env, ports.NO_PROGRESS)
        report = asyncio.run(action_run.run(settings, env, open_runtime))
    for pull in report.pulls:
        for finding in pull.outcome.comments if pull.outcome else ():
            sys.stdout.write(runner_output.annotation(finding) + "\n")
    for note in (writers.FORK_NOTE if report.fork else "", report.note):
        if note:
            sys.stdout.write(f"::notice title=Quorum::{runner_output.escape_data(note)}\n")
    runner_output.append(env.step_summary, runner_output.summary(report))
    runner_output.append(env.output, runner_output.outputs(report))
    sys.stdout.write(
        f"quorum: {runner_output.decision(report)} ({runner_output.usd(report.cost_micro)} USD)\n"
    )
    if any(p.failed for p in report.pulls):
        return EXIT_FAILED
    if args.fail_on_escalation and any(p.decision == "escalated" for p in report.pulls):
        return EXIT_ESCALATED
    return EXIT_OK
