"""The fake GitHub's test API for merge gates: protection, rulesets, the merge state, the activity log."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from tests.fakes.github_state import Activity, Protection, Ruleset, State


class GateSeeding:
    """Arrange what GitHub enforces on a branch; mixed into `FakeGitHub`."""

    state: State

    def set_protection(
        self,
        repo: str,
        branch: str,
        contexts: Sequence[str],
        *,
        strict: bool = False,
        enforce_admins: bool = False,
    ) -> None:
        """Protect `branch` requiring `contexts` (empty: protected without required checks)."""
        with self.state.lock:
            full = self.state.repo(repo).full_name
            self.state.protections[(full, branch)] = Protection(list(contexts), strict, enforce_admins)

    def add_ruleset(
        self, repo: str, branches: Sequence[str], contexts: Sequence[str], *, strict: bool = False
    ) -> int:
        """An active ruleset requiring `contexts` on `branches`; its id."""
        with self.state.lock:
            full = self.state.repo(repo).full_name
            ruleset = Ruleset(next(self.state.ids), full, list(branches), list(contexts), strict)
            self.state.rulesets.append(ruleset)
            return ruleset.id

    def set_mergeable_state(self, repo: str, number: int, value: str | None) -> None:
        """Make the PR report this `mergeable_state` (None: computed again)."""
        with self.state.lock:
            key = (self.state.pull(repo, number).repo, number)
            if value is None:
                self.state.mergeable_overrides.pop(key, None)
            else:
                self.state.mergeable_overrides[key] = value

    def activities(self, repo: str) -> list[Activity]:
        with self.state.lock:
            full = self.state.repo(repo).full_name
            return [copy.deepcopy(a) for a in self.state.activities if a.repo == full]
