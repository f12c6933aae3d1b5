"""Tool calling on the wire for the fake LLM servers: scripted calls, their envelopes, and the request
checks the real services apply to tool turns (each flavor's shapes, every call answered, tools defined).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

Flavor = Literal["openai", "ollama", "anthropic"]
_BLOCK_TYPES = {"text", "tool_use", "tool_result"}


@dataclass
class ScriptedCall:
    """One tool call a scripted reply makes; `raw_arguments` replaces the JSON text (OpenAI only)."""

    name: str
    arguments: dict[str, Any]
    raw_arguments: str | None = None
    id: str | None = None


def openai_message(text: str, calls: list[ScriptedCall], number: int) -> dict[str, Any]:
    """The assistant message of a chat completion, with `tool_calls` when the reply makes calls."""
    if not calls:
        return {"role": "assistant", "content": text}
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": call.id or f"call_fake{number}_{index}",
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.raw_arguments
                    if call.raw_arguments is not None
                    else json.dumps(call.arguments),
                },
            }
            for index, call in enumerate(calls)
        ],
    }


def ollama_message(text: str, calls: list[ScriptedCall]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [
            {"function": {"name": call.name, "arguments": call.arguments}} for call in calls
        ]
    return message


def anthropic_content(text: str, calls: list[ScriptedCall], number: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text or not calls else []
    blocks += [
        {"type": "tool_use", "id": call.id or f"toolu_fake{number}_{index}", "name": call.name,
         "input": call.arguments}
        for index, call in enumerate(calls)
    ]  # fmt: skip
    return blocks


def tools_problem(flavor: Flavor, body: dict[str, Any]) -> str | None:
    """What the service says about a malformed `tools` / `tool_choice`, if anything."""
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "tools: must be a list"
        for index, tool in enumerate(tools):
            if flavor == "anthropic":
                ok = isinstance(tool, dict) and isinstance(tool.get("name"), str)
                ok = ok and isinstance(tool.get("input_schema"), dict)
            else:
                function = tool.get("function") if isinstance(tool, dict) else None
                ok = isinstance(tool, dict) and tool.get("type") == "function" and isinstance(function, dict)
                ok = ok and isinstance(function.get("name"), str)  # type: ignore[union-attr]
            if not ok:
                return f"tools.{index}: malformed tool definition"
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if flavor == "openai" and choice not in ("none", "auto", "required") and not isinstance(choice, dict):
        return f"tool_choice: invalid value {choice!r}"
    if flavor == "anthropic" and not (
        isinstance(choice, dict) and choice.get("type") in {"auto", "any", "tool", "none"}
    ):
        return "tool_choice: must be an object with type auto, any, tool or none"
    if flavor == "ollama":
        return "tool_choice: unknown field"
    return None


def chat_problem(flavor: Flavor, messages: list[Any]) -> str | None:
    """OpenAI / Ollama messages: roles, text contents, tool-call shapes, every call answered in turn."""
    pending: set[str] = set()
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages.{index}: must be an object"
        role, content, calls = message.get("role"), message.get("content"), message.get("tool_calls")
        if role not in {"system", "user", "assistant", "tool"}:
            return f"messages.{index}.role: unexpected role {role!r}"
        if flavor == "openai" and pending and role != "tool":
            return (
                f"messages.{index}: an assistant message with 'tool_calls' must be followed by tool "
                f"messages responding to each 'tool_call_id' (missing {sorted(pending)})"
            )
        if role == "assistant" and calls is not None:
            problem = _calls_problem(flavor, calls, index)
            if problem:
                return problem
            if content is not None and not isinstance(content, str):
                return f"messages.{index}.content: must be text or null"
            pending = {c["id"] for c in calls} if flavor == "openai" else set()
            continue
        if not isinstance(content, str):
            return f"messages.{index}: needs a text content"
        if role == "tool" and flavor == "openai":
            answered = message.get("tool_call_id")
            if answered not in pending:
                return f"messages.{index}.tool_call_id: {answered!r} answers no preceding tool call"
            pending.discard(answered)
        if role == "tool" and flavor == "ollama" and not isinstance(message.get("tool_name"), str):
            return f"messages.{index}.tool_name: required for a tool message"
    return None


def _calls_problem(flavor: Flavor, calls: object, index: int) -> str | None:
    if not isinstance(calls, list) or not calls:
        return f"messages.{index}.tool_calls: must be a non-empty list"
    for number, call in enumerate(calls):
        where = f"messages.{index}.tool_calls.{number}"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            return f"{where}.function: needs a name"
        if flavor == "openai":
            if not isinstance(call.get("id"), str) or call.get("type") != "function":  # type: ignore[union-attr]
                return f"{where}: needs an id and type 'function'"
            if not isinstance(function.get("arguments"), str):
                return f"{where}.function.arguments: must be a JSON string"
        elif not isinstance(function.get("arguments"), dict):
            return f"{where}.function.arguments: must be an object"
    return None


def anthropic_problem(messages: list[Any], body: dict[str, Any]) -> str | None:
    """Messages API rules: user/assistant only, blocks well formed, each tool_use answered first thing
    in the next user turn, and tools defined whenever tool blocks appear."""
    pending: set[str] = set()
    uses_tools = False
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in {"user", "assistant"}:
            extra = " (use the top-level system parameter)" if role == "system" else ""
            return f"messages.{index}.role: unexpected role {role!r}{extra}"
        blocks = _blocks(message.get("content"))
        if blocks is None:
            return f"messages.{index}: needs a text content or a list of content blocks"
        kinds = [b.get("type") for b in blocks]
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        uses = {b.get("id") for b in blocks if b.get("type") == "tool_use"}
        uses_tools = uses_tools or bool(results or uses)
        if (role == "user" and uses) or (role == "assistant" and results):
            return f"messages.{index}: tool blocks on the wrong side of the conversation"
        if (pending or results) and (role != "user" or set(results) != pending):
            return f"messages.{index}: tool_use ids were found without tool_result blocks immediately after"
        if kinds[: len(results)] != ["tool_result"] * len(results):
            return f"messages.{index}: tool_result blocks must come first in the content"
        pending = {str(u) for u in uses}
    if uses_tools and not body.get("tools"):
        return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    return None


def _blocks(content: object) -> list[dict[str, Any]] | None:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list) or not content:
        return None
    for block in content:
        if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
            return None
        if block.get("type") == "text" and not (isinstance(block.get("text"), str) and block["text"]):
            return None  # the API refuses empty text blocks
        if block.get("type") == "tool_result" and not isinstance(block.get("content"), str | list):
            return None
    return content
