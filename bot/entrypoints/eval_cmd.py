"""`quorum eval`: measure a reviewer (model + prompt version + settings) on a set of labelled cases.

Exit codes: 0 the run completed (and, with --baseline, stayed within the `[eval]` tolerances),
4 a regression against the baseline, 2 usage, case or configuration error, 1 internal error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bot.entrypoints import cli_args
from bot.errors import ConfigError, InputError, ProviderUnavailable, QuorumError
from bot.eval import cases, compare, progress, render, runner, scoring
from config.settings import Settings, load_settings

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_REGRESSION = 0, 1, 2, 4


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run the evaluation, print the report to stdout and return the exit code."""
    cases_dir: Path = (args.cases_dir or cases.golden_dir()).resolve()
    loaded = cases.load_cases(cases_dir)
    baseline = compare.load_baseline(args.baseline) if args.baseline is not None else None
    bar = progress.for_stream(sys.stderr)
    with tempfile.TemporaryDirectory(prefix="quorum-eval-") as scratch:
        done = asyncio.run(runner.run_cases(settings, loaded, args.repeat, bar, Path(scratch)))
    header = runner.header(settings, cases_dir, args.repeat, done.calls)
    report = scoring.report(header, done.results)
    comparison = (
        None if baseline is None else compare.compare(report, baseline, settings.eval, str(args.baseline))
    )
    text = render.to_json(report, comparison) if args.format == "json" else render.to_text(report, comparison)
    sys.stdout.write(text + "\n")
    return EXIT_REGRESSION if comparison is not None and comparison.regressed else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bot.entrypoints.eval_cmd`: the subcommand on its own, with the CLI's error handling."""
    parser = argparse.ArgumentParser(prog="quorum")
    cli_args.add_eval(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(["eval", *(argv if argv is not None else sys.argv[1:])])
    try:
        return run(load_settings(args.config), args)
    except ConfigError as exc:
        sys.stderr.write(f"quorum: configuration error: {exc.message}\n")
        sys.stderr.writelines(f"  - {p}\n" for p in exc.problems if p not in exc.message)
        return EXIT_USAGE
    except (InputError, ProviderUnavailable) as exc:
        sys.stderr.write(f"quorum: {exc}\n")
        return EXIT_USAGE
    except QuorumError as exc:
        sys.stderr.write(f"quorum: {exc}\n")
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
