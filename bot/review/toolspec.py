"""The contract between the agent loop and the read-only tools it may call inside a worktree.

The loop only sees `ToolSpec`s (what to offer the model), sends `ToolCall`s and gets `ToolResult`s back;
a `ToolBox` is bound to one job's worktree and one round's bounds. A tool never raises into the loop:
a refused or failed call is a result with `ok=False` whose text tells the model why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as offered to the model: a name, a description and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for; `id` is the provider's call id (generated for the text protocol)."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a call returned: redacted, capped text for the model, and facts for the transcript."""

    call_id: str
    name: str
    ok: bool
    text: str
    bytes_read: int = 0
    truncated: bool = False
    duration_ms: int = 0


class ToolBox(Protocol):
    """The read-only tools of one round, confined to one worktree and bounded by the round's caps."""

    def specs(self) -> tuple[ToolSpec, ...]:
        """The tools to offer the model."""
        ...

    async def run(self, call: ToolCall) -> ToolResult:
        """Run one call; never raises for a bad call (unknown tool, bad arguments, refused path, cap hit)."""
        ...

    @property
    def bytes_read(self) -> int:
        """Bytes read from the worktree so far this round."""
        ...
