"""What Quorum needs from its GitHub credentials, and what an App or a token lacks (`quorum doctor`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot import forge

_LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}

# App permissions: contents needs write only to merge.
APP_PERMISSIONS: Mapping[str, str] = {
    "pull_requests": "write",
    "contents": "read",
    "checks": "write",
    "statuses": "write",
    "issues": "write",
    "metadata": "read",
}
APP_EVENTS: tuple[str, ...] = (
    "pull_request",
    "issue_comment",
    "pull_request_review",
    "check_suite",
    "check_run",
    "status",
)
# A classic token needs `repo` (private repositories) or at least `public_repo`.
TOKEN_SCOPES: tuple[str, ...] = ("repo", "public_repo")


@dataclass(frozen=True, slots=True)
class AccessReport:
    """Who Quorum is, what it may do, and what is missing compared with what it needs.

    `scopes_known` is False for a token that reports no `X-OAuth-Scopes` (a fine-grained token): its
    access can only be judged by using it.
    """

    identity: forge.Identity
    permissions: Mapping[str, str] = field(default_factory=dict)
    events: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    scopes_known: bool = True
    missing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.missing


def app_missing(permissions: Mapping[str, str], events: Sequence[str], *, merge: bool) -> tuple[str, ...]:
    """Each permission below what Quorum needs (`name: have < need`) and each unsubscribed event."""
    need = dict(APP_PERMISSIONS)
    if merge:
        need["contents"] = "write"
    missing = [
        f"permission {name}: {permissions.get(name, 'none')} < {level}"
        for name, level in need.items()
        if _LEVELS.get(permissions.get(name, "none"), 0) < _LEVELS[level]
    ]
    missing += [f"event {name}" for name in APP_EVENTS if name not in events]
    return tuple(missing)


def token_missing(scopes: Sequence[str] | None) -> tuple[str, ...]:
    """`scope repo` when a classic token has neither `repo` nor `public_repo`; nothing when unknown."""
    if scopes is None or any(scope in scopes for scope in TOKEN_SCOPES):
        return ()
    return ("scope repo (or public_repo for public repositories only)",)
