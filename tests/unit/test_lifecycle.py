"""The PR lifecycle: legal edges only, every change audited."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain import Decision
from bot.errors import IllegalTransition
from guardrails.clock import SystemClock
from statemachine.lifecycle import DECISION_TRIGGERS, TRANSITIONS, Lifecycle, State

TRIGGERS = sorted({t["trigger"] for t in TRANSITIONS})
LEGAL = {(src, t["trigger"]): t["dest"] for t in TRANSITIONS for src in t["source"]}


def test_review_path_to_merge_is_audited():
    seen = []
    life = Lifecycle(SystemClock(), on_transition=seen.append)

    for trigger in ["start_review", "approve", "merge"]:
        life.fire(trigger, actor="quorum", reason="test")

    assert life.current is State.MERGED
    assert [(t.source, t.dest) for t in seen] == [
        (State.OPEN, State.IN_REVIEW),
        (State.IN_REVIEW, State.APPROVED),
        (State.APPROVED, State.MERGED),
    ]
    assert seen == life.history and all(t.actor == "quorum" for t in seen)


@pytest.mark.parametrize(
    ("start", "trigger"),
    [
        (State.OPEN, "merge"),
        (State.IN_REVIEW, "merge"),
        (State.MERGED, "start_review"),
        (State.CLOSED, "approve"),
        (State.OPEN, "no_such_trigger"),
    ],
)
def test_illegal_transitions_raise_and_change_nothing(start, trigger):
    life = Lifecycle(SystemClock(), state=start)

    with pytest.raises(IllegalTransition):
        life.fire(trigger, actor="x", reason="y")

    assert life.current is start and life.history == []


@pytest.mark.parametrize("decision", list(Decision))
def test_every_decision_has_a_trigger_that_lands_in_its_state(decision):
    life = Lifecycle(SystemClock(), state=State.IN_REVIEW)

    life.fire(DECISION_TRIGGERS[decision], actor="quorum", reason="decided")

    assert life.current.value == decision.value


def test_only_a_maintainer_resumes_an_escalated_pr():
    life = Lifecycle(SystemClock(), state=State.ESCALATED)

    with pytest.raises(IllegalTransition, match="maintainer"):
        life.fire("resume", actor="someone", reason="please")
    life.fire("resume", actor="admin", reason="fixed", maintainer=True)

    assert life.current is State.IN_REVIEW


@given(st.lists(st.sampled_from(TRIGGERS), max_size=25))
def test_any_trigger_sequence_follows_only_legal_edges(triggers):
    life = Lifecycle(SystemClock())
    applied = 0

    for trigger in triggers:
        before = life.current
        try:
            life.fire(trigger, actor="p", reason="r", maintainer=True)
        except IllegalTransition:
            assert (before.value, trigger) not in LEGAL
            assert life.current is before
        else:
            applied += 1
            assert LEGAL[(before.value, trigger)] == life.current.value

    assert len(life.history) == applied
