"""What happened to a PR since its job last ran: commands, human reviews, checks, a close.

The webhook edge only records these and enqueues the PR; the job that holds the PR's lease drains its inbox
and acts on it, so every change to the PR still happens under the lease and through the lifecycle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Protocol

from bot.errors import InputError


class ItemKind(StrEnum):
    COMMAND = "command"
    HUMAN_REVIEW = "human_review"
    CHECKS = "checks"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One thing to act on; `verb`/`args` for a command (`comment_id`, and `at`: when the comment was
    written, on GitHub's clock), `state`/`sha` for a human review."""

    kind: ItemKind
    actor: str = ""
    verb: str = ""
    args: str = ""
    state: str = ""
    sha: str = ""
    delivery_id: str = ""
    comment_id: int = 0
    at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> InboxItem:
        """Read an item written by `to_json`; raises `InputError` on anything else."""
        try:
            data = json.loads(text)
            return cls(**{**data, "kind": ItemKind(data["kind"])})
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError("unreadable inbox item") from exc


class Inbox(Protocol):
    """Per-PR queues of `InboxItem`s."""

    async def push(self, job_id: str, item: InboxItem) -> None:
        """Append one item to the PR's inbox."""
        ...

    async def push_delivery(self, delivery_id: str, items: Sequence[tuple[str, InboxItem]]) -> bool:
        """Record the webhook delivery and append each (job id, item) as one step; False, and nothing
        appended, when the delivery was seen in the last three days (the key `Scheduler.enqueue` sets)."""
        ...

    async def drain(self, job_id: str) -> list[InboxItem]:
        """Take every item, oldest first, atomically (an item is handed out once)."""
        ...

    async def waiting(self) -> list[str]:
        """Job ids whose inbox is not empty (the reconciler re-queues them)."""
        ...
