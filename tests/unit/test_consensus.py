"""The consensus gate: approval only after min_approvals consecutive approvals on one head."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import Decision, Reason, Verdict
from guardrails.consensus import ConsensusPolicy, approval_streak, decide

A, R, C, N = Verdict.APPROVE, Verdict.REQUEST_CHANGES, Verdict.COMMENT, Verdict.NONE
POLICY = ConsensusPolicy(min_approvals=2, max_rounds=5)


@pytest.mark.parametrize(
    ("verdicts", "decision", "reason"),
    [
        ([], None, None),
        ([A], None, None),
        ([A, A], Decision.APPROVED, Reason.CONSENSUS),
        ([A, N, A], None, None),
        ([A, C, A, A], Decision.APPROVED, Reason.CONSENSUS),
        ([R], Decision.CHANGES_REQUESTED, Reason.CHANGES_REQUESTED),
        ([A, R], Decision.CHANGES_REQUESTED, Reason.CHANGES_REQUESTED),
        ([N, N, N, N, N], Decision.ESCALATED, Reason.MAX_ROUNDS),
        ([C, C, C, C], Decision.ESCALATED, Reason.MAX_ROUNDS),  # one round left cannot make a streak of two
    ],
)
def test_gate_table(verdicts, decision, reason):
    gate = decide(verdicts, POLICY)

    assert (gate.decision, gate.reason) == (decision, reason)


def test_approval_with_incomplete_coverage_is_escalated():
    gate = decide([A, A], POLICY, coverage_complete=False)

    assert (gate.decision, gate.reason) == (Decision.ESCALATED, Reason.INCOMPLETE_COVERAGE)


def test_incomplete_coverage_may_be_accepted_by_configuration():
    gate = decide([A, A], ConsensusPolicy(2, 5, require_full_coverage=False), coverage_complete=False)

    assert gate.decision is Decision.APPROVED


@given(st.lists(st.sampled_from(list(Verdict)), max_size=8), st.integers(1, 4), st.integers(1, 8))
def test_never_approved_without_a_trailing_streak(verdicts, min_approvals, max_rounds):
    policy = ConsensusPolicy(min_approvals, max(min_approvals, max_rounds))

    gate = decide(verdicts, policy)

    if gate.decision is Decision.APPROVED:
        assert approval_streak(verdicts) >= min_approvals
        assert all(v is Verdict.APPROVE for v in verdicts[-min_approvals:])
    if not gate.final:
        assert len(verdicts) < policy.max_rounds


def test_an_open_blocker_turns_a_given_verdict_into_a_request_for_changes():
    approved = decide([A, A], POLICY, open_blockers=1)
    commented = decide([C], POLICY, open_blockers=2)

    assert (approved.decision, approved.reason, approved.streak) == (
        Decision.CHANGES_REQUESTED, Reason.CHANGES_REQUESTED, 0,
    )  # fmt: skip
    assert commented.decision is Decision.CHANGES_REQUESTED and "2 blocking finding(s)" in commented.detail


def test_an_open_blocker_waits_for_a_round_that_gives_a_verdict():
    assert decide([], POLICY, open_blockers=1).decision is None
    assert decide([N], POLICY, open_blockers=1).decision is None


@given(st.lists(st.sampled_from(list(Verdict)), max_size=8), st.integers(1, 3))
def test_never_approved_while_a_blocker_is_open(verdicts, blockers):
    assert decide(verdicts, POLICY, open_blockers=blockers).decision is not Decision.APPROVED
