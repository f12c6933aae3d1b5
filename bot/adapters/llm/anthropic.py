"""A `LanguageModel` over the Messages API (`POST /v1/messages`); the prompt itself asks for JSON.

Tool calls travel as content blocks: the model's `tool_use` blocks in an assistant turn, our answers as
`tool_result` blocks at the start of the next user turn (https://docs.anthropic.com/en/docs/build-with-claude/tool-use).
"""

from __future__ import annotations

from typing import Any

import httpx

from bot import ports
from bot.adapters.llm import http as llm_http
from bot.ports import ToolCall

PROVIDER = "anthropic"


class AnthropicModel:
    """One message per call; system messages travel in the top-level `system` field, as the API requires."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        base_url: str = "https://api.anthropic.com",
        model: str,
        api_key: str,
        version: str = "2023-06-01",
    ) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/v1/messages"
        self._model = model
        self._api_key = api_key
        self._version = version

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
        """Send `request` once and return the text blocks with the usage the API reported.

        `request.json_schema` is not sent: the prompt carries the schema and our validation enforces it.
        An overloaded answer (HTTP 529) is retryable like any 5xx.
        """
        headers = {"x-api-key": self._api_key, "anthropic-version": self._version}
        data = await llm_http.post_json(
            self._client,
            self._url,
            self._body(request),
            provider=PROVIDER,
            timeout_s=timeout,
            headers=headers,
            secrets=(self._api_key,),
        )
        return self._read(data)

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

    def _read(self, data: dict[str, Any]) -> ports.Completion:
        blocks = llm_http.dig(data, "content", provider=PROVIDER)
        if not isinstance(blocks, list):
            raise llm_http.malformed(PROVIDER, "content is not a list of blocks")
        texts = [b.get("text") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
        calls = tuple(
            llm_http.tool_call(b.get("id"), b.get("name"), b.get("input"), index)
            for index, b in enumerate(blocks)
            if isinstance(b, dict) and b.get("type") == "tool_use"
        )
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        input_tokens = llm_http.optional_int(usage.get("input_tokens"))
        output_tokens = llm_http.optional_int(usage.get("output_tokens"))
        if input_tokens is None or output_tokens is None:
            # A paid call whose cost cannot be settled must not pass as free.
            raise llm_http.malformed(PROVIDER, "provider reported no token usage")
        stop = data.get("stop_reason")
        return ports.Completion(
            text="".join(t for t in texts if isinstance(t, str)),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model=str(data.get("model") or self._model),
            finish_reason=stop if isinstance(stop, str) else None,
            tool_calls=calls,
        )


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
