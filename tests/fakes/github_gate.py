"""The fake GitHub's merge gates: what the protection and rulesets of a branch require of a PR's head,
its `mergeable_state`, and the check a merge must pass."""

from __future__ import annotations

from tests.fakes import github_git
from tests.fakes.github_state import Pull, State

_PASSING = {"success", "neutral", "skipped"}


def check_states(state: State, full_name: str, sha: str) -> dict[str, str]:
    """success, pending or failure per name: the latest check run and the newest status (both must pass)."""
    out: dict[str, str] = {}

    def note(name: str, verdict: str) -> None:
        order = ("success", "pending", "failure")
        out[name] = max(out.get(name, "success"), verdict, key=order.index)

    runs = sorted(
        (r for r in state.check_runs if r.repo == full_name and r.head_sha == sha), key=lambda r: -r.id
    )
    seen: set[str] = set()
    for run in runs:
        if run.name not in seen:
            seen.add(run.name)
            done = run.status == "completed"
            note(run.name, "pending" if not done else "success" if run.conclusion in _PASSING else "failure")
    seen.clear()
    for status in sorted(
        (s for s in state.statuses if s.repo == full_name and s.sha == sha), key=lambda s: -s.id
    ):
        if status.context not in seen:
            seen.add(status.context)
            verdict = {"success": "success", "pending": "pending"}.get(status.state, "failure")
            note(status.context, verdict)
    return out


def unmet(state: State, pull: Pull) -> list[str]:
    """The required checks of the PR's base branch that have not passed on its head."""
    required, _ = state.required_contexts(pull.repo, pull.base_ref)
    states = check_states(state, pull.repo, state.head_sha(pull))
    return [name for name in required if states.get(name) != "success"]


def mergeable_state(state: State, pull: Pull, *, mergeable: bool) -> str:
    """GitHub's `mergeable_state` of an open PR, `mergeable` or not (an override set by a test wins)."""
    override = state.mergeable_overrides.get((pull.repo, pull.number))
    if override is not None:
        return override
    git_dir = state.repo(pull.repo).git_dir
    base, head = state.base_sha(pull), state.head_sha(pull)
    if not mergeable:
        return "dirty"
    if pull.draft:
        return "draft"
    _, strict = state.required_contexts(pull.repo, pull.base_ref)
    if strict and not github_git.is_ancestor(git_dir, base, head):
        return "behind"
    if unmet(state, pull):
        return "blocked"
    if any(v != "success" for v in check_states(state, pull.repo, head).values()):
        return "unstable"
    return "clean"


def merge_refusal(state: State, pull: Pull, caller: str) -> str | None:
    """GitHub's 405 message when protection or a ruleset forbids this merge; an admin passes a protection
    that does not include administrators (rulesets here have no bypass list)."""
    protection = state.protections.get((pull.repo, pull.base_ref))
    admin = state.permission(pull.repo, caller) == "admin"
    ruleset_names = {n for r in state.rulesets if r.repo == pull.repo and pull.base_ref in r.branches
                     for n in r.contexts}  # fmt: skip
    for name in unmet(state, pull):
        bypassed = admin and protection is not None and not protection.enforce_admins
        if name in ruleset_names or not bypassed:
            return f'Required status check "{name}" is expected.'
    return None
