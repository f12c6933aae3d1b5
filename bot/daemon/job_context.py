"""The PR a task works on: one context variable read by log lines and by metric documents alike.

`scoped(repo=..., pr=...)` sets fields for everything run inside it (tasks created inside inherit them);
`bind(ctx)` sets the whole context for the rest of the current task (the job handler does this once it
knows the head). Log lines print `fields()`; metric documents emitted deep in the review path (LLM calls,
budget settlements) are stamped with `current()`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from contextvars import ContextVar

from bot.telemetry import DocContext

_NONE = DocContext()  # a frozen dataclass: safe to share as the default
_current: ContextVar[DocContext] = ContextVar("quorum_job_context", default=_NONE)
FIELDS = tuple(f.name for f in dataclasses.fields(DocContext))


def current() -> DocContext:
    """The context in effect here."""
    return _current.get()


def fields() -> Mapping[str, str | int]:
    """The context's fields that are set (not empty, not zero), for a log line."""
    ctx = _current.get()
    return {name: value for name in FIELDS if (value := getattr(ctx, name))}


@contextlib.contextmanager
def scoped(**changes: str | int | None) -> Iterator[None]:
    """Set `changes` (repo, pr, delivery_id, job_id, head_sha, round) for everything inside."""
    unknown = set(changes) - set(FIELDS)
    if unknown:
        raise TypeError(f"not a job context field: {', '.join(sorted(unknown))}")
    given = {k: v for k, v in changes.items() if v is not None and v != ""}
    token = _current.set(dataclasses.replace(_current.get(), **given))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current.reset(token)


def bind(ctx: DocContext) -> None:
    """Make `ctx` the context of the rest of the current task."""
    _current.set(ctx)
