"""One workflow run: the event into the daemon's intake, then every queued job through `JobHandler`.

The run is the daemon in miniature: the event becomes a domain event (`bot.events`), the intake queues
the PR or fills its inbox, and the same worker step that `serve` runs claims each job under its lease and
hands it to the job handler. In memory mode each PR's record is first rebuilt from the PR (`replay`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from bot import events, forge
from bot.action import environment, replay
from bot.action.parts import ActionRuntime
from bot.daemon.handler import JobHandler
from bot.daemon.monitor import LocalJobs
from bot.daemon.worker import Worker
from bot.domain import ReviewOutcome
from config.settings import Settings
from guardrails import admission
from statemachine import records

log = logging.getLogger("quorum.action")

_MAX_CLAIMS = 20  # jobs one run works through (a re-run flag or a checks event over several PRs)
_KEYLESS_PROVIDERS = frozenset({"ollama", "local"})


@dataclass
class PullReport:
    """What a run did to one PR, as the job summary and the outputs show it."""

    pr: forge.PullRequest
    record: records.PullRequestRecord | None
    outcome: ReviewOutcome | None = None
    refused: tuple[str, ...] = ()  # writes a fork's read-only token was refused
    finished: admission.FinishResult | None = None
    merging: bool = False  # merging was on for this PR (on in the settings, and not a fork's)

    @property
    def decision(self) -> str:
        """`merged`, `approved`, `changes_requested`, `escalated`, `skipped`, or the PR's state."""
        record = self.record
        if record is None:
            return "none"
        if record.state in ("merged", "closed", "escalated"):
            return record.state
        return record.decision or record.state

    @property
    def failed(self) -> bool:
        return self.finished not in (admission.FinishResult.DONE, admission.FinishResult.REQUEUED, None)


@dataclass
class RunReport:
    event: str
    note: str = ""  # why nothing was done, or what the run should tell the reader first
    fork: bool = False
    pulls: list[PullReport] = field(default_factory=list)
    cost_micro: int = 0


async def run(
    settings: Settings,
    env: environment.ActionEnv,
    open_runtime: Callable[[], AbstractAsyncContextManager[ActionRuntime]],
) -> RunReport:
    """Handle the run's event end to end; `settings` already carry the runner's token and paths, and
    `open_runtime` builds the run's parts (the composition root) once there is work."""
    payload = env.payload()
    report = RunReport(env.event_name, fork=environment.from_fork(env.event_name, payload))
    event = events.parse_event(env.event_name, payload)
    if event is None:
        report.note = f"nothing for Quorum in this `{env.event_name}` event"
        return report
    llm = settings.llm
    if report.fork and llm.api_key is None and llm.provider not in _KEYLESS_PROVIDERS:
        report.note = (
            "this run is for a fork's pull request: GitHub gives it no secrets, so there is no model key "
            "and nothing was reviewed. A maintainer's `/quorum review` comment runs it with the key."
        )
        return report
    async with open_runtime() as rt:
        event = await _with_pulls(rt, event)
        accepted = await rt.intake.accept(event, env.delivery_id)
        log.info("%s event: %s", env.event_name, accepted)
        # Checks finish often and their runs are not serialized with the PR's own: they only move a
        # decided head on to the merge gate, never start a review of their own.
        await _work(rt, env, report, decided_only=isinstance(event, events.ChecksChanged))
        report.cost_micro = sum(call.cost_micro for call in rt.observed.calls)
    return report


async def _with_pulls(rt: ActionRuntime, event: events.Event) -> events.Event:
    """A checks event names no PR for statuses and fork pushes: find the open PRs at that head."""
    if not isinstance(event, events.ChecksChanged) or event.pr_numbers:
        return event
    listing = await rt.github.open_pulls(event.repo)
    numbers = tuple(p.number for p in listing.pulls if p.head_sha == event.head_sha)
    return events.ChecksChanged(event.repo, event.head_sha, numbers, event.source)


async def _work(
    rt: ActionRuntime, env: environment.ActionEnv, report: RunReport, *, decided_only: bool
) -> None:
    seen: dict[str, PullReport] = {}
    scheduler = rt.coordination.scheduler
    for index in range(_MAX_CLAIMS):
        claim = await scheduler.claim(f"{env.delivery_id}:{index}")
        if claim is None:
            break
        pr = await rt.github.pull(claim.job.repo, claim.job.number)
        if rt.coordination.in_memory:
            await _seed(rt, claim, pr)
        if decided_only and not await _decided(rt, claim, pr):
            await scheduler.finish(claim, admission.FinishOutcome.DONE)
            report.note = "checks changed on a head not reviewed yet; its pull_request run reviews it"
            continue
        deps, writer = rt.deps_for(pr)
        handler = JobHandler(deps)
        worker = Worker(
            f"action-{env.run_id}", scheduler, rt.coordination.leases, handler, LocalJobs(),
            max_attempts=rt.settings.redis.job_max_attempts, escalate=handler.escalate_failed,
        )  # fmt: skip
        finished = await worker.run_claim(claim)
        record = await rt.coordination.store.load(claim.job.id)
        entry = seen.setdefault(claim.job.id, PullReport(pr, record, merging=deps.policy.merge.enabled))
        entry.record, entry.finished = record, finished or admission.FinishResult.NOT_HELD
        entry.refused = (*entry.refused, *writer.refused)
    for pr, outcome in rt.outcomes:
        if pr.job_id in seen:
            seen[pr.job_id].outcome = outcome
    report.pulls = list(seen.values())


async def _decided(rt: ActionRuntime, claim: admission.Claim, pr: forge.PullRequest) -> bool:
    record = await rt.coordination.store.load(claim.job.id)
    return record is not None and record.reviewed_sha == pr.head_sha


async def _seed(rt: ActionRuntime, claim: admission.Claim, pr: forge.PullRequest) -> None:
    """In memory mode: the PR's record as Quorum's own reviews on it tell it (once per run)."""
    store = rt.coordination.store
    if await store.load(claim.job.id) is not None:
        return
    reviews = await rt.github.reviews(pr.repo, pr.number)
    comments = await rt.github.comment_bodies(pr.repo, pr.number, author=rt.identity.login)
    record = replay.rebuild(pr, reviews, comments)
    if not await store.save(record, expected_version=0, fence=claim.fence):
        log.warning("%s: could not seed its record", claim.job.id)
