"""A `LanguageModel` over an OpenAI-compatible `/chat/completions` endpoint (hosted or self-hosted)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from bot import ports
from bot.adapters.llm import chat_model
from bot.adapters.llm import grammar as llm_grammar
from bot.adapters.llm import http as llm_http
from bot.ports import ToolCall

SchemaMode = Literal["json_schema", "json_object_schema", "none"]


class OpenAICompatibleModel(chat_model.HttpChatModel):
    """One chat completion per call against `{base_url}/chat/completions`.

    `schema_mode` says how a JSON schema is sent: `json_schema` is the standard structured-output shape;
    `json_object_schema` (`{"type": "json_object", "schema": ...}`) is the shape llama.cpp's Python server
    turns into a decoding grammar, sent reshaped so the grammar enforces all of it (`grammar`);
    `none` sends no constraint and relies on the prompt.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        provider: str = "openai",
        schema_mode: SchemaMode = "json_schema",
    ) -> None:
        url = base_url.rstrip("/") + "/chat/completions"
        super().__init__(client, url=url, provider=provider, model=model, secrets=(api_key,))
        self._api_key = api_key
        self._schema_mode = schema_mode

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def _body(self, request: ports.CompletionRequest) -> dict[str, object]:
        body: dict[str, object] = {
            "model": self._model,
            "messages": [_message(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.tools:
            body["tools"] = chat_model.function_tools(request.tools)
            body["tool_choice"] = request.tool_choice
        schema = request.json_schema
        if schema is not None and self._schema_mode == "json_schema":
            # strict=False: strict mode rejects common schema keywords; validation happens on our side anyway.
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": schema, "strict": False},
            }
        elif schema is not None and self._schema_mode == "json_object_schema":
            body["response_format"] = {"type": "json_object", "schema": _grammar_schema(schema, request)}
        return body

    def _read(self, data: dict[str, Any], request: ports.CompletionRequest) -> ports.Completion:
        provider = self._provider
        message = llm_http.dig(data, "choices", 0, "message", provider=provider)
        content = message.get("content") if isinstance(message, dict) else None
        if content is not None and not isinstance(content, str):
            raise llm_http.malformed(provider, "choices.0.message.content is not text")
        text = content or ""
        calls = _tool_calls(message.get("tool_calls") if isinstance(message, dict) else None)
        choice = llm_http.dig(data, "choices", 0, provider=provider)
        finish = choice.get("finish_reason") if isinstance(choice, dict) else None
        counts = chat_model.reported(data.get("usage"), "prompt_tokens", "completion_tokens")
        # Only the managed local server costs nothing: every other provider must report what it billed.
        if provider == "local":
            usage = chat_model.estimated(request, text, counts)
        else:
            usage = chat_model.billed(provider, counts)
        return self._completion(data, text, usage, finish, calls)


def _grammar_schema(schema: Mapping[str, Any], request: ports.CompletionRequest) -> dict[str, Any]:
    """The schema as llama.cpp's grammar converter enforces it, its longest answer within `max_tokens`
    (every character the grammar allows is ASCII, at most one token)."""
    try:
        return llm_grammar.fitted(schema, request.max_tokens)
    except ValueError:
        # Too few tokens for even the shrunk schema: still every bound, but a long answer may be cut.
        return llm_grammar.for_grammar(schema)


def _message(message: ports.ChatMessage) -> dict[str, object]:
    """One message on the wire: tool calls carry their arguments as a JSON string, as the API requires."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content}
    out: dict[str, object] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(llm_http.plain(call.arguments))},
            }
            for call in message.tool_calls
        ]
    return out


def _tool_calls(raw: object) -> tuple[ToolCall, ...]:
    """The calls of an answer; an entry that is not an object is skipped, bad arguments are marked."""
    if not isinstance(raw, list):
        return ()
    calls = []
    for index, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        if isinstance(function, dict):
            calls.append(
                llm_http.tool_call(item.get("id"), function.get("name"), function.get("arguments"), index)
            )
    return tuple(calls)
