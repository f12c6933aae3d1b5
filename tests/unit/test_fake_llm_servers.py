"""The fake LLM servers are as strict as the real services, so adapters cannot pass with a wrong request."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.fakes.llm_servers import FakeLLMServer, RecordedRequest, Reply

ANTHROPIC_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
GOOD = {
    "openai": ("/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, {}),
    "ollama": ("/api/chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}]}, {}),
    "anthropic": (
        "/v1/messages",
        {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
        ANTHROPIC_HEADERS,
    ),
}


def post(
    server: FakeLLMServer, path: str, body: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(server.base_url + path, json=body, headers=headers or {}, timeout=5)


@pytest.mark.parametrize("flavor", ["openai", "ollama", "anthropic"])
def test_runs_out_of_script_loudly(fake_llm, flavor) -> None:
    server = fake_llm(flavor)
    path, body, headers = GOOD[flavor]

    answer = post(server, path, body, headers)

    assert answer.status_code == 500
    assert "ran out of script" in answer.text


@pytest.mark.parametrize("flavor", ["openai", "ollama", "anthropic"])
@pytest.mark.parametrize("field", ["model", "messages"])
def test_refuses_a_body_missing_a_required_field(fake_llm, flavor, field) -> None:
    server = fake_llm(flavor)
    server.push(Reply(text="unused"))
    path, body, headers = GOOD[flavor]

    answer = post(server, path, {k: v for k, v in body.items() if k != field}, headers)

    assert answer.status_code == 400
    assert field in answer.text


def test_anthropic_needs_key_version_max_tokens_and_no_system_message(fake_llm) -> None:
    server = fake_llm("anthropic")
    path, body, _ = GOOD["anthropic"]
    with_system = {**body, "messages": [{"role": "system", "content": "s"}, *body["messages"]]}

    no_key = post(server, path, body, {"anthropic-version": "2023-06-01"})
    no_version = post(server, path, body, {"x-api-key": "k"})
    no_max = post(server, path, {k: v for k, v in body.items() if k != "max_tokens"}, ANTHROPIC_HEADERS)
    system_inside = post(server, path, with_system, ANTHROPIC_HEADERS)

    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "authentication_error"
    assert (no_version.status_code, no_max.status_code, system_inside.status_code) == (400, 400, 400)
    assert "system" in system_inside.json()["error"]["message"]


def test_openai_needs_a_bearer_key_only_when_asked(fake_llm) -> None:
    strict, lenient = fake_llm("openai", require_key=True), fake_llm("openai")
    strict.push(Reply(text="a"))
    lenient.push(Reply(text="b"))
    path, body, _ = GOOD["openai"]

    refused = post(strict, path, body)
    accepted = post(strict, path, body, {"Authorization": "Bearer k"})
    open_door = post(lenient, path, body)

    assert refused.status_code == 401
    assert accepted.json()["choices"][0]["message"]["content"] == "a"
    assert open_door.json()["usage"] == {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}


def test_openai_refuses_a_json_schema_format_without_a_name(fake_llm) -> None:
    server = fake_llm("openai")
    path, body, _ = GOOD["openai"]

    answer = post(server, path, {**body, "response_format": {"type": "json_schema", "json_schema": {}}})

    assert answer.status_code == 400


@pytest.mark.parametrize(
    ("flavor", "path", "key"), [("openai", "/models", "data"), ("ollama", "/api/tags", "models")]
)
def test_lists_models(fake_llm, flavor, path, key) -> None:
    server = fake_llm(flavor, models=("one", "two"))

    answer = httpx.get(server.base_url + path, timeout=5)

    assert answer.status_code == 200
    assert len(answer.json()[key]) == 2


def test_unknown_path_is_404(fake_llm) -> None:
    server = fake_llm("ollama")

    assert httpx.get(server.base_url + "/api/nothing", timeout=5).status_code == 404


def test_script_answers_after_the_queue_and_sees_the_request(fake_llm) -> None:
    seen: list[RecordedRequest] = []

    def script(request: RecordedRequest) -> Reply:
        seen.append(request)
        return Reply(text=f"scripted for {request.body['model']}")

    server = fake_llm("ollama", script)
    server.push(Reply(text="queued"))
    path, body, _ = GOOD["ollama"]

    first, second = post(server, path, body), post(server, path, body)

    assert first.json()["message"]["content"] == "queued"
    assert second.json()["message"]["content"] == "scripted for m"
    assert len(seen) == 1 and len(server.requests) == 2


def test_a_slow_reply_does_not_block_other_requests(fake_llm) -> None:
    server = fake_llm("openai", lambda request: Reply(text="fast"))
    server.push(Reply(text="slow", delay_s=1.0))
    path, body, _ = GOOD["openai"]
    slow = threading.Thread(target=post, args=(server, path, body))
    slow.start()
    time.sleep(0.1)

    started = time.monotonic()
    fast = post(server, path, body)
    elapsed = time.monotonic() - started
    slow.join()

    assert fast.json()["choices"][0]["message"]["content"] == "fast"
    assert elapsed < 0.5


def test_sends_error_headers_and_the_anthropic_overload_envelope(fake_llm) -> None:
    server = fake_llm("anthropic")
    server.push(Reply(status=529, error_message="Overloaded", headers={"Retry-After": "3"}))
    path, body, headers = GOOD["anthropic"]

    answer = post(server, path, body, headers)

    assert answer.status_code == 529
    assert answer.headers["retry-after"] == "3"
    assert answer.json() == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
