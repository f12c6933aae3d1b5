"""The parts one run of `quorum action` works with: the daemon's job parts, wired per PR.

Built by the Action's composition root (`bot.bootstrap.action`); a fork's PR gets comment-only writes
and merging off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot import forge
from bot.action.writers import CommentReader, ForkWriter, OnceWriter
from bot.daemon.context import DaemonDeps, ReviewFn, ServerPolicy
from bot.daemon.intake import QueueIntake
from bot.domain import OpenFinding, ReviewOutcome
from bot.ports import Inbox, QueryCache
from bot.review.llm_call import CallRecord
from config import repo_policy
from config.settings import Settings
from guardrails import admission, breaker, budget, lease
from guardrails.clock import Clock
from statemachine import records


class CodeHost(forge.PullRequestReader, forge.PullRequestWriter, CommentReader, Protocol):
    """The workflow's GitHub: reads, writes, and the bot's own earlier comments."""


class CallLog(Protocol):
    """Every LLM attempt of the run."""

    @property
    def calls(self) -> list[CallRecord]: ...


class Leases(lease.LeaseManager, lease.PublishGate, Protocol):
    """The scheduler's lease manager, which is also the publish gate."""


@dataclass(frozen=True, slots=True)
class Coordination:
    scheduler: admission.Scheduler
    leases: Leases
    store: records.StateStore
    inbox: Inbox
    ledger: budget.BudgetLedger
    cache: QueryCache
    breakers: breaker.CircuitBreakers
    in_memory: bool


@dataclass
class ActionRuntime:
    """Everything one run works with; `deps_for` gives the job parts for one PR."""

    settings: Settings
    github: CodeHost
    identity: forge.Identity
    coordination: Coordination
    intake: QueueIntake
    observed: CallLog  # every LLM call of the run (its cost)
    clock: Clock
    review_fn: ReviewFn
    outcomes: list[tuple[forge.PullRequest, ReviewOutcome]] = field(default_factory=list)

    def deps_for(self, pr: forge.PullRequest) -> tuple[DaemonDeps, OnceWriter]:
        """The daemon's ports for `pr`: a fork's PR gets comment-only writes and merging off."""
        s, c, gh = self.settings, self.coordination, self.github
        fork = from_fork(pr)
        merge = s.merge.model_copy(update={"enabled": False}) if fork else s.merge
        policy = ServerPolicy(merge, s.consensus.min_approvals, s.consensus.max_rounds, s.github.check_name)
        writer = (ForkWriter if fork else OnceWriter)(gh, gh, self.identity.login, c.store)
        deps = DaemonDeps(
            gh, writer, c.store, c.inbox, c.leases, c.scheduler, self._review, self.clock, policy,
            self.identity,
        )  # fmt: skip
        return deps, writer

    async def _review(
        self,
        pr: forge.PullRequest,
        policy: repo_policy.EffectivePolicy,
        open_blockers: tuple[OpenFinding, ...] = (),
    ) -> ReviewOutcome:
        outcome = await self.review_fn(pr, policy, open_blockers)
        self.outcomes.append((pr, outcome))
        return outcome


def from_fork(pr: forge.PullRequest) -> bool:
    """Whether the PR's head lives in another repository; a deleted fork (no head repository) too."""
    return pr.head_repo.casefold() != pr.repo.casefold()
