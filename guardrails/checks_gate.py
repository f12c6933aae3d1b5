"""Checks as GitHub enforces them, and what GitHub's `mergeable_state` allows: pure decisions over facts.

Required checks are the configured ones together with the base branch's protection's and rulesets'. Each
must be reported on the head and pass (`success`, `neutral`, `skipped`); one not reported yet is pending.
With none required anywhere, or when the protection could not be read (its list is unknown, not empty),
every check run and status on the head must be completed and none failing. Quorum's own check run or
status never counts: it shows Quorum's decision, so waiting on it would wait on itself.

`mergeable_state` (GitHub's REST field; GraphQL `mergeStateStatus`) is a further guard:

| state | meaning (GitHub) | Quorum |
|---|---|---|
| `clean` | mergeable, commit status passing | merge |
| `unstable` | mergeable, a non-required check failing or pending | merge (required checks decide) |
| `has_hooks` | mergeable, passing, pre-receive hooks (GHES) | merge |
| `unknown` / absent | not computed yet | wait (re-read on the next pass) |
| `blocked` | protection or a ruleset blocks it (review, check) | wait while checks pend, else refuse |
| `behind` | the head is behind the base and the base requires it up to date | refuse: update the branch |
| `dirty` | conflicts with the base | refuse |
| `draft` | a draft | refuse |
| anything else | | refuse (fail closed) |
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

from bot import forge

_MERGEABLE = frozenset({"clean", "unstable", "has_hooks"})
_UNKNOWN = frozenset({"", "unknown"})
_REFUSALS = {
    "behind": "the branch is behind its base, which must be up to date to merge: update the branch",
    "dirty": "it conflicts with the base branch",
    "draft": "it is a draft",
    "blocked": "GitHub reports the merge as blocked by the branch's protection or rulesets "
    "(a required review or check is missing)",
}


def required_names(configured: Iterable[str], branch: forge.RequiredChecks, own_name: str) -> tuple[str, ...]:
    """The configured names then the branch's, without repeats and without Quorum's own check."""
    out: list[str] = []
    for name in (*configured, *branch.names):
        if name and name != own_name and name not in out:
            out.append(name)
    return tuple(out)


def evaluate(
    results: Sequence[forge.CheckResult], required: Sequence[str], *, required_complete: bool = True
) -> forge.ChecksReport:
    """The state of the head's checks: the `required` ones, or every check when none is required or the
    required list is incomplete (then the required ones must still be reported and pass)."""
    states: dict[str, list[forge.ChecksState]] = {}
    for result in results:
        if not result.own:
            states.setdefault(result.name, []).append(result.state)
    every = not required or not required_complete
    watched = list(required) + ([n for n in states if n not in required] if every else [])
    missing = tuple(name for name in required if name not in states)
    failed = tuple(name for name in watched if forge.ChecksState.FAILED in states.get(name, ()))
    if failed:
        return forge.ChecksReport(forge.ChecksState.FAILED, missing=missing, failed=failed)
    pending = tuple(name for name in watched if forge.ChecksState.PENDING in states.get(name, ()))
    if missing or pending:
        return forge.ChecksReport(forge.ChecksState.PENDING, missing=missing + pending)
    return forge.ChecksReport(forge.ChecksState.GREEN)


class Mergeability(StrEnum):
    OK = "ok"
    WAIT = "wait"
    REFUSE = "refuse"


def computed(state: str) -> bool:
    """Whether GitHub has computed the PR's `mergeable_state` yet."""
    return (state or "").lower() not in _UNKNOWN


def mergeability(
    state: str, checks: forge.ChecksReport, *, own_check_pending: bool = False
) -> tuple[Mergeability, str]:
    """What GitHub's `mergeable_state` allows now, and why not (see the module's table). Quorum's own check
    is pending until the merge gate's human part holds; a branch requiring it is blocked by it meanwhile."""
    state = (state or "").lower()
    if state in _MERGEABLE:
        return Mergeability.OK, ""
    if not computed(state):
        return Mergeability.WAIT, "GitHub has not yet computed whether it can be merged"
    if state == "blocked" and checks.state is forge.ChecksState.PENDING:
        return Mergeability.WAIT, "GitHub blocks the merge until the pending checks finish"
    if state == "blocked" and own_check_pending:
        return Mergeability.WAIT, "GitHub blocks the merge while Quorum's own check is pending"
    return Mergeability.REFUSE, _REFUSALS.get(state, f"GitHub reports its merge state as `{state}`")
