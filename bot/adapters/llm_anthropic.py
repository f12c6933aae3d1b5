"""A `LanguageModel` over the Messages API (`POST /v1/messages`); the prompt itself asks for JSON."""

from __future__ import annotations

from typing import Any

import httpx

from bot import ports
from bot.adapters import llm_http

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
            "messages": [
                {"role": m.role, "content": m.content} for m in request.messages if m.role != "system"
            ],
        }
        if system:
            body["system"] = system
        return body

    def _read(self, data: dict[str, Any]) -> ports.Completion:
        blocks = llm_http.dig(data, "content", provider=PROVIDER)
        if not isinstance(blocks, list):
            raise llm_http.malformed(PROVIDER, "content is not a list of blocks")
        texts = [b.get("text") for b in blocks if isinstance(b, dict) and b.get("type") == "text"]
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
        )
