"""The code around each chunk's hunks, read from the head worktree before the first model call.

Each hunk is widened to its enclosing function or class (see `context.py`), redacted like the diff, and
fitted under a token budget per chunk; what does not fit is left out and named, so coverage can say so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.domain import FileStatus
from bot.errors import WorkspaceError
from bot.review import context
from bot.review.chunking import Chunk
from guardrails import workspace
from guardrails.text import redaction


@dataclass(frozen=True, slots=True)
class ContextPolicy:
    """How far hunks are widened, and how much widened code one chunk may carry."""

    context_lines: int
    max_context_lines: int
    token_budget: int
    max_file_bytes: int = 512 * 1024


@dataclass(frozen=True, slots=True)
class Gathered:
    texts: dict[int, str]  # chunk index -> rendered, redacted context
    cut: tuple[str, ...]  # files whose context did not fit


async def gather(
    tree: Path, chunks: Sequence[Chunk], redactor: redaction.Redactor, policy: ContextPolicy
) -> Gathered:
    """Widened context per chunk (blocking file reads run in a thread)."""
    return await asyncio.to_thread(_gather, tree, chunks, redactor, policy)


def _gather(
    tree: Path, chunks: Sequence[Chunk], redactor: redaction.Redactor, policy: ContextPolicy
) -> Gathered:
    texts: dict[int, str] = {}
    cut: list[str] = []
    for chunk in chunks:
        sources: dict[str, str] = {}
        for diff in chunk.files:
            if diff.status is FileStatus.DELETED or diff.path in sources:
                continue
            try:
                sources[diff.path] = workspace.read_text(tree, diff.path, max_bytes=policy.max_file_bytes)
            except (WorkspaceError, OSError):
                continue  # binary, too large, a symlink or gone: the diff alone is reviewed
        built = context.build(
            chunk.files,
            sources,
            context_lines=policy.context_lines,
            max_context_lines=policy.max_context_lines,
        )
        kept, dropped = context.fit([context.redact(c, redactor) for c in built], policy.token_budget)
        cut.extend(c.path for c in dropped)
        if kept:
            texts[chunk.index] = context.render_all(kept)
    return Gathered(texts, tuple(dict.fromkeys(cut)))
