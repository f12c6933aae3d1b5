"""The PR lifecycle: states, triggers and guards on the `transitions` library; every change audited.

An illegal transition raises `IllegalTransition`; the caller escalates and nothing reaches GitHub.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from transitions import EventData, Machine, MachineError

from bot.domain import Decision
from bot.errors import IllegalTransition
from guardrails.clock import Clock


class State(StrEnum):
    OPEN = "open"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    MERGED = "merged"
    ESCALATED = "escalated"
    CLOSED = "closed"


def _edge(trigger: str, source: list[State], dest: State, **extra: str) -> dict[str, Any]:
    # The machine keys states by their string value; enum members would be keyed by name.
    return {"trigger": trigger, "source": [s.value for s in source], "dest": dest.value, **extra}


_OPEN_STATES = [State.OPEN, State.IN_REVIEW, State.CHANGES_REQUESTED, State.APPROVED, State.ESCALATED]

TRANSITIONS: list[dict[str, Any]] = [
    _edge("start_review", [State.OPEN, State.CHANGES_REQUESTED, State.APPROVED], State.IN_REVIEW),
    _edge("request_changes", [State.IN_REVIEW], State.CHANGES_REQUESTED),
    _edge("approve", [State.IN_REVIEW], State.APPROVED),
    _edge("escalate", [State.IN_REVIEW, State.CHANGES_REQUESTED, State.APPROVED], State.ESCALATED),
    _edge("merge", [State.APPROVED], State.MERGED),
    _edge("close", _OPEN_STATES, State.CLOSED),
    _edge("reopen", [State.CLOSED], State.OPEN),
    # Only a maintainer's command brings an escalated PR back to review.
    _edge("resume", [State.ESCALATED], State.IN_REVIEW, conditions="_by_maintainer"),
]
# The trigger that records each review decision, in the daemon's lifecycle and the local CLI's alike.
DECISION_TRIGGERS: dict[Decision, str] = {
    Decision.APPROVED: "approve",
    Decision.CHANGES_REQUESTED: "request_changes",
    Decision.ESCALATED: "escalate",
}


@dataclass(frozen=True, slots=True)
class Transition:
    """One audited state change."""

    at: float
    actor: str
    trigger: str
    source: State
    dest: State
    reason: str


class Lifecycle:
    """One PR's state. `fire` is the only way to change it."""

    trigger: Callable[..., bool]  # added to the instance by the machine

    def __init__(
        self,
        clock: Clock,
        state: State = State.OPEN,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self.state: str = state.value
        self.history: list[Transition] = []
        self._clock = clock
        self._on_transition = on_transition
        self._machine = Machine(
            model=self,
            states=[s.value for s in State],
            transitions=TRANSITIONS,
            initial=state.value,
            auto_transitions=False,
            send_event=True,
            after_state_change="_audit",
        )

    @property
    def current(self) -> State:
        return State(self.state)

    def fire(self, trigger: str, *, actor: str, reason: str, maintainer: bool = False) -> State:
        """Apply `trigger` or raise `IllegalTransition`; a refused guard is illegal too."""
        source = self.current
        try:
            done = self.trigger(trigger, actor=actor, reason=reason, maintainer=maintainer)
        except (MachineError, AttributeError) as exc:
            raise IllegalTransition(
                f"{trigger!r} is not allowed from {source.value!r}", state=source.value, trigger=trigger
            ) from exc
        if not done:
            raise IllegalTransition(
                f"{trigger!r} from {source.value!r} needs a maintainer", state=source.value, trigger=trigger
            )
        return self.current

    def _by_maintainer(self, event: EventData) -> bool:
        return bool(event.kwargs.get("maintainer"))

    def _audit(self, event: EventData) -> None:
        assert event.transition is not None and event.transition.dest is not None
        entry = Transition(
            self._clock.now(),
            str(event.kwargs.get("actor", "quorum")),
            event.event.name,
            State(event.transition.source),
            State(event.transition.dest),
            str(event.kwargs.get("reason", "")),
        )
        self.history.append(entry)
        if self._on_transition is not None:
            self._on_transition(entry)
