"""The arguments of every `quorum` command: argparse only, so `quorum --help` imports nothing else."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.entrypoints import action_cmd
from bot.entrypoints.operator import budget as budget_cmd
from bot.entrypoints.operator import jobs as jobs_cmd
from bot.entrypoints.operator import pr as pr_cmd

if TYPE_CHECKING:  # not subscriptable at run time before Python 3.12
    from typing import TypeAlias

    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every command and its arguments."""
    parser = argparse.ArgumentParser(
        prog="quorum",
        description="Review changes with LLMs inside hard guardrails: budgets, deadlines, "
        "validated output and a consensus of review rounds.",
        epilog="Settings come from QUORUM_* environment variables, a TOML file (--config or QUORUM_CONFIG) "
        "and secret files; `quorum config` shows them.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    parser.add_argument("--version", action=_Version, help="show the version and exit")
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
    add_serve(commands)
    add_eval(commands)
    add_provision(commands)
    add_doctor(commands)
    add_breaker(commands)
    # These commands keep their arguments in their own modules, which import nothing heavy at the top.
    jobs_cmd.add_parser(commands)
    budget_cmd.add_parser(commands)
    pr_cmd.add_parser(commands)
    action_cmd.add_parser(commands)
    return parser


class _Version(argparse.Action):
    """`--version`, read from the distribution's metadata only when asked for."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from bot import version  # importlib.metadata scans the installed distributions

        sys.stdout.write(f"{parser.prog} {version.VERSION}\n")  # where argparse's own action writes it
        parser.exit()


def add_serve(commands: Commands) -> None:
    """The `serve` command."""
    serve = commands.add_parser(
        "serve",
        help="run the GitHub daemon: webhooks, review workers, reconciler and monitor",
        description="Run Quorum as a service: receive GitHub webhooks on POST /webhook, review pull "
        "requests in workers under the global limits, poll for missed deliveries and merge what the "
        "merge policy allows. Needs Redis and GitHub credentials; `quorum doctor` checks them.",
    )
    serve.add_argument(
        "--poll",
        action="store_true",
        help="no webhook server: find work by polling the repositories (no public URL needed)",
    )
    serve.add_argument("--config", type=Path, metavar="FILE", help="a TOML settings file")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_eval(commands: Commands) -> argparse.ArgumentParser:
    """The `eval` command."""
    parser = commands.add_parser(
        "eval",
        help="measure the reviewer on labelled cases (accuracy, precision, recall, cost)",
        description="Review every case of CASES_DIR (default: the bundled golden set) through the real "
        "review path, --repeat times, and report verdict accuracy, finding precision and recall, "
        "injection resistance, consistency across repeats, cost, tokens and latency.",
        epilog="Exit codes: 0 done (within tolerance of --baseline, if given); 4 a regression against "
        "--baseline beyond the [eval] tolerances; 2 usage, case or configuration error; 1 internal error.",
    )
    parser.add_argument(
        "cases_dir",
        nargs="?",
        type=Path,
        metavar="CASES_DIR",
        help="a directory of cases (one per subdirectory)",
    )
    parser.add_argument(
        "--repeat", type=_positive, default=1, metavar="N", help="review each case N times (default: 1)"
    )
    parser.add_argument("--format", choices=["text", "json"], default="text", help="output format")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="an earlier --format json report: exit 4 on a regression beyond the [eval] tolerances, "
        "and list drifted cases when the model and prompt version are the same",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="a TOML settings file")
    return parser


def add_provision(commands: Commands) -> argparse.ArgumentParser:
    """The `provision` command."""
    parser = commands.add_parser(
        "provision",
        help="create the Elasticsearch templates, retention and data streams; import Kibana's dashboards",
        description="Create or update the ILM policy, component and index templates and data streams in "
        "Elasticsearch, then import the bundled dashboards into Kibana when elasticsearch.kibana_url "
        "is set. Safe to run again: unchanged objects are left alone.",
    )
    parser.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    parser.add_argument("--config", type=Path, metavar="FILE", help="a TOML settings file")
    parser.add_argument(
        "--kibana-wait",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for Kibana to become available (default: 60)",
    )
    return parser


def add_doctor(commands: Commands) -> argparse.ArgumentParser:
    """The `doctor` command."""
    parser = commands.add_parser(
        "doctor",
        help="check the configuration, Redis, GitHub, the LLM, Elasticsearch, Kibana and Discord",
        description="Check everything `quorum serve` needs and print a table with a fix for each failure.",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="a TOML settings file")
    parser.add_argument("--format", choices=["text", "json"], default="text", help="output format")
    parser.add_argument("--poll", action="store_true", help="poll-only mode: no webhook secret needed")
    parser.add_argument("--strict", action="store_true", help="also exit 1 when an optional component fails")
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="deadline of each check (default 10)"
    )
    return parser


def add_breaker(commands: Commands) -> argparse.ArgumentParser:
    """The `breaker` command."""
    parser = commands.add_parser(
        "breaker",
        help="list the models' circuit breakers, or close one by hand",
        description="A breaker opens after llm.breaker_failures consecutive failures of a model, or at once "
        "when a provider bills more than a call's reservation allowed; it stays open for "
        "llm.breaker_cooldown_s, then one call probes the model. `reset` closes it now, for every replica.",
    )
    parser.add_argument("action", choices=["list", "reset"], help="what to do")
    parser.add_argument("name", nargs="?", metavar="PROVIDER/MODEL", help="the breaker to reset")
    parser.add_argument("--config", type=Path, metavar="FILE", help="a TOML settings file")
    return parser
