"""One PR's stored record, changed only through its lifecycle and saved only under the job's fence.

`Tracked` is what a job holds while it works on a PR: every transition goes through `Lifecycle.fire` (an
illegal one raises), every save is a compare-and-set with the lease's fence, and every transition is
appended to the PR's audit trail. A refused save means another holder owns the PR now: the job stops
with `LeaseLost` before anything reaches GitHub.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from bot.errors import LeaseLost
from guardrails.clock import Clock
from statemachine import records
from statemachine.lifecycle import Lifecycle, State, Transition


class Tracked:
    """A PR record, its lifecycle and the fence it may be written under."""

    def __init__(
        self,
        store: records.StateStore,
        record: records.PullRequestRecord,
        fence: int,
        clock: Clock,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> None:
        self._store = store
        self._fence = fence
        self._clock = clock
        self.record = record
        self._pending: list[records.AuditEntry] = []
        self._observer = on_transition
        self._lifecycle = Lifecycle(clock, State(record.state), self._transitioned)

    @classmethod
    async def load(
        cls,
        store: records.StateStore,
        repo: str,
        number: int,
        head_sha: str,
        fence: int,
        clock: Clock,
        on_transition: Callable[[Transition], None] | None = None,
    ) -> Tracked:
        """The stored record of the PR, or a new one in state `open`."""
        record = await store.load(f"{repo}#{number}")
        if record is None:
            record = records.PullRequestRecord(repo, number, State.OPEN.value, head_sha)
        return cls(store, record, fence, clock, on_transition)

    @property
    def state(self) -> State:
        return self._lifecycle.current

    @property
    def job_id(self) -> str:
        return self.record.job_id

    def fire(self, trigger: str, *, actor: str, reason: str, maintainer: bool = False) -> State:
        """Apply a lifecycle trigger (raises `IllegalTransition`); saved with the next `save`."""
        state = self._lifecycle.fire(trigger, actor=actor, reason=reason, maintainer=maintainer)
        self.record = dataclasses.replace(self.record, state=state.value)
        return state

    def update(self, **changes: Any) -> None:
        """Change fields other than the state (saved with the next `save`)."""
        if "state" in changes:
            raise ValueError("the state changes only through fire()")
        self.record = dataclasses.replace(self.record, **changes)

    async def save(self) -> None:
        """Compare-and-set the record under the fence, then append the pending audit entries."""
        stored = self.record
        candidate = dataclasses.replace(stored, updated_at=self._clock.now())
        if not await self._store.save(candidate, expected_version=stored.version, fence=self._fence):
            raise LeaseLost(
                f"the record of {stored.job_id} changed under another holder",
                job_id=stored.job_id,
                reason="stale fence or version",
            )
        self.record = candidate.saved(stored.version + 1, self._fence)
        while self._pending:
            if not await self._store.append_audit(stored.job_id, self._pending[0], self._fence):
                raise LeaseLost(
                    f"the audit trail of {stored.job_id} is held by another holder",
                    job_id=stored.job_id,
                    reason="stale fence",
                )
            self._pending.pop(0)

    def _transitioned(self, transition: Transition) -> None:
        self._pending.append(
            records.AuditEntry(
                transition.at,
                transition.actor,
                transition.source.value,
                transition.dest.value,
                transition.trigger,
                transition.reason,
            )
        )
        if self._observer is not None:
            self._observer(transition)
