"""Each LLM adapter against the wire-level fake of its provider: requests, answers, errors."""

from __future__ import annotations

import json
import socket
import types
from collections.abc import AsyncIterator

import httpx
import pytest

from bot import errors, ports
from bot.adapters.llm import anthropic as llm_anthropic
from bot.adapters.llm import grammar as llm_grammar
from bot.adapters.llm import ollama as llm_ollama
from bot.adapters.llm import openai as llm_openai
from guardrails.text import validation
from tests.fakes.llm_servers import Reply

API_KEY = "sk-test-DO-NOT-LEAK-0123456789"
FLAVORS = ["openai", "ollama", "anthropic"]
SCHEMA = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["approve", "request_changes"]}},
    "required": ["verdict"],
}
REQUEST = ports.CompletionRequest(
    messages=(
        ports.ChatMessage("system", "You review code."),
        ports.ChatMessage("user", "Review this diff."),
    ),
    max_tokens=64,
    temperature=0.0,
    json_schema=SCHEMA,
    schema_name="review",
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def model_for(flavor: str, base_url: str, client: httpx.AsyncClient) -> ports.LanguageModel:
    if flavor == "openai":
        return llm_openai.OpenAICompatibleModel(
            client, base_url=base_url, model="fake-model", api_key=API_KEY
        )
    if flavor == "ollama":
        return llm_ollama.OllamaModel(client, base_url=base_url, model="fake-model")
    return llm_anthropic.AnthropicModel(client, base_url=base_url, model="fake-model", api_key=API_KEY)


async def failure(model: ports.LanguageModel, *, timeout: float = 5.0) -> errors.ProviderError:
    with pytest.raises(errors.ProviderError) as caught:
        await model.complete(REQUEST, timeout=timeout)
    return caught.value


# -- answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_reads_text_usage_and_finish_reason(fake_llm, client, flavor) -> None:
    server = fake_llm(flavor)
    server.push(Reply(text='{"a": 1}', input_tokens=321, output_tokens=17, finish_reason="length"))

    completion = await model_for(flavor, server.base_url, client).complete(REQUEST, timeout=5)

    assert completion == ports.Completion('{"a": 1}', 321, 17, model="fake-model", finish_reason="length")
    assert len(server.requests) == 1


# -- requests -------------------------------------------------------------------------------------


async def test_openai_sends_json_schema_response_format(fake_llm, client) -> None:
    server = fake_llm("openai", require_key=True)
    server.push(Reply(text="{}"))
    frozen = ports.CompletionRequest(REQUEST.messages, 64, json_schema=types.MappingProxyType(SCHEMA))

    await model_for("openai", server.base_url, client).complete(frozen, timeout=5)

    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body["model"] == "fake-model"
    assert sent.body["max_tokens"] == 64 and sent.body["temperature"] == 0.0
    assert sent.body["messages"] == [
        {"role": "system", "content": "You review code."},
        {"role": "user", "content": "Review this diff."},
    ]
    assert sent.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "review", "schema": SCHEMA, "strict": False},
    }


async def test_openai_json_object_schema_mode_sends_the_llama_cpp_shape(fake_llm, client) -> None:
    server = fake_llm("openai")
    server.push(Reply(text="{}"))
    model = llm_openai.OpenAICompatibleModel(
        client, base_url=server.base_url, model="m", api_key=None, schema_mode="json_object_schema"
    )

    await model.complete(REQUEST, timeout=5)

    sent = server.requests[0]
    assert sent.body["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert "authorization" not in sent.headers


async def test_the_local_server_gets_the_review_schema_as_its_grammar_enforces_it(fake_llm, client) -> None:
    server = fake_llm("openai")
    server.push(Reply(text="{}"))
    model = llm_openai.OpenAICompatibleModel(
        client, base_url=server.base_url, model="m", api_key=None, schema_mode="json_object_schema"
    )
    request = ports.CompletionRequest(REQUEST.messages, 1024, 0.0, validation.REVIEW_SCHEMA)

    await model.complete(request, timeout=5)

    sent = server.requests[0].body["response_format"]["schema"]
    assert "minimum" not in json.dumps(sent) and "maximum" not in json.dumps(sent)
    assert sent["properties"]["confidence"]["enum"] == [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]
    finding = sent["properties"]["findings"]["items"]["properties"]
    assert finding["line"]["pattern"] == "^[1-9][0-9]{0,8}$" and finding["body"]["minLength"] == 1
    assert llm_grammar.longest(sent) <= 1024


async def test_openai_schema_mode_none_sends_no_constraint(fake_llm, client) -> None:
    server = fake_llm("openai")
    server.push(Reply(text="{}"))
    model = llm_openai.OpenAICompatibleModel(
        client, base_url=server.base_url, model="m", api_key=None, schema_mode="none"
    )

    await model.complete(REQUEST, timeout=5)

    assert "response_format" not in server.requests[0].body


async def test_openai_without_key_is_refused_by_a_server_that_needs_one(fake_llm, client) -> None:
    server = fake_llm("openai", require_key=True)
    model = llm_openai.OpenAICompatibleModel(client, base_url=server.base_url, model="m", api_key=None)

    error = await failure(model)

    assert error.status_code == 401
    assert not error.retryable


async def test_ollama_sends_schema_as_format_without_streaming(fake_llm, client) -> None:
    server = fake_llm("ollama")
    server.push(Reply(text="{}"))

    await model_for("ollama", server.base_url, client).complete(REQUEST, timeout=5)

    sent = server.requests[0]
    assert sent.path == "/api/chat"
    assert sent.body["stream"] is False
    assert sent.body["format"] == SCHEMA
    assert sent.body["options"] == {"temperature": 0.0, "num_predict": 64}
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user"]


async def test_anthropic_sends_system_on_top_and_auth_headers(fake_llm, client) -> None:
    server = fake_llm("anthropic")
    server.push(Reply(text="{}"))

    await model_for("anthropic", server.base_url, client).complete(REQUEST, timeout=5)

    sent = server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.body["system"] == "You review code."
    assert sent.body["messages"] == [{"role": "user", "content": "Review this diff."}]
    assert sent.body["max_tokens"] == 64
    assert "response_format" not in sent.body and "format" not in sent.body


async def test_anthropic_joins_text_blocks_and_skips_others(fake_llm, client) -> None:
    server = fake_llm("anthropic")
    body = {
        "type": "message",
        "model": "fake-model",
        "content": [
            {"type": "text", "text": '{"verdict": '},
            {"type": "tool_use", "id": "t", "name": "x", "input": {}},
            {"type": "text", "text": '"approve"}'},
        ],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 5, "output_tokens": 6},
    }
    server.push(Reply(raw_body=json.dumps(body).encode()))

    completion = await model_for("anthropic", server.base_url, client).complete(REQUEST, timeout=5)

    assert completion.text == '{"verdict": "approve"}'
    assert (completion.input_tokens, completion.output_tokens, completion.finish_reason) == (5, 6, "end_turn")


# -- HTTP errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_rate_limit_is_retryable_with_retry_after(fake_llm, client, flavor) -> None:
    server = fake_llm(flavor)
    server.push(Reply(status=429, headers={"Retry-After": "7"}, error_message="slow down"))

    error = await failure(model_for(flavor, server.base_url, client))

    assert error.retryable and not error.billed
    assert error.status_code == 429
    assert error.retry_after == 7.0
    assert "slow down" in error.message


async def test_retry_after_ms_is_read(fake_llm, client) -> None:
    server = fake_llm("openai")
    server.push(Reply(status=429, headers={"retry-after-ms": "1500"}))

    error = await failure(model_for("openai", server.base_url, client))

    assert error.retry_after == 1.5


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_server_error_is_retryable_not_billed_and_tried_once(fake_llm, client, flavor) -> None:
    server = fake_llm(flavor)
    server.push(Reply(status=500), Reply(text="never asked for"))

    error = await failure(model_for(flavor, server.base_url, client))

    assert error.retryable and not error.billed
    assert error.status_code == 500
    assert error.provider == flavor
    assert len(server.requests) == 1


async def test_anthropic_overloaded_is_retryable(fake_llm, client) -> None:
    server = fake_llm("anthropic")
    server.push(Reply(status=529, error_message="Overloaded"))

    error = await failure(model_for("anthropic", server.base_url, client))

    assert error.retryable and error.status_code == 529
    assert "Overloaded" in error.message


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_bad_request_is_final_and_quotes_the_provider(fake_llm, client, flavor) -> None:
    server = fake_llm(flavor)
    server.push(Reply(status=400, error_message="context length exceeded"))

    error = await failure(model_for(flavor, server.base_url, client))

    assert not error.retryable and not error.billed
    assert error.status_code == 400
    assert "context length exceeded" in error.message


async def test_long_provider_message_is_cut_to_300_characters(fake_llm, client) -> None:
    server = fake_llm("openai")
    server.push(Reply(status=400, error_message="x" * 5000))

    error = await failure(model_for("openai", server.base_url, client))

    assert error.message.count("x") == 300


@pytest.mark.parametrize("flavor", ["openai", "anthropic"])
async def test_api_key_never_appears_in_an_error(fake_llm, client, flavor) -> None:
    server = fake_llm(flavor)
    server.push(Reply(status=401, error_message=f"invalid key {API_KEY} for this project"))

    error = await failure(model_for(flavor, server.base_url, client))

    assert API_KEY not in error.message
    assert API_KEY not in str(error)
    assert "invalid key" in error.message


# -- unreadable answers ---------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize(
    "raw",
    [
        b"<html>502 from a proxy</html>",
        b'{"model": "fake-model", "choices": [{"message": {"content": "{\\"ver',
    ],
    ids=["malformed", "truncated"],
)
async def test_unreadable_body_is_final_and_billed(fake_llm, client, flavor, raw) -> None:
    server = fake_llm(flavor)
    server.push(Reply(raw_body=raw))

    error = await failure(model_for(flavor, server.base_url, client))

    assert not error.retryable
    assert error.billed
    assert "malformed" in error.message


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_answer_without_the_text_is_final_and_billed(fake_llm, client, flavor) -> None:
    server = fake_llm(flavor)
    server.push(Reply(raw_body=b'{"model": "fake-model"}'))

    error = await failure(model_for(flavor, server.base_url, client))

    assert not error.retryable and error.billed


@pytest.mark.parametrize("flavor", ["openai", "anthropic"])
async def test_missing_usage_is_refused_for_a_paid_provider(fake_llm, client, flavor) -> None:
    server = fake_llm(flavor)
    body = {
        "openai": {"model": "m", "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}]},
        "anthropic": {"model": "m", "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn"},
    }[flavor]
    server.push(Reply(raw_body=json.dumps(body).encode()))

    error = await failure(model_for(flavor, server.base_url, client))

    assert "no token usage" in error.message
    assert not error.retryable and error.billed


async def test_missing_usage_is_estimated_for_the_local_server(fake_llm, client) -> None:
    server = fake_llm("openai")
    text = "a" * 40
    body = {"model": "m", "choices": [{"message": {"content": text}, "finish_reason": "stop"}]}
    server.push(Reply(raw_body=json.dumps(body).encode()))
    model = llm_openai.OpenAICompatibleModel(
        client, base_url=server.base_url, model="m", api_key=None, provider="local"
    )

    completion = await model.complete(REQUEST, timeout=5)

    prompt_bytes = len("You review code.Review this diff.")
    assert completion.output_tokens == 40 // 4 + 1
    assert completion.input_tokens == prompt_bytes // 4 + 1


async def test_ollama_estimates_a_prompt_count_left_out_for_a_cached_prompt(fake_llm, client) -> None:
    server = fake_llm("ollama")
    body = {"model": "m", "message": {"role": "assistant", "content": "ok"}, "done": True, "eval_count": 3}
    server.push(Reply(raw_body=json.dumps(body).encode()))

    completion = await model_for("ollama", server.base_url, client).complete(REQUEST, timeout=5)

    assert completion.output_tokens == 3
    assert completion.input_tokens > 0


# -- transport failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_reply_slower_than_the_timeout_is_retryable_and_billed(fake_llm, client, flavor) -> None:
    server = fake_llm(flavor)
    server.push(Reply(text="late", delay_s=2.0))

    error = await failure(model_for(flavor, server.base_url, client), timeout=0.2)

    assert error.retryable
    assert error.billed
    assert API_KEY not in error.message


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("flavor", FLAVORS)
async def test_closed_port_is_unavailable_and_names_the_url(client, flavor) -> None:
    url = closed_port_url()

    with pytest.raises(errors.ProviderUnavailable) as caught:
        await model_for(flavor, url, client).complete(REQUEST, timeout=5)

    assert url in caught.value.message
    assert "QUORUM_LLM__BASE_URL" in caught.value.message
    assert not caught.value.billed


@pytest.mark.parametrize(
    ("provider", "hint"), [("ollama", "ollama serve"), ("local", "quorum-review[local]")]
)
async def test_unreachable_self_hosted_server_says_what_to_start(client, provider, hint) -> None:
    url = closed_port_url()
    if provider == "ollama":
        model: ports.LanguageModel = llm_ollama.OllamaModel(client, base_url=url, model="m")
    else:
        model = llm_openai.OpenAICompatibleModel(
            client, base_url=url, model="m", api_key=None, provider="local"
        )

    error = await failure(model)

    assert isinstance(error, errors.ProviderUnavailable)
    assert hint in error.message
