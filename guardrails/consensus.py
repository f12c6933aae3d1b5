"""Consensus gate: deterministic policy over the verdicts of review rounds on one head commit.

The LLM only advises. A review is approved only after `min_approvals` consecutive approving rounds on the
same head, with full coverage when required; a request for changes ends it; anything else (a comment, no
verdict) breaks the streak; `max_rounds` bounds it, after which a human decides. A blocking finding still
open after a round (raised on this head or carried from an earlier one) is a request for changes: no
approval counts while one is open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain import Decision, Reason, Verdict


@dataclass(frozen=True, slots=True)
class ConsensusPolicy:
    min_approvals: int
    max_rounds: int
    require_full_coverage: bool = True


@dataclass(frozen=True, slots=True)
class GateResult:
    """`decision` is None while another round is needed."""

    decision: Decision | None
    reason: Reason | None
    streak: int
    detail: str = ""

    @property
    def final(self) -> bool:
        return self.decision is not None


def approval_streak(verdicts: Sequence[Verdict]) -> int:
    """How many rounds at the end of `verdicts` approved in a row."""
    streak = 0
    for verdict in reversed(verdicts):
        if verdict is not Verdict.APPROVE:
            break
        streak += 1
    return streak


def decide(
    verdicts: Sequence[Verdict],
    policy: ConsensusPolicy,
    *,
    coverage_complete: bool = True,
    open_blockers: int = 0,
) -> GateResult:
    """The gate's answer after the rounds so far (all on one head commit); `open_blockers` counts the
    blocking findings still open after the last of them."""
    streak = 0 if open_blockers else approval_streak(verdicts)
    if verdicts and open_blockers and verdicts[-1] is not Verdict.NONE:
        # A round gave its verdict and the blockers stand: later rounds on this head cannot lift one
        # raised here, and a carried one has had its round to be resolved.
        return GateResult(
            Decision.CHANGES_REQUESTED,
            Reason.CHANGES_REQUESTED,
            0,
            f"{open_blockers} blocking finding(s) still open after round {len(verdicts)}",
        )
    if verdicts and verdicts[-1] is Verdict.REQUEST_CHANGES:
        return GateResult(
            Decision.CHANGES_REQUESTED,
            Reason.CHANGES_REQUESTED,
            0,
            f"round {len(verdicts)} requested changes",
        )
    if streak >= policy.min_approvals:
        if policy.require_full_coverage and not coverage_complete:
            return GateResult(
                Decision.ESCALATED,
                Reason.INCOMPLETE_COVERAGE,
                streak,
                "the rounds approved, but part of the change was not reviewed",
            )
        return GateResult(
            Decision.APPROVED, Reason.CONSENSUS, streak, f"{streak} consecutive approving rounds"
        )
    if len(verdicts) >= policy.max_rounds:
        return GateResult(
            Decision.ESCALATED, Reason.MAX_ROUNDS, streak, f"no consensus after {len(verdicts)} rounds"
        )
    if policy.max_rounds - len(verdicts) < policy.min_approvals - streak:
        # Even all-approving remaining rounds could not reach the streak: stop spending.
        return GateResult(
            Decision.ESCALATED,
            Reason.MAX_ROUNDS,
            streak,
            f"consensus is out of reach within {policy.max_rounds} rounds",
        )
    return GateResult(None, None, streak)
