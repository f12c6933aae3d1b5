"""The `quorum` commands once their arguments are parsed (`cli.py` parses them).

Exit codes: 0 review completed (approved or changes requested), 3 escalated to a human, 2 usage or
configuration error, 1 internal error, 4 a regression against `quorum eval --baseline`; the service
commands (`serve`, `provision`) exit 78 (EX_CONFIG) on a configuration error, which systemd never restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import sys
import time
from typing import TextIO

from bot import pipeline, ports
from bot.bootstrap import review as review_root
from bot.domain import Decision, ReviewOutcome
from bot.entrypoints import logs, report
from bot.errors import ConfigError, InputError, ProviderUnavailable, QuorumError
from bot.review import planning, prompts
from config import render
from config.settings import Settings, load_settings
from guardrails import workspace

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_ESCALATED = 0, 1, 2, 3
EXIT_CONFIG = 78  # EX_CONFIG in sysexits.h; the systemd unit's RestartPreventExitStatus=78
# Run by a supervisor, which must tell "fix the settings" (no restart) from a crash (restart).
_SERVICE_COMMANDS = frozenset({"serve", "provision"})
_SERVICE_MODULES = {
    "serve": "bot.entrypoints.serve",
    "provision": "bot.entrypoints.provision_cmd",
    "doctor": "bot.entrypoints.doctor.command",
    "breaker": "bot.entrypoints.operator.breaker",
    "jobs": "bot.entrypoints.operator.jobs",
    "budget": "bot.entrypoints.operator.budget",
    "pr": "bot.entrypoints.operator.pr",
    "action": "bot.entrypoints.action_cmd",
}

log = logging.getLogger("quorum")


class TerminalProgress:
    """Progress lines on a terminal's stderr, with the time since the start."""

    def __init__(self, stream: TextIO) -> None:
        self._stream, self._start = stream, time.monotonic()

    def step(self, message: str) -> None:
        self._stream.write(f"quorum: [{time.monotonic() - self._start:6.1f}s] {message}\n")
        self._stream.flush()


def run(args: argparse.Namespace) -> int:
    """Run the parsed command; its exit code."""
    try:
        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            if args.command == "doctor":
                from bot.entrypoints.doctor import command as doctor_cmd

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
        from bot.entrypoints import eval_cmd

        return eval_cmd.run(settings, args)
    # The service commands log as a service: JSON lines off a terminal, secrets masked.
    level = "DEBUG" if args.verbose else settings.log_level
    logs.configure(level, settings.log_format, secrets=review_root.known_secrets(settings))
    # Each command imports its own clients (aiohttp, PyGithub, Elasticsearch, Discord) only when it runs.
    module = importlib.import_module(_SERVICE_MODULES[args.command])
    code: int = module.run(settings, args)
    return code


def _error(*lines: str) -> None:
    sys.stderr.write("quorum: " + "\n".join(lines) + "\n")


def _review(settings: Settings, args: argparse.Namespace) -> int:
    path = args.path.resolve()
    if not path.is_dir():
        raise InputError(f"{args.path} is not a directory")
    progress = TerminalProgress(sys.stderr) if sys.stderr.isatty() else ports.NO_PROGRESS
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
    settings: Settings, request: pipeline.ReviewRequest, progress: ports.Progress
) -> tuple[ReviewOutcome, int]:
    async with review_root.local_review(settings, progress) as (deps, observed):
        outcome = await pipeline.review(request, deps)
    return outcome, sum(call.cost_micro for call in observed.calls)


def _dry_run(settings: Settings, request: pipeline.ReviewRequest, fmt: str, progress: ports.Progress) -> int:
    prepared = asyncio.run(pipeline.prepare(request, review_root.prepare_deps(settings, progress)))
    reviewer = review_root.reviewer_plan(settings)
    plan = planning.plan(
        prompts.load(settings.review.prompt_version),
        prepared.chunks,
        reviewer,
        settings.llm.max_output_tokens,
        settings.consensus.max_rounds,
        review_root.limits(settings),
        prepared.pr_text,
    )
    if fmt == "json":
        out = report.plan_json(plan, reviewer.model) | {"base": prepared.base_sha, "head": prepared.head_sha}
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
    else:
        sys.stdout.write(report.plan_text(plan, reviewer.model) + "\n")
    return EXIT_OK
