"""The agent conversation in the two tool protocols: native tool calling and plain-text JSON.

The loop keeps a protocol-neutral history of exchanges (what the model said, the calls it made with
redacted arguments, the redacted results) and renders it for the protocol in use, so a model found not
to support native calls mid-conversation continues in text with the same history. Tool results are
fenced as untrusted data, like the diff.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot import ports
from bot.ports import ToolCall, ToolResult, ToolSpec
from bot.review import prompts

Protocol = Literal["native", "text"]

# Tool results of the last this many exchanges are sent in full, older ones as one line: re-sending every
# result on every turn makes the input of a part grow with the square of its turns.
KEEP_RESULTS = 2
_ELIDED = "not repeated to save room (call the tool again if you need it)"
_FENCED = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Exchange:
    """One model turn: its words, its calls and their results, and any feedback we sent after it."""

    words: str
    calls: tuple[ToolCall, ...] = ()
    results: tuple[ToolResult, ...] = ()
    feedback: str = ""


def describe_tools(specs: Sequence[ToolSpec]) -> str:
    """The tool list of the plain-text protocol."""
    return "\n".join(
        f"- {s.name}: {s.description}\n  arguments: {json.dumps(s.parameters, sort_keys=True)}" for s in specs
    )


def parse_text_call(text: str, call_id: str) -> ToolCall | None:
    """The one tool call of a plain-text answer, or None when the answer is not exactly one call
    (`{"tool": name, "arguments": {...}}`, optionally inside a code fence, nothing else around it)."""
    body = text.strip()
    fenced = _FENCED.fullmatch(body)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, RecursionError):
        return None
    if (
        not isinstance(data, dict)
        or set(data) - {"tool", "arguments"}
        or not isinstance(data.get("tool"), str)
    ):
        return None
    arguments = data.get("arguments", {})
    if not isinstance(arguments, dict):
        arguments = {ports.INVALID_ARGUMENTS: "the arguments are not a JSON object"}
    return ToolCall(call_id, data["tool"], arguments)


def result_text(result: ToolResult, *, elided: bool = False) -> str:
    """A tool result as the model reads it: its outcome, then the fenced text (or a note that an old
    result is no longer repeated)."""
    state = "ok" if result.ok else "refused or failed"
    cut = ", cut to size" if result.truncated else ""
    if elided:
        return f"{result.name}: {state}{cut}; {len(result.text)} characters shown earlier, {_ELIDED}"
    return f"{result.name}: {state}{cut}\n{prompts.fence('tool-result', result.text)}"


def render(
    protocol: Protocol,
    base: Sequence[ports.ChatMessage],
    history: Sequence[Exchange],
    final: str | None = None,
) -> tuple[ports.ChatMessage, ...]:
    """The conversation so far; `final` is the forced-final-answer request appended last. Results of all
    but the last `KEEP_RESULTS` exchanges with calls are elided."""
    out = list(base)
    with_calls = [i for i, exchange in enumerate(history) if exchange.calls]
    recent = set(with_calls[-KEEP_RESULTS:])
    for i, exchange in enumerate(history):
        elided = i not in recent
        if not exchange.calls:
            out.append(ports.ChatMessage("assistant", exchange.words or "(empty answer)"))
        elif protocol == "native":
            out.append(ports.ChatMessage("assistant", exchange.words, tool_calls=exchange.calls))
            out += [
                ports.ChatMessage("tool", result_text(r, elided=elided), tool_call_id=r.call_id, name=r.name)
                for r in exchange.results
            ]
        else:
            for call, result in zip(exchange.calls, exchange.results, strict=True):
                spoken = json.dumps({"tool": call.name, "arguments": call.arguments}, default=str)
                out.append(ports.ChatMessage("assistant", spoken))
                out.append(ports.ChatMessage("user", "Tool result. " + result_text(result, elided=elided)))
        if exchange.feedback:
            out.append(ports.ChatMessage("user", exchange.feedback))
    if final is not None:
        out.append(ports.ChatMessage("user", final))
    return tuple(out)


def uses_tools(history: Sequence[Exchange]) -> bool:
    """True when the history holds a tool call (a native provider then needs the tools listed)."""
    return any(exchange.calls for exchange in history)
