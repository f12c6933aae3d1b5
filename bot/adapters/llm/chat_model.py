"""The skeleton the HTTP chat adapters share: one JSON POST per call, its answer read into a `Completion`.

Each provider's module keeps its wire format (`_body`, `_headers`, `_read`); the POST itself, with its
timeouts, error mapping and secret scrubbing, is `llm_http.post_json`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import httpx

from bot import ports
from bot.adapters.llm import http as llm_http

Counts = tuple[int | None, int | None]  # input and output tokens as reported, None when missing


class HttpChatModel(abc.ABC):
    """A `LanguageModel` that sends each request once as one JSON body to one URL."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        url: str,
        provider: str,
        model: str,
        secrets: Sequence[str | None] = (),
    ) -> None:
        self._client = client
        self._url = url
        self._provider = provider
        self._model = model
        self._secrets = tuple(secrets)  # scrubbed from any error text

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
        data = await llm_http.post_json(
            self._client,
            self._url,
            self._body(request),
            provider=self._provider,
            timeout_s=timeout,
            headers=self._headers(),
            secrets=self._secrets,
        )
        return self._read(data, request)

    def _headers(self) -> dict[str, str]:
        return {}

    @abc.abstractmethod
    def _body(self, request: ports.CompletionRequest) -> dict[str, object]:
        """The request in the provider's wire format."""

    @abc.abstractmethod
    def _read(self, data: dict[str, Any], request: ports.CompletionRequest) -> ports.Completion:
        """The provider's answer as a `Completion`; a malformed one raises `llm_http.malformed`."""

    def _completion(
        self,
        data: dict[str, Any],
        text: str,
        usage: tuple[int, int],
        finish: object,
        calls: tuple[ports.ToolCall, ...],
    ) -> ports.Completion:
        return ports.Completion(
            text=text,
            input_tokens=usage[0],
            output_tokens=usage[1],
            model=str(data.get("model") or self._model),
            finish_reason=finish if isinstance(finish, str) else None,
            tool_calls=calls,
        )


def reported(source: object, input_key: str, output_key: str) -> Counts:
    """The token counts under two keys of `source`, None where one is missing or not a count."""
    fields = source if isinstance(source, dict) else {}
    return llm_http.optional_int(fields.get(input_key)), llm_http.optional_int(fields.get(output_key))


def billed(provider: str, counts: Counts) -> tuple[int, int]:
    """The counts of a paid call: counting a missing one as zero would let it through the budget for free."""
    input_tokens, output_tokens = counts
    if input_tokens is None or output_tokens is None:
        raise llm_http.malformed(provider, "provider reported no token usage")
    return input_tokens, output_tokens


def estimated(request: ports.CompletionRequest, text: str, counts: Counts) -> tuple[int, int]:
    """The counts of a call that costs nothing, estimated where missing: an estimate keeps token metrics
    and limits meaningful, and is safer than refusing the answer."""
    input_tokens, output_tokens = counts
    if input_tokens is None:
        input_tokens = llm_http.estimate_tokens("".join(m.content for m in request.messages))
    if output_tokens is None:  # capped by max_tokens: an estimate above it would read as over-billing
        output_tokens = min(llm_http.estimate_tokens(text), request.max_tokens)
    return input_tokens, output_tokens


def function_tools(tools: Sequence[ports.ToolSpec]) -> list[dict[str, object]]:
    """Tools in the `function` shape of the OpenAI API, which Ollama takes too."""
    return [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]
