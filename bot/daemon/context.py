"""What every step of a job needs: the ports, the server's policy, and the PR being worked on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot import forge, ports
from bot.daemon.tracked import Tracked
from bot.domain import OpenFinding, ReviewOutcome
from bot.ports import Inbox, MetricsSink, Notifier
from config import repo_policy, sections
from guardrails import admission, lease
from guardrails.clock import Clock
from statemachine import records

log = logging.getLogger("quorum.daemon")


class ReviewFn(Protocol):
    """Reviews one PR head under the effective policy of its repository, with the blocking findings left
    open on earlier heads (the pipeline, bound in bootstrap)."""

    def __call__(
        self,
        pr: forge.PullRequest,
        policy: repo_policy.EffectivePolicy,
        open_blockers: tuple[OpenFinding, ...] = (),
    ) -> Awaitable[ReviewOutcome]: ...


@dataclass(frozen=True, slots=True)
class ServerPolicy:
    """The server-wide settings the daemon decides with."""

    merge: sections.MergeSettings
    min_approvals: int
    max_rounds: int
    check_name: str
    policy_file: str = ".quorum.toml"


@dataclass(frozen=True, slots=True)
class DaemonDeps:
    """The ports a job works through. The review function is the only way to the LLMs."""

    reader: forge.PullRequestReader
    writer: forge.PullRequestWriter
    store: records.StateStore
    inbox: Inbox
    gate: lease.PublishGate
    scheduler: admission.Scheduler
    review: ReviewFn
    clock: Clock
    policy: ServerPolicy
    identity: forge.Identity
    metrics: MetricsSink = ports.NULL_METRICS
    notifier: Notifier = ports.NULL_NOTIFIER
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass(slots=True)
class Work:
    """One pass over one PR: its state on the code host now, its record, and the lease."""

    pr: forge.PullRequest
    tracked: Tracked
    claim: admission.Claim
    policy: repo_policy.EffectivePolicy
    _reviews: list[forge.PostedReview] | None = None

    @property
    def lease(self) -> lease.Lease:
        return self.claim.lease

    async def reviews(
        self, reader: forge.PullRequestReader, *, fresh: bool = False
    ) -> list[forge.PostedReview]:
        """The PR's reviews, read once per pass unless `fresh`."""
        if self._reviews is None or fresh:
            self._reviews = await reader.reviews(self.pr.repo, self.pr.number)
        return self._reviews
