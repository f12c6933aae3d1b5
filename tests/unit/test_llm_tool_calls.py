"""Tool calling in each adapter's wire format, against the fake providers (which check tool turns the way
the real services do)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from bot import ports
from bot.adapters.llm import anthropic as llm_anthropic
from bot.adapters.llm import ollama as llm_ollama
from bot.adapters.llm import openai as llm_openai
from bot.ports import ToolCall, ToolSpec
from tests.fakes.llm_servers import FakeLLMServer, Reply

SPEC = ToolSpec("read_file", "Read a file.", {"type": "object", "properties": {"path": {"type": "string"}}})
CALL = ToolCall("call_1", "read_file", {"path": "a.py"})
FOLLOW_UP = ports.CompletionRequest(
    messages=(
        ports.ChatMessage("system", "You review code."),
        ports.ChatMessage("user", "Review this diff."),
        ports.ChatMessage("assistant", "", tool_calls=(CALL,)),
        ports.ChatMessage("tool", "x = 1", tool_call_id="call_1", name="read_file"),
        ports.ChatMessage("user", "Answer now."),
    ),
    max_tokens=64,
    tools=(SPEC,),
    tool_choice="none",
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def model_for(flavor: str, server: FakeLLMServer, client: httpx.AsyncClient) -> ports.LanguageModel:
    url = server.base_url
    if flavor == "openai":
        return llm_openai.OpenAICompatibleModel(client, base_url=url, model="m", api_key="k")
    if flavor == "ollama":
        return llm_ollama.OllamaModel(client, base_url=url, model="m")
    return llm_anthropic.AnthropicModel(client, base_url=url, model="m", api_key="k")


@pytest.mark.parametrize("flavor", ["openai", "ollama", "anthropic"])
async def test_reads_a_native_tool_call(fake_llm, client, flavor):
    server = fake_llm(flavor)
    server.push(Reply.tool_call("read_file", {"path": "a.py"}, text="Let me look."))
    request = ports.CompletionRequest((ports.ChatMessage("user", "hi"),), 64, tools=(SPEC,))

    completion = await model_for(flavor, server, client).complete(request, timeout=5)

    assert [(c.name, dict(c.arguments)) for c in completion.tool_calls] == [("read_file", {"path": "a.py"})]
    assert completion.tool_calls[0].id and completion.text == "Let me look."


@pytest.mark.parametrize("flavor", ["openai", "ollama", "anthropic"])
async def test_sends_a_tool_turn_the_provider_accepts(fake_llm, client, flavor):
    server = fake_llm(flavor)
    server.push(Reply(text="{}"))

    completion = await model_for(flavor, server, client).complete(FOLLOW_UP, timeout=5)

    body = server.chat_bodies()[0]
    assert completion.text == "{}"
    if flavor == "openai":
        assert body["tool_choice"] == "none" and body["messages"][3]["tool_call_id"] == "call_1"
        assert json.loads(body["messages"][2]["tool_calls"][0]["function"]["arguments"]) == {"path": "a.py"}
    elif flavor == "ollama":
        assert "tools" not in body and body["messages"][3] == {
            "role": "tool", "content": "x = 1", "tool_name": "read_file"
        }  # fmt: skip
    else:
        assert body["tool_choice"] == {"type": "none"}
        assert [b["type"] for b in body["messages"][2]["content"]] == ["tool_result", "text"]


async def test_garbage_openai_arguments_become_a_marked_call_not_an_error(fake_llm, client):
    server = fake_llm("openai")
    server.push(Reply.tool_call("read_file", raw_arguments="{not json"))
    request = ports.CompletionRequest((ports.ChatMessage("user", "hi"),), 64, tools=(SPEC,))

    completion = await model_for("openai", server, client).complete(request, timeout=5)

    assert ports.INVALID_ARGUMENTS in completion.tool_calls[0].arguments


@pytest.mark.parametrize(
    ("flavor", "envelope"),
    [
        ("anthropic", {"content": [{"type": "tool_use", "id": "bad id!", "name": "read_file", "input": "x"}],
                       "usage": {"input_tokens": 1, "output_tokens": 1}}),
        ("ollama", {"message": {"role": "assistant", "content": "",
                                "tool_calls": [{"function": {"name": "read_file", "arguments": [1]}}]}}),
    ],
)  # fmt: skip
async def test_arguments_that_are_not_an_object_are_marked(fake_llm, client, flavor, envelope):
    server = fake_llm(flavor)
    server.push(Reply(raw_body=json.dumps(envelope).encode()))
    request = ports.CompletionRequest((ports.ChatMessage("user", "hi"),), 64, tools=(SPEC,))

    completion = await model_for(flavor, server, client).complete(request, timeout=5)

    (call,) = completion.tool_calls
    assert ports.INVALID_ARGUMENTS in call.arguments and call.id.startswith("call_0_")


async def test_ollama_arguments_sent_as_a_json_string_are_read(fake_llm, client):
    as_text = [{"function": {"name": "read_file", "arguments": '{"path": "b"}'}}]
    envelope = {"message": {"role": "assistant", "content": "", "tool_calls": as_text}}
    server = fake_llm("ollama")
    server.push(Reply(raw_body=json.dumps(envelope).encode()))
    request = ports.CompletionRequest((ports.ChatMessage("user", "hi"),), 64, tools=(SPEC,))

    completion = await model_for("ollama", server, client).complete(request, timeout=5)

    assert completion.tool_calls[0].arguments == {"path": "b"}


def test_the_fakes_refuse_tool_turns_the_real_services_refuse(fake_llm):
    openai, anthropic, plain = (
        fake_llm("openai"),
        fake_llm("anthropic"),
        fake_llm("ollama", supports_tools=False),
    )
    unanswered = {"model": "m", "messages": [
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "user", "content": "and?"}]}  # fmt: skip
    no_tools = {"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "x"}]},
    ]}  # fmt: skip
    headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}

    first = httpx.post(openai.base_url + "/chat/completions", json=unanswered, timeout=5)
    second = httpx.post(anthropic.base_url + "/v1/messages", json=no_tools, headers=headers, timeout=5)
    third = httpx.post(
        plain.base_url + "/api/chat",
        json={"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": []},
        timeout=5,
    )

    assert first.status_code == 400 and "tool_call_id" in first.text
    assert second.status_code == 400 and "must define tools" in second.text
    assert third.status_code == 400 and "does not support tools" in third.text
