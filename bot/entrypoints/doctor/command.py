"""`quorum doctor`: check the configuration and every service Quorum talks to; print a table with fixes.

Exit 0 when nothing required failed, 1 otherwise (`--strict`: any failure). Optional components that are
not configured (Elasticsearch, Kibana, Discord) are skipped. No secret is ever printed: every row passes
through the redactor with the configured secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, replace
from typing import TextIO

from bot import errors
from bot.bootstrap import doctor as doctor_root
from bot.entrypoints import cli_args
from bot.entrypoints.doctor import checks as doctor_checks
from bot.entrypoints.doctor import config as doctor_config
from bot.entrypoints.doctor import protection as doctor_protection
from bot.entrypoints.doctor.checks import Check
from config.settings import Settings, load_settings
from guardrails.text import redaction

EXIT_OK, EXIT_FAILED = 0, 1


def run(settings: Settings, args: argparse.Namespace, *, out: TextIO | None = None) -> int:
    """Run every check, print the report, and return the exit code."""
    rows = asyncio.run(collect(settings, poll=args.poll, timeout_s=args.timeout))
    rows = [_redacted(row, _redactor(settings)) for row in rows]
    stream = sys.stdout if out is None else out
    stream.write(render_json(rows) if args.format == "json" else render_text(rows))
    return exit_code(rows, strict=args.strict)


def _redactor(settings: Settings) -> redaction.Redactor:
    return redaction.Redactor(doctor_root.secrets(settings))


def _redacted(row: Check, redactor: redaction.Redactor) -> Check:
    return replace(row, detail=redactor.redact(row.detail)[0], hint=redactor.redact(row.hint)[0])


async def collect(settings: Settings, *, poll: bool, timeout_s: float) -> list[Check]:
    """Every row, in a fixed order; the service checks run concurrently, each under `timeout_s`."""
    rows = doctor_config.configuration(settings, poll=poll)
    async with doctor_root.http_client(timeout_s) as client:
        named: list[tuple[str, Awaitable[Check]]] = [
            ("redis", doctor_checks.redis(settings, timeout_s)),
            ("breakers", doctor_checks.breakers(settings, timeout_s)),
            ("github", doctor_checks.github(settings, timeout_s)),
            ("branch protection", doctor_protection.protection(settings, timeout_s)),
            ("activity log", doctor_protection.activity(settings, timeout_s)),
            ("llm", doctor_checks.llm(settings, client)),
            ("elasticsearch", doctor_checks.elasticsearch(settings, client)),
            ("kibana", doctor_checks.kibana(settings, client)),
            ("discord", doctor_checks.discord(settings, client)),
            ("git", doctor_checks.git()),
            ("clone url", doctor_checks.clone_url(settings, timeout_s)),
        ]
        checked = await asyncio.gather(*(_guarded(name, check, timeout_s) for name, check in named))
    return [*rows, *checked[:-2], doctor_checks.state_dir(settings), *checked[-2:]]


async def _guarded(name: str, check: Awaitable[Check], timeout_s: float) -> Check:
    """The check's row; a timeout or an unexpected error becomes a failed row, never a crash."""
    optional = ("elasticsearch", "kibana", "discord", "breakers", "branch protection", "activity log")
    required = name not in optional
    try:
        async with asyncio.timeout(timeout_s + 1.0):
            return await check
    except TimeoutError:
        return Check(
            name, "fail", f"no answer within {timeout_s:g}s", "check the address and the network", required
        )
    except Exception as exc:
        return Check(name, "fail", f"{type(exc).__name__}: {exc}", "see the message; rerun with -v", required)


def exit_code(rows: Sequence[Check], *, strict: bool = False) -> int:
    """1 when a required row (any row with `strict`) failed, else 0."""
    failed = any(row.status == "fail" and (row.required or strict) for row in rows)
    return EXIT_FAILED if failed else EXIT_OK


def render_text(rows: Sequence[Check]) -> str:
    """An aligned table; each failure or warning with a hint is followed by a `fix:` line."""
    width = max(len(row.name) for row in rows)
    lines = [f"{'CHECK':<{width}}  STATUS  DETAIL"]
    for row in rows:
        optional = "" if row.required or row.status in ("ok", "skip") else " (optional)"
        lines.append(f"{row.name:<{width}}  {row.status.upper():<6}  {row.detail}{optional}")
        if row.hint and row.status in ("fail", "warn"):
            lines.append(f"{'':<{width}}  {'':<6}  fix: {row.hint}")
    failed = sum(row.status == "fail" for row in rows)
    lines.append(f"\n{failed} failed, {sum(row.status == 'warn' for row in rows)} warnings")
    return "\n".join(lines) + "\n"


def render_json(rows: Sequence[Check]) -> str:
    """`{"ok": bool, "checks": [{name, status, detail, hint, required}, ...]}`."""
    report = {"ok": exit_code(rows) == EXIT_OK, "checks": [asdict(row) for row in rows]}
    return json.dumps(report, indent=2) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point until the command is registered in the CLI."""
    parser = argparse.ArgumentParser(prog="quorum")
    commands = parser.add_subparsers(dest="command", required=True)
    cli_args.add_doctor(commands)
    args = parser.parse_args(["doctor", *(sys.argv[1:] if argv is None else argv)])
    try:
        settings = load_settings(args.config)
    except errors.ConfigError as exc:
        return report_config_error(exc, args)
    return run(settings, args)


def report_config_error(
    exc: errors.ConfigError, args: argparse.Namespace, *, out: TextIO | None = None
) -> int:
    """Print settings that do not load as the one failed row (ConfigError never holds a secret); 1."""
    row = Check("configuration", "fail", exc.message.replace("\n", " "), "fix the settings named above")
    (sys.stdout if out is None else out).write(
        render_json([row]) if args.format == "json" else render_text([row])
    )
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
