"""A `LanguageModel` over Ollama's native `/api/chat` endpoint (not streamed, schema via `format`)."""

from __future__ import annotations

from typing import Any

import httpx

from bot import ports
from bot.adapters.llm import chat_model
from bot.adapters.llm import http as llm_http
from bot.ports import ToolCall

PROVIDER = "ollama"


class OllamaModel(chat_model.HttpChatModel):
    """One chat completion per call against `{base_url}/api/chat`; evaluation counts are the usage."""

    def __init__(
        self, client: httpx.AsyncClient, *, base_url: str = "http://localhost:11434", model: str
    ) -> None:
        super().__init__(client, url=base_url.rstrip("/") + "/api/chat", provider=PROVIDER, model=model)

    def _body(self, request: ports.CompletionRequest) -> dict[str, object]:
        body: dict[str, object] = {
            "model": self._model,
            "messages": [_message(m) for m in request.messages],
            "stream": False,
            "options": {"temperature": request.temperature, "num_predict": request.max_tokens},
        }
        if request.tools and request.tool_choice == "auto":
            # Ollama has no tool_choice: "none" is sent as no tools (it accepts tool turns without them).
            body["tools"] = chat_model.function_tools(request.tools)
        if request.json_schema is not None:
            # `format` takes a whole JSON schema and constrains decoding to it.
            body["format"] = request.json_schema
        return body

    def _read(self, data: dict[str, Any], request: ports.CompletionRequest) -> ports.Completion:
        content = llm_http.dig(data, "message", "content", provider=PROVIDER)
        if not isinstance(content, str):
            raise llm_http.malformed(PROVIDER, "message.content is not text")
        # Older Ollama versions omit prompt_eval_count when the prompt came from its cache
        # (https://github.com/ollama/ollama/issues/2068). Ollama runs on the operator's hardware and costs
        # nothing, so an estimate is safer than refusing the answer or counting zero.
        usage = chat_model.estimated(
            request, content, chat_model.reported(data, "prompt_eval_count", "eval_count")
        )
        message = data.get("message")
        calls = _tool_calls(message.get("tool_calls") if isinstance(message, dict) else None)
        return self._completion(data, content, usage, data.get("done_reason"), calls)


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
