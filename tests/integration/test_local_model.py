"""The `local` provider for real: llama.cpp's server in a child process with the bundled SmolLM2 model."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from bot import errors, ports
from bot.adapters.llm import gguf as gguf_meta
from bot.adapters.llm import grammar as llm_grammar
from bot.adapters.llm import local as llm_local
from bot.review import carried
from guardrails.text import validation

SCHEMA = {
    "type": "object",
    "properties": {
        "verdict": {"type": "string", "enum": ["approve", "request_changes"]},
        "summary": {"type": "string"},
    },
    "required": ["verdict", "summary"],
}
REQUEST = ports.CompletionRequest(
    messages=(
        ports.ChatMessage("system", "You review code changes. Answer with a JSON object only."),
        ports.ChatMessage(
            "user", "Review this change:\n-    return a + b\n+    return a - b\nin def add(a, b)."
        ),
    ),
    max_tokens=96,
    json_schema=SCHEMA,
)


def is_running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (an orphan may wait a while for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while is_running(pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return not is_running(pid)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def local_server() -> AsyncIterator[llm_local.LocalLlamaServer]:
    # One server for the module: starting one costs about a second.
    async with llm_local.LocalLlamaServer(n_ctx=2048, startup_timeout_s=120) as server:
        yield server


@pytest.mark.real_model
@pytest.mark.asyncio(loop_scope="module")
async def test_bundled_model_answers_json_that_matches_the_schema(local_server) -> None:
    async with httpx.AsyncClient() as client:
        model = local_server.language_model(client)

        completion = await model.complete(REQUEST, timeout=120)

    answer = json.loads(completion.text)
    assert set(SCHEMA["required"]) <= set(answer)
    assert answer["verdict"] in {"approve", "request_changes"}
    assert completion.input_tokens > 0 and completion.output_tokens > 0
    assert model.provider == "local"
    assert local_server.model == "SmolLM2-135M-Instruct.Q4_1"
    assert local_server.base_url.startswith("http://127.0.0.1:")


REVIEW_PROMPTS = (
    "-    return a + b\n+    return a - b\nin def add(a, b). The tests for add now fail.",
    "+API_TOKEN = read_env('TOKEN')\n+print(API_TOKEN)\nin settings.py. Find every problem, line by line.",
    "+def mean(xs):\n+    return sum(xs) / (len(xs) - 1)\nin stats.py, line 4. Rate your confidence 0 to 10.",
)


@pytest.mark.real_model
@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("change", REVIEW_PROMPTS)
async def test_every_answer_to_the_review_schema_is_a_valid_review(local_server, change: str) -> None:
    # Prompts that tempt a small model out of bounds (a confidence out of ten, findings without body).
    request = ports.CompletionRequest(
        (
            ports.ChatMessage("system", "You review code changes. Answer with a JSON review."),
            ports.ChatMessage("user", f"Review this change:\n{change}"),
        ),
        max_tokens=512,
        json_schema=validation.REVIEW_SCHEMA,
    )
    async with httpx.AsyncClient() as client:
        completion = await local_server.language_model(client).complete(request, timeout=240)

    parsed = validation.parse(completion.text)
    assert parsed.review is not None, (parsed.error, completion.text)
    assert completion.finish_reason == "stop"  # closed by the grammar, not cut by max_tokens


@pytest.mark.real_model
@pytest.mark.parametrize("schema", [validation.REVIEW_SCHEMA, carried.SCHEMA], ids=["review", "carried"])
def test_llama_cpp_builds_a_grammar_with_no_unbounded_number(schema: dict) -> None:
    from llama_cpp import llama_grammar  # the `local` extra's converter, as its server runs it

    grammar = llama_grammar.json_schema_to_gbnf(json.dumps(llm_grammar.fitted(schema, 1024)))

    assert "integral-part" not in grammar and "decimal-part" not in grammar
    assert 'confidence ::= "0" | "0.1" | "0.2"' in grammar


@pytest.mark.real_model
def test_the_bundled_model_file_says_its_context_window() -> None:
    assert gguf_meta.context_length(llm_local.find_model()) == 8192


@pytest.mark.real_model
async def test_child_is_gone_after_a_normal_exit() -> None:
    async with llm_local.LocalLlamaServer(n_ctx=512, startup_timeout_s=120) as server:
        pid = server.pid
        assert pid is not None and is_running(pid)

    assert not is_running(pid)
    assert server.log_path is None


@pytest.mark.real_model
async def test_child_is_gone_after_an_exception_inside() -> None:
    pid = None

    with pytest.raises(RuntimeError, match="boom"):
        async with llm_local.LocalLlamaServer(n_ctx=512, startup_timeout_s=120) as server:
            pid = server.pid
            raise RuntimeError("boom")

    assert pid is not None and not is_running(pid)


PARENT = """
import asyncio
from bot.adapters.llm import local as llm_local

async def main():
    async with llm_local.LocalLlamaServer(n_ctx=512, startup_timeout_s=120) as server:
        print(server.pid, server.log_path.parent, flush=True)
        await asyncio.sleep(120)

asyncio.run(main())
"""


@pytest.mark.real_model
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
async def test_child_dies_with_a_parent_killed_outright() -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PARENT, stdout=asyncio.subprocess.PIPE
    )
    assert parent.stdout is not None
    log_dir = ""
    try:
        pid, log_dir = (await asyncio.wait_for(parent.stdout.readline(), 120)).decode().split()
        child = int(pid)
        assert is_running(child)

        parent.kill()
        await parent.wait()

        assert await wait_gone(child, 10)
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
        if log_dir:  # a killed parent cannot remove its server's temp dir itself
            shutil.rmtree(log_dir, ignore_errors=True)


@pytest.mark.real_model
async def test_a_model_file_the_server_cannot_load_fails_with_its_log(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"this is not a GGUF file")

    with pytest.raises(errors.ProviderUnavailable) as caught:
        async with llm_local.LocalLlamaServer(model_path=broken, startup_timeout_s=120):
            pass

    assert "exited during startup" in caught.value.message
    assert "last lines of its log" in caught.value.message
    assert not caught.value.retryable


async def test_a_missing_model_path_is_unavailable_with_the_install_hint(tmp_path: Path) -> None:
    with pytest.raises(errors.ProviderUnavailable) as caught:
        async with llm_local.LocalLlamaServer(model_path=tmp_path / "nope.gguf"):
            pass

    message = caught.value.message
    assert str(tmp_path / "nope.gguf") in message
    assert "pip install 'quorum-review[local]'" in message
    assert "QUORUM_LLM__PROVIDER=openai|ollama|anthropic" in message
