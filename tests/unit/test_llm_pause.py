"""One pause per provider endpoint: who shares it, how long it lasts, and what a call in it gets."""

from __future__ import annotations

import httpx
import pytest

from bot.adapters.llm import pause as llm_pause
from bot.adapters.llm.openai import OpenAICompatibleModel
from bot.errors import ProviderError
from bot.ports import ChatMessage, CompletionRequest
from tests.fakes.llm_servers import FakeLLMServer, Reply


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_endpoint_is_its_url_and_its_credential() -> None:
    key = llm_pause.endpoint("http://a/v1/chat/completions", {"Authorization": "Bearer k1"})

    assert key == llm_pause.endpoint("http://a/v1/chat/completions", {"authorization": "Bearer k1"})
    assert key != llm_pause.endpoint("http://a/v1/chat/completions", {"Authorization": "Bearer k2"})
    assert key != llm_pause.endpoint("http://b/v1/chat/completions", {"Authorization": "Bearer k1"})
    assert "k1" not in key


def test_a_pause_keeps_the_longest_and_ends_on_time() -> None:
    clock = _Clock()
    pauses = llm_pause.EndpointPauses(clock)
    pauses.hold("e", 5.0)
    pauses.hold("e", 1.0)  # a shorter one later does not cut the first short

    clock.now += 4.0
    assert pauses.remaining("e") == pytest.approx(1.0) and pauses.remaining("other") == 0.0
    with pytest.raises(ProviderError) as raised:
        pauses.check("e", "openai")
    clock.now += 1.0
    pauses.check("e", "openai")  # over: no error

    error = raised.value
    assert (error.status_code, error.retryable, error.billed) == (429, True, False)
    assert error.retry_after == pytest.approx(1.0)


async def test_a_429_pauses_another_model_on_the_same_endpoint_and_key_only() -> None:
    request = CompletionRequest((ChatMessage("user", "hi"),), max_tokens=10)
    with FakeLLMServer("openai", lambda r: Reply(text="ok")) as server:
        server.push(Reply(status=429, headers={"Retry-After": "30"}))
        async with httpx.AsyncClient() as client:

            def model(key: str) -> OpenAICompatibleModel:
                return OpenAICompatibleModel(client, base_url=server.base_url, model="m", api_key=key)

            with pytest.raises(ProviderError):
                await model("sk-a").complete(request, timeout=5)
            with pytest.raises(ProviderError, match="not sent") as held:
                await model("sk-a").complete(request, timeout=5)  # another instance, same endpoint
            answered = await model("sk-b").complete(request, timeout=5)  # another credential

        posts = [r for r in server.requests if r.method == "POST"]
    assert held.value.retry_after is not None and 29 < held.value.retry_after <= 30
    assert [r.headers["authorization"] for r in posts] == ["Bearer sk-a", "Bearer sk-b"]
    assert answered.text == "ok"
