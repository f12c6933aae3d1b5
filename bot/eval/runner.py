"""Runs evaluation cases through the real review path: worktree, diff, rounds, validation, consensus.

One `local_review` serves the whole run (one local model server, one budget ledger), and the cases run
one after another. Two settings differ from a normal review, both so that the numbers are the model's
own: the query cache keeps nothing (a repeat must ask the model again, or consistency would be the
cache's), and mirrors and worktrees live in the run's scratch directory, removed with it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import pipeline, ports
from bot.bootstrap import review as review_root
from bot.domain import Decision, ReviewOutcome, Side, Verdict
from bot.eval import matching, metrics, repos, scoring
from bot.eval.cases import Case
from bot.eval.progress import EvalProgress
from bot.review.llm_call import CallRecord
from config.settings import Settings
from guardrails import workspace
from guardrails.text import tripwire

VERDICTS = {
    Decision.APPROVED: "approve",
    Decision.CHANGES_REQUESTED: "request_changes",
    Decision.ESCALATED: "escalated",
}
# An approval the tripwire holds for a human: not an unattended approval, so never an injection's success.
NEEDS_HUMAN = "needs_human"
# What decides how a reviewer behaves; paths, URLs and secrets stay out so the digest travels.
_DIGESTED: dict[str, set[str] | None] = {
    "llm": {"provider", "model", "fallback_models", "temperature", "max_output_tokens", "context_tokens"},
    "review": {"prompt_version", "reviewers", "max_comments", "exclude", "require_full_coverage"},
    "consensus": None,  # None: the whole section
    "budget": None,
}


@dataclass(frozen=True, slots=True)
class RunResult:
    """Every case's runs, and every model call the run made."""

    results: tuple[scoring.CaseResult, ...]
    calls: tuple[CallRecord, ...]


def isolated(settings: Settings, state_dir: Path) -> Settings:
    """The settings a run reviews with: mirrors and worktrees under `state_dir`."""
    return settings.model_copy(
        update={"workspace": settings.workspace.model_copy(update={"state_dir": state_dir})}
    )


class _NoCache:
    """Every repeat must reach the model, or consistency would measure the cache."""

    async def get(self, key: str) -> str | None:
        return None

    async def put(self, key: str, value: str, ttl_s: int) -> None:
        return None


def settings_digest(settings: Settings) -> str:
    """A short digest of the settings that shape a review (model, prompts, reviewers, consensus, caps)."""
    dumped = settings.model_dump(mode="json")
    picked: dict[str, Any] = {}
    for section, keys in _DIGESTED.items():
        values = dumped[section]
        picked[section] = values if keys is None else {k: values[k] for k in sorted(keys)}
    return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()[:16]


def header(settings: Settings, cases_dir: Path, repeat: int, calls: Sequence[CallRecord]) -> dict[str, Any]:
    """Model, provider, prompt version, settings digest and date: what the numbers are about."""
    return {
        "model": settings.llm.effective_model(),
        "models_called": sorted({c.model for c in calls}),
        "provider": settings.llm.provider,
        "prompt_version": settings.review.prompt_version,
        "settings_digest": settings_digest(settings),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cases_dir": str(cases_dir),
        "repeat": repeat,
    }


async def run_cases(
    settings: Settings, cases: Sequence[Case], repeat: int, progress: EvalProgress, scratch: Path
) -> RunResult:
    """Review every case `repeat` times, in order, in repositories built under `scratch`."""
    async with review_root.local_review(
        isolated(settings, scratch / "state"), ports.NO_PROGRESS, cache=_NoCache()
    ) as (
        deps,
        observed,
    ):
        results = []
        for number, case in enumerate(cases, 1):
            repo = await asyncio.to_thread(repos.build, case, scratch / "repos" / case.name)
            runs = []
            for rep in range(1, repeat + 1):
                progress.run(number, len(cases), rep, repeat, case.name)
                runs.append(await _run_once(case, repo, rep, deps, observed))
            results.append(_result(case, runs))
            await asyncio.to_thread(shutil.rmtree, repo, True)
        progress.done()
        return RunResult(tuple(results), tuple(observed.calls))


async def _run_once(
    case: Case, repo: Path, rep: int, deps: pipeline.ReviewDeps, observed: review_root.Observed
) -> metrics.Run:
    request = pipeline.ReviewRequest(
        workspace.RepoSource(str(repo), case.name),
        repos.HEAD_BRANCH,
        repos.BASE_BRANCH,
        job_id=f"eval-{case.name}-{rep}",
        pr_text=case.pr_text,
    )
    first = len(observed.calls)
    started = time.monotonic()
    outcome = await pipeline.review(request, deps)
    latency_ms = int((time.monotonic() - started) * 1000)
    calls = observed.calls[first:]
    return metrics.Run(
        NEEDS_HUMAN if outcome.needs_human else VERDICTS[outcome.decision],
        outcome.reason.value,
        _reported(outcome),
        sum(c.cost_micro for c in calls),
        sum(c.input_tokens for c in calls),
        sum(c.output_tokens for c in calls),
        latency_ms,
        len(outcome.rounds),
        sum(1 for r in outcome.rounds if r.verdict is Verdict.NONE),
    )


def _reported(outcome: ReviewOutcome) -> tuple[matching.Reported, ...]:
    """The published comments; one on a removed line (LEFT) keeps its base line number under a marked
    path, since expected ranges are head lines: it counts as reported but cannot match. The tripwire's own
    comments are not the model's findings and are left out."""
    return tuple(
        matching.Reported(
            c.path if c.side is Side.RIGHT else f"{c.path} (removed line)", c.line, c.start_line
        )
        for c in outcome.comments
        if not tripwire.is_own_finding(c)
    )


def _result(case: Case, runs: Sequence[metrics.Run]) -> scoring.CaseResult:
    spans = tuple(matching.Span(f.path, f.start, f.end) for f in case.findings)
    return scoring.CaseResult(case.name, case.title, case.expected, case.injection, spans, tuple(runs))
