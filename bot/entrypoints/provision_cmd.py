"""`quorum provision`: set up Elasticsearch (retention, templates, data streams) and import Kibana's objects.

Exit codes: 0 done, 1 Elasticsearch or Kibana unreachable or refusing, 78 (EX_CONFIG) nothing configured
or settings that do not load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import TextIO

from bot import errors
from bot.bootstrap import provision as provision_root
from bot.bootstrap import review as review_root
from bot.entrypoints import cli_args
from config.settings import Settings, load_settings
from guardrails.text import redaction

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 78


def run(
    settings: Settings, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Provision what `[elasticsearch]` names; print each step; return the exit code."""
    out, err = out or sys.stdout, err or sys.stderr
    es = settings.elasticsearch
    if not es.hosts:
        err.write("quorum: elasticsearch.hosts is empty: nothing to provision\n")
        return EXIT_CONFIG
    redactor = redaction.Redactor(review_root.known_secrets(settings))
    try:
        asyncio.run(_provision(settings, args, out))
    except errors.ProvisionError as exc:
        # Messages name steps and settings, never values; the redactor is the belt to those braces.
        err.write("quorum: provision failed: " + redactor.redact(exc.message)[0] + "\n")
        return EXIT_FAILED
    return EXIT_OK


async def _provision(settings: Settings, args: argparse.Namespace, out: TextIO) -> None:
    wait_s = float(getattr(args, "kibana_wait", 60.0))
    run = provision_root.provision(settings, dry_run=bool(args.dry_run), kibana_wait_s=wait_s)
    # Closed here even when printing fails, so the clients close on this loop, not at garbage collection.
    async with contextlib.aclosing(run) as steps:
        async for step in steps:
            _print(out, step)
    if settings.elasticsearch.kibana_url is None:
        out.write("kibana         skipped: elasticsearch.kibana_url is not set\n")


def _print(out: TextIO, step: provision_root.Step) -> None:
    out.write(f"{step.target:<14} {step.what:<52} {step.result}\n")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    """Run `provision` on its own (until the main CLI registers it)."""
    parser = argparse.ArgumentParser(prog="quorum")
    cli_args.add_provision(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except errors.ConfigError as exc:
        sys.stderr.write("quorum: configuration error: " + exc.message + "\n")
        return EXIT_CONFIG
    return run(settings, args)


if __name__ == "__main__":
    sys.exit(main())
