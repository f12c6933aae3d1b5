"""The shared LLM HTTP helpers: Retry-After parsing, error classification, safe JSON reading."""

from __future__ import annotations

import types

import httpx
import pytest

from bot import errors
from bot.adapters.llm import http as llm_http

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "12"}, 12.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After": "Tue, 14 Nov 2023 22:13:50 GMT"}, 30.0),
        ({"Retry-After": "Tue, 14 Nov 2023 22:00:00 GMT"}, 0.0),
        ({"Retry-After": "12", "retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-3"}, 0.0),
        ({}, None),
    ],
)
def test_parses_retry_after_in_every_form(headers, expected) -> None:
    assert llm_http.parse_retry_after(headers, now=NOW) == expected


def response(status: int, content: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=content, headers=headers, request=httpx.Request("POST", "http://x"))


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (404, False),
        (408, True),
        (409, True),
        (422, False),
        (429, True),
        (500, True),
        (503, True),
        (529, True),
    ],
)
def test_status_decides_retryable_and_nothing_is_billed(status, retryable) -> None:
    error = llm_http.error_from_response(response(status, b'{"error": "nope"}'), provider="p")

    assert error.retryable is retryable
    assert error.billed is False
    assert error.status_code == status
    assert "nope" in error.message


@pytest.mark.parametrize(
    ("exc", "billed", "unavailable"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), False, True),
        (httpx.ConnectTimeout("connect timed out"), False, False),
        (httpx.WriteTimeout("write timed out"), False, False),
        (httpx.PoolTimeout("no connection free"), False, False),
        (httpx.ReadTimeout("read timed out"), True, False),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), True, False),
        (httpx.ReadError("connection reset"), True, False),
        (TimeoutError(), True, False),
    ],
)
def test_transport_failures_are_retryable_and_billed_only_once_sent(exc, billed, unavailable) -> None:
    error = llm_http.error_from_exception(
        exc, provider="openai", url="http://127.0.0.1:9/v1/chat/completions"
    )

    assert error.retryable
    assert error.billed is billed
    assert isinstance(error, errors.ProviderUnavailable) is unavailable
    assert "http://127.0.0.1:9/v1/chat/completions" in error.message


def test_error_text_reads_every_provider_envelope() -> None:
    openai = response(400, b'{"error": {"message": "bad model", "type": "invalid_request_error"}}')
    anthropic = response(400, b'{"type": "error", "error": {"type": "x", "message": "bad model"}}')
    ollama = response(404, b'{"error": "bad model"}')
    plain = response(502, b"bad gateway")

    assert [llm_http.error_text(r) for r in (openai, anthropic, ollama)] == ["bad model"] * 3
    assert llm_http.error_text(plain) == "bad gateway"


def test_scrub_hides_secrets_before_cutting() -> None:
    text = "x" * 295 + "SECRETKEY"

    scrubbed = llm_http.scrub(text, ["SECRETKEY", None])

    assert "SECRET" not in scrubbed
    assert len(scrubbed) == 298


def test_parse_body_refuses_a_json_array() -> None:
    with pytest.raises(errors.ProviderError) as caught:
        llm_http.parse_body(response(200, b"[1, 2]"), provider="p")

    assert caught.value.billed and not caught.value.retryable


def test_dig_names_the_missing_path() -> None:
    with pytest.raises(errors.ProviderError, match=r"choices\.0\.message"):
        llm_http.dig({"choices": []}, "choices", 0, "message", provider="p")


def test_plain_turns_frozen_mappings_into_json_values() -> None:
    value = types.MappingProxyType({"a": (1, types.MappingProxyType({"b": [2]}))})

    assert llm_http.plain(value) == {"a": [1, {"b": [2]}]}


async def test_invalid_base_url_is_unavailable_and_final() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(errors.ProviderUnavailable) as caught:
            await llm_http.post_json(client, "ftp://example.invalid/x", {}, provider="openai", timeout_s=1)

    assert not caught.value.retryable
    assert "QUORUM_LLM__BASE_URL" in caught.value.message
