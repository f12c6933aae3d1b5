"""The settings sections of the hard limits: spending caps, deadlines, concurrency and consensus."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from config.fields import Section


class BudgetSettings(Section):
    """Spending caps in USD."""

    per_pr_usd: float = Field(default=8.00, ge=0)
    per_round_usd: float = Field(default=2.00, ge=0)
    per_repo_daily_usd: float = Field(default=50.00, ge=0)
    daily_usd: float = Field(default=200.00, ge=0)
    alert_percents: list[Annotated[int, Field(ge=1, le=1000)]] = Field(default_factory=lambda: [50, 80, 100])
    pr_ledger_days: int = Field(default=30, ge=1)


class TimeoutSettings(Section):
    """Deadlines and periods in seconds."""

    llm_call_s: float = Field(default=1800.0, gt=0)
    round_s: float = Field(default=2700.0, gt=0)
    review_job_s: float = Field(default=3600.0, gt=0)
    pr_lock_ttl_s: float = Field(default=3600.0, gt=0)
    monitor_interval_s: float = Field(default=15.0, gt=0)


class ConcurrencySettings(Section):
    """Limits on reviews running at once, across all replicas."""

    max_concurrent_agents: int = Field(default=6, ge=1)
    max_per_repo: int = Field(default=2, ge=1)
    # A waiting review starts first once it has waited this long, whatever other repositories' backlogs.
    oldest_first_after_s: float = Field(default=300.0, gt=0)


class ConsensusSettings(Section):
    """How many approving rounds a merge needs, and how many rounds before escalating."""

    min_approvals: int = Field(default=2, ge=1)
    max_rounds: int = Field(default=5, ge=1)
    # Start the rounds the streak still needs together instead of one after another.
    speculative_rounds: bool = False

    @model_validator(mode="after")
    def _rounds_allow_consensus(self) -> ConsensusSettings:
        if self.max_rounds < self.min_approvals:
            raise ValueError("max_rounds must be at least min_approvals, or consensus can never be reached")
        return self
