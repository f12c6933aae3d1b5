"""A `LanguageModel` over the Messages API (`POST /v1/messages`); the prompt itself asks for JSON.

Tool calls travel as content blocks: the model's `tool_use` blocks in an assistant turn, our answers as
`tool_result` blocks at the start of the next user turn (https://docs.anthropic.com/en/docs/build-with-claude/tool-use).
"""

from __future__ import annotations

from typing import Any

import httpx

from bot import ports
from bot.adapters.llm import chat_model
from bot.adapters.llm import http as llm_http
from bot.ports import ToolCall

PROVIDER = "anthropic"


class AnthropicModel(chat_model.HttpChatModel):
    """One message per call; system messages travel in the top-level `system` field, as the API requires.

    `request.json_schema` is not sent: the prompt carries the schema and our validation enforces it. An
    overloaded answer (HTTP 529) is retryable like any 5xx.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = "https://api.anthropic.com",
        model: str,
        api_key: str,
        version: str = "2023-06-01",
    ) -> None:
        url = base_url.rstrip("/") + "/v1/messages"
        super().__init__(client, url=url, provider=PROVIDER, model=model, secrets=(api_key,))
        self._api_key = api_key
        self._version = version

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self._api_key, "anthropic-version": self._version}

    def _body(self, request: ports.CompletionRequest) -> dict[str, object]:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, object] = {
            "model": self._model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "messages": _messages(request.messages),
        }
        if system:
            body["system"] = system
        if request.tools:
            # Tools stay listed with choice "none" too: the API refuses tool blocks in a request without them.
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
            body["tool_choice"] = {"type": request.tool_choice}
        return body

    def _read(self, data: dict[str, Any], request: ports.CompletionRequest) -> ports.Completion:
        blocks = llm_http.dig(data, "content", provider=PROVIDER)
        if not isinstance(blocks, list):
            raise llm_http.malformed(PROVIDER, "content is not a list of blocks")
        texts = [b.get("text") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        calls = tuple(
            llm_http.tool_call(b.get("id"), b.get("name"), b.get("input"), index)
            for index, b in enumerate(blocks)
            if isinstance(b, dict) and b.get("type") == "tool_use"
        )
        usage = chat_model.billed(
            PROVIDER, chat_model.reported(data.get("usage"), "input_tokens", "output_tokens")
        )
        text = "".join(t for t in texts if isinstance(t, str))
        return self._completion(data, text, usage, data.get("stop_reason"), calls)


def _messages(messages: tuple[ports.ChatMessage, ...]) -> list[dict[str, Any]]:
    """The conversation without system messages; tool answers (and any text after them) form one user turn."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "tool":
            _user_blocks(
                out, {"type": "tool_result", "tool_use_id": m.tool_call_id or "", "content": m.content}
            )
        elif m.role == "assistant" and m.tool_calls:
            out.append({"role": "assistant", "content": [*_text(m.content), *map(_tool_use, m.tool_calls)]})
        elif m.role == "user" and out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
            _user_blocks(out, *_text(m.content))
        else:
            out.append({"role": m.role, "content": m.content})
    return out


def _user_blocks(out: list[dict[str, Any]], *blocks: dict[str, Any]) -> None:
    if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": "user", "content": list(blocks)})


def _text(content: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if content else []  # the API refuses empty text blocks


def _tool_use(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": llm_http.plain(call.arguments)}
