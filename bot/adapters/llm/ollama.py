"""A `LanguageModel` over Ollama's native `/api/chat` endpoint (not streamed, schema via `format`)."""

from __future__ import annotations

from typing import Any

import httpx

from bot import ports
from bot.adapters.llm import http as llm_http
from bot.ports import ToolCall

PROVIDER = "ollama"


class OllamaModel:
    """One chat completion per call against `{base_url}/api/chat`."""

    def __init__(
        self, client: httpx.AsyncClient, *, base_url: str = "http://localhost:11434", model: str
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/api/chat"
        self._model = model

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def model(self) -> str:
        return self._model

    async def complete(
        self,
        request: ports.CompletionRequest,
        *,
        timeout: float,  # noqa: ASYNC109 - the LanguageModel port names its deadline `timeout`
    ) -> ports.Completion:
        """Send `request` once and return the answer with Ollama's evaluation counts as usage."""
        body: dict[str, object] = {
            "model": self._model,
            "messages": [_message(m) for m in request.messages],
            "stream": False,
            "options": {"temperature": request.temperature, "num_predict": request.max_tokens},
        }
        if request.tools and request.tool_choice == "auto":
            # Ollama has no tool_choice: "none" is sent as no tools (it accepts tool turns without them).
            body["tools"] = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in request.tools
            ]
        if request.json_schema is not None:
            # `format` takes a whole JSON schema and constrains decoding to it.
            body["format"] = request.json_schema
        data = await llm_http.post_json(self._client, self._url, body, provider=PROVIDER, timeout_s=timeout)
        return self._read(data, request)

    def _read(self, data: dict[str, Any], request: ports.CompletionRequest) -> ports.Completion:
        content = llm_http.dig(data, "message", "content", provider=PROVIDER)
        if not isinstance(content, str):
            raise llm_http.malformed(PROVIDER, "message.content is not text")
        # Older Ollama versions omit prompt_eval_count when the prompt came from its cache
        # (https://github.com/ollama/ollama/issues/2068). Ollama runs on the operator's hardware and costs
        # nothing, so an estimate is safer than refusing the answer or counting zero.
        input_tokens = llm_http.optional_int(data.get("prompt_eval_count"))
        if input_tokens is None:
            input_tokens = llm_http.estimate_tokens("".join(m.content for m in request.messages))
        output_tokens = llm_http.optional_int(data.get("eval_count"))
        if output_tokens is None:
            # num_predict stopped it there: a rough estimate above it would read as over-reported usage.
            output_tokens = min(llm_http.estimate_tokens(content), request.max_tokens)
        reason = data.get("done_reason")
        message = data.get("message")
        return ports.Completion(
            text=content,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model=str(data.get("model") or self._model),
            finish_reason=reason if isinstance(reason, str) else None,
            tool_calls=_tool_calls(message.get("tool_calls") if isinstance(message, dict) else None),
        )


def _message(message: ports.ChatMessage) -> dict[str, object]:
    """One message on the wire: tool arguments are objects; a tool answer names its tool."""
    out: dict[str, object] = {"role": message.role, "content": message.content}
    if message.role == "tool":
        out["tool_name"] = message.name or ""
    if message.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": call.name, "arguments": llm_http.plain(call.arguments)}}
            for call in message.tool_calls
        ]
    return out


def _tool_calls(raw: object) -> tuple[ToolCall, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        llm_http.tool_call(item.get("id"), item["function"].get("name"), item["function"].get("arguments"), i)
        for i, item in enumerate(raw)
        if isinstance(item, dict) and isinstance(item.get("function"), dict)
    )
