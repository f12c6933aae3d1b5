"""How the agent loop runs the tools a model asks for: within the round's bounds, never raising, and
with everything that may be shown again (results, the model's own arguments) redacted. What a tool
returns is read by the model, so the tripwire scans it too (a commit message, a file the PR added)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.domain import Step, TripwireHit, Usage
from bot.ports import INVALID_ARGUMENTS, ToolBox, ToolCall, ToolResult
from guardrails.clock import Clock
from guardrails.text import redaction, tripwire

log = logging.getLogger(__name__)
_MAX_ARGUMENT_CHARS = 1000
_MAX_DEPTH = 6


@dataclass
class Session:
    """One round's shared state: its toolbox, when it started, what it used, and where steps go."""

    toolbox: ToolBox
    started: float
    record: Callable[[Step], None]
    tool_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    tripwire: list[TripwireHit] = field(default_factory=list)


class ToolRunner:
    """Runs calls against a session's toolbox under the round's tool-call and wall-time bounds."""

    def __init__(self, redactor: redaction.Redactor, clock: Clock, max_calls: int, max_wall_s: float) -> None:
        self._redactor, self._clock = redactor, clock
        self._max_calls, self._max_wall_s = max_calls, max_wall_s

    async def run_calls(
        self, session: Session, chunk: int, turn: int, calls: tuple[ToolCall, ...]
    ) -> tuple[ToolResult, ...]:
        results = []
        for call in calls:
            started = time.monotonic()
            if session.tool_calls >= self._max_calls:
                result = _refused(call, "the limit of tool calls for this round is reached; give your answer")
            else:
                session.tool_calls += 1
                result = await self._run_one(session, call)
            clean = replace(
                result, call_id=call.id, name=self.clean(call.name)[:64], text=self.clean(result.text)
            )
            results.append(clean)
            session.tripwire.extend(tripwire.scan_text(clean.text, f"tool {clean.name}"))
            shown = self.redacted_call(call)
            session.record(
                Step(
                    "tool", chunk, turn, shown.name, clean.ok,
                    result.duration_ms or elapsed_ms(started),
                    arguments=json.dumps(shown.arguments, default=str)[:_MAX_ARGUMENT_CHARS],
                    result_bytes=len(clean.text.encode("utf-8", "replace")),
                    bytes_read=result.bytes_read,
                    detail="truncated" if result.truncated else "",
                )
            )  # fmt: skip
        return tuple(results)

    async def _run_one(self, session: Session, call: ToolCall) -> ToolResult:
        if INVALID_ARGUMENTS in call.arguments:
            why = str(call.arguments[INVALID_ARGUMENTS])[:200]
            return _refused(call, f"{why}; call it again with a JSON object as its parameters describe")
        left = self._max_wall_s - (self._clock.monotonic() - session.started)
        try:
            async with asyncio.timeout(max(left, 0.001)):
                return await session.toolbox.run(call)
        except TimeoutError:
            return _refused(call, "the time for looking around is over; give your answer")
        except Exception:  # the toolbox must not raise; if it does, the model is told and the round goes on
            log.exception("tool %s raised", self.clean(call.name)[:64])
            return _refused(call, "the tool failed")

    def redacted_call(self, call: ToolCall) -> ToolCall:
        """The call as it may be shown again: name and every string of the arguments redacted and capped."""
        arguments = self._redact_value(dict(call.arguments), 0)
        assert isinstance(arguments, dict)
        return ToolCall(call.id, self.clean(call.name)[:64], arguments)

    def _redact_value(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self.clean(value)[:_MAX_ARGUMENT_CHARS]
        if depth >= _MAX_DEPTH:
            return "..."
        if isinstance(value, Mapping):
            return {
                self.clean(str(k))[:100]: self._redact_value(v, depth + 1)
                for k, v in list(value.items())[:50]
            }
        if isinstance(value, list | tuple):
            return [self._redact_value(v, depth + 1) for v in value[:50]]
        return value if isinstance(value, int | float | bool) or value is None else self.clean(str(value))

    def clean(self, text: str) -> str:
        return self._redactor.redact(text)[0]


def _refused(call: ToolCall, why: str) -> ToolResult:
    return ToolResult(call.id, call.name, False, f"not run: {why}")


def elapsed_ms(started: float) -> int:
    """Milliseconds on the monotonic clock since `started`."""
    return int((time.monotonic() - started) * 1000)
