"""A `LanguageModel` over an OpenAI-compatible `/chat/completions` endpoint (hosted or self-hosted)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import httpx

from bot import ports
from bot.adapters.llm import grammar as llm_grammar
from bot.adapters.llm import http as llm_http
from bot.ports import ToolCall

SchemaMode = Literal["json_schema", "json_object_schema", "none"]


class OpenAICompatibleModel:
    """One chat completion per call against `{base_url}/chat/completions`.

    `schema_mode` says how a JSON schema is sent: `json_schema` is the standard structured-output shape;
    `json_object_schema` (`{"type": "json_object", "schema": ...}`) is the shape llama.cpp's Python server
    turns into a decoding grammar, sent reshaped so the grammar enforces all of it (`llm_grammar`);
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
        self._client = client
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._api_key = api_key
        self._provider = provider
        self._schema_mode = schema_mode

    @property
    def provider(self) -> str:
        return self._provider

    @property
    def model(self) -> str:
        return self._model

    async def complete(
        self,
        request: ports.CompletionRequest,
        *,
        timeout: float,  # noqa: ASYNC109 - the LanguageModel port names its deadline `timeout`
    ) -> ports.Completion:
        """Send `request` once and return the answer with the usage the server reported."""
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        data = await llm_http.post_json(
            self._client,
            self._url,
            self._body(request),
            provider=self._provider,
            timeout_s=timeout,
            headers=headers,
            secrets=(self._api_key,),
        )
        return self._read(data, request)

    def _body(self, request: ports.CompletionRequest) -> dict[str, object]:
        body: dict[str, object] = {
            "model": self._model,
            "messages": [_message(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
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
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        input_tokens = llm_http.optional_int(usage.get("prompt_tokens"))
        output_tokens = llm_http.optional_int(usage.get("completion_tokens"))
        if input_tokens is None or output_tokens is None:
            if provider != "local":
                # Counting zero would let a paid call through the budget for free: refuse the answer.
                raise llm_http.malformed(provider, "provider reported no token usage")
            # The managed local server costs nothing; an estimate keeps token metrics and limits meaningful.
            prompt = "".join(m.content for m in request.messages)
            input_tokens = input_tokens if input_tokens is not None else llm_http.estimate_tokens(prompt)
            if output_tokens is None:  # capped by max_tokens: an estimate above it would read as over-billing
                output_tokens = min(llm_http.estimate_tokens(text), request.max_tokens)
        return ports.Completion(
            text=text,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model=str(data.get("model") or self._model),
            finish_reason=finish if isinstance(finish, str) else None,
            tool_calls=calls,
        )


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
