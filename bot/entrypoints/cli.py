"""The `quorum` command line.

Exit codes: 0 review completed (approved or changes requested), 3 escalated to a human, 2 usage or
configuration error, 1 internal error, 4 a regression against `quorum eval --baseline`; the service
commands (`serve`, `provision`) exit 78 (EX_CONFIG) on a configuration error, which systemd never restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot import bootstrap, pipeline, version
from bot.domain import Decision, ReviewOutcome
from bot.entrypoints import (
    action_cmd,
    breaker_cmd,
    budget_cmd,
    doctor_cmd,
    eval_cmd,
    jobs_cmd,
    logs,
    pr_cmd,
    provision_cmd,
    report,
    serve,
)
from bot.errors import ConfigError, InputError, ProviderUnavailable, QuorumError
from bot.review import planning, prompts
from config import render
from config.settings import Settings, load_settings
from guardrails import workspace

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_ESCALATED = 0, 1, 2, 3
EXIT_CONFIG = 78  # EX_CONFIG in sysexits.h; the systemd unit's RestartPreventExitStatus=78
# Run by a supervisor, which must tell "fix the settings" (no restart) from a crash (restart).
_SERVICE_COMMANDS = frozenset({"serve", "provision"})

log = logging.getLogger("quorum")


class TerminalProgress:
    """Progress lines on a terminal's stderr, with the time since the start."""

    def __init__(self, stream: TextIO) -> None:
        self._stream, self._start = stream, time.monotonic()

    def step(self, message: str) -> None:
        self._stream.write(f"quorum: [{time.monotonic() - self._start:6.1f}s] {message}\n")
        self._stream.flush()


class NoProgress:
    def step(self, message: str) -> None:
        log.debug("%s", message)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quorum",
        description="Review changes with LLMs inside hard guardrails: budgets, deadlines, "
        "validated output and a consensus of review rounds.",
        epilog="Settings come from QUORUM_* environment variables, a TOML file (--config or QUORUM_CONFIG) "
        "and secret files; `quorum config` shows them.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version.VERSION}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    rev = commands.add_parser(
        "review",
        help="review a local branch and print the decision",
        description="Review the commits of HEAD (or --head) that are not on the base "
        "branch, in rounds, until consensus, a request for changes, or escalation.",
    )
    rev.add_argument("path", type=Path, metavar="PATH", help="a git repository")
    rev.add_argument(
        "--base", metavar="REF", help="base branch or commit (default: the repository's default branch)"
    )
    rev.add_argument("--head", metavar="REF", default="HEAD", help="head commit to review (default: HEAD)")
    rev.add_argument("--format", choices=["text", "markdown", "json"], default="text", help="output format")
    rev.add_argument(
        "--dry-run",
        action="store_true",
        help="call no LLM: print the chunks, token estimates and the cost bound against the caps",
    )
    rev.add_argument(
        "--title", default="", help="a title for the change, shown to the reviewer as the PR title"
    )
    rev.add_argument("--description", default="", help="a description shown to the reviewer as the PR body")
    rev.add_argument("--config", type=Path, metavar="FILE", help="a TOML settings file")
    cfg = commands.add_parser("config", help="print the effective settings, secrets masked")
    cfg.add_argument("--config", type=Path, metavar="FILE", help="a TOML settings file")
    serve.add_parser(commands)
    eval_cmd.add_parser(commands)
    provision_cmd.add_parser(commands)
    doctor_cmd.add_parser(commands)
    breaker_cmd.add_parser(commands)
    jobs_cmd.add_parser(commands)
    budget_cmd.add_parser(commands)
    pr_cmd.add_parser(commands)
    action_cmd.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            if args.command == "doctor":
                return doctor_cmd.report_config_error(exc, args)
            raise
        return _dispatch(settings, args)
    except ConfigError as exc:
        _error(
            "configuration error: " + exc.message, *[f"  - {p}" for p in exc.problems if p not in exc.message]
        )
        return EXIT_CONFIG if args.command in _SERVICE_COMMANDS else EXIT_USAGE
    except (InputError, ProviderUnavailable) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except QuorumError as exc:
        _error(str(exc))
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception:
        log.exception("internal error")
        return EXIT_INTERNAL


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "config":
        sys.stdout.write(render.render(settings))
        return EXIT_OK
    if args.command == "review":
        return _review(settings, args)
    if args.command == "eval":
        return eval_cmd.run(settings, args)
    # The service commands log as a service: JSON lines off a terminal, secrets masked.
    level = "DEBUG" if args.verbose else settings.log_level
    logs.configure(level, settings.log_format, secrets=bootstrap.known_secrets(settings))
    commands = {
        "serve": serve.run,
        "provision": provision_cmd.run,
        "doctor": doctor_cmd.run,
        "breaker": breaker_cmd.run,
        "jobs": jobs_cmd.run,
        "budget": budget_cmd.run,
        "pr": pr_cmd.run,
        "action": action_cmd.run,
    }
    return commands[args.command](settings, args)


def _error(*lines: str) -> None:
    sys.stderr.write("quorum: " + "\n".join(lines) + "\n")


def _review(settings: Settings, args: argparse.Namespace) -> int:
    path = args.path.resolve()
    if not path.is_dir():
        raise InputError(f"{args.path} is not a directory")
    progress = TerminalProgress(sys.stderr) if sys.stderr.isatty() else NoProgress()
    pr_text = "\n\n".join(p for p in (args.title, args.description) if p)
    request = pipeline.ReviewRequest(
        workspace.RepoSource(str(path), path.name),
        args.head,
        args.base,
        job_id=f"local-{int(time.time())}",
        pr_text=pr_text,
    )
    if args.dry_run:
        return _dry_run(settings, request, args.format, progress)
    outcome, cost = asyncio.run(_run(settings, request, progress))
    meta = report.Meta(settings.llm.provider, settings.review.prompt_version, cost)
    if args.format == "json":
        sys.stdout.write(json.dumps(report.to_json(outcome, meta), indent=2, ensure_ascii=False) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(report.to_markdown(outcome, meta) + "\n")
    else:
        sys.stdout.write(report.to_text(outcome, meta) + "\n")
    return EXIT_ESCALATED if outcome.decision is Decision.ESCALATED else EXIT_OK


async def _run(
    settings: Settings, request: pipeline.ReviewRequest, progress: TerminalProgress | NoProgress
) -> tuple[ReviewOutcome, int]:
    async with bootstrap.local_review(settings, progress) as (deps, observed):
        outcome = await pipeline.review(request, deps)
    return outcome, sum(call.cost_micro for call in observed.calls)


def _dry_run(
    settings: Settings, request: pipeline.ReviewRequest, fmt: str, progress: TerminalProgress | NoProgress
) -> int:
    prepared = asyncio.run(pipeline.prepare(request, bootstrap.prepare_deps(settings, progress)))
    reviewer = bootstrap.reviewer_plan(settings)
    plan = planning.plan(
        prompts.load(settings.review.prompt_version),
        prepared.chunks,
        reviewer,
        settings.llm.max_output_tokens,
        settings.consensus.max_rounds,
        bootstrap.limits(settings),
        prepared.pr_text,
    )
    if fmt == "json":
        out = report.plan_json(plan, reviewer.model) | {"base": prepared.base_sha, "head": prepared.head_sha}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stdout.write(report.plan_text(plan, reviewer.model) + "\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
