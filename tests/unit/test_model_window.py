"""The context window prompts are cut to: the setting, else the model's own (table or GGUF header)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bot.adapters.llm import gguf as gguf_meta
from bot.bootstrap import review as review_root
from config import windows
from tests.support import settings_env

load = settings_env.load


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings_env.isolate(monkeypatch, tmp_path / "home")


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def gguf(path: Path, context: int | None, architecture: str = "llama") -> Path:
    """A GGUF header like a real model's: the architecture, a token array, then the context length."""
    tokens = b"".join(_string(t) for t in ("<s>", "a", "bc"))
    kvs = [
        _string("general.architecture") + struct.pack("<I", 8) + _string(architecture),
        _string("general.version") + struct.pack("<I", 6) + struct.pack("<f", 1.0),
        _string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + tokens,
        _string("llama.rope.dims") + struct.pack("<IIQ", 9, 4, 2) + struct.pack("<II", 1, 2),
    ]
    if context is not None:
        kvs.append(_string(f"{architecture}.context_length") + struct.pack("<II", 4, context))
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs)
    path.write_bytes(header + b"\0" * 64)
    return path


def test_reads_the_context_length_of_a_gguf_header(tmp_path: Path) -> None:
    assert gguf_meta.context_length(gguf(tmp_path / "m.gguf", 4096)) == 4096
    assert gguf_meta.context_length(gguf(tmp_path / "q.gguf", 32768, "qwen2")) == 32768


def test_a_file_without_a_readable_context_length_gives_none(tmp_path: Path) -> None:
    whole = gguf(tmp_path / "m.gguf", 4096).read_bytes()
    (tmp_path / "cut.gguf").write_bytes(whole[:60])
    (tmp_path / "text.gguf").write_text("not a model")

    assert gguf_meta.context_length(gguf(tmp_path / "none.gguf", None)) is None
    assert gguf_meta.context_length(tmp_path / "cut.gguf") is None
    assert gguf_meta.context_length(tmp_path / "text.gguf") is None
    assert gguf_meta.context_length(tmp_path / "missing.gguf") is None


def test_the_local_provider_uses_the_window_of_its_model_file(tmp_path: Path) -> None:
    model = gguf(tmp_path / "m.gguf", 16384)

    assert review_root.context_tokens(load(llm={"model_path": model})) == 16384
    assert review_root.context_tokens(load(llm={"model_path": model, "context_tokens": 2048})) == 2048
    assert review_root.context_tokens(load(llm={"model_path": gguf(tmp_path / "n.gguf", None)})) == 8192


def test_a_hosted_model_gets_its_published_window_and_a_chunk_to_match() -> None:
    mini = load(llm={"provider": "openai", "model": "gpt-4o-mini-2024-07-18"})

    assert review_root.context_tokens(mini) == 128_000
    assert review_root.chunk_budget(mini) > 100_000
    assert windows.known("anthropic", "claude-sonnet-4-20250514") == 200_000
    # Larger windows are used up to the cap: one call's latency and reservation grow with its input.
    assert review_root.context_tokens(load(llm={"provider": "anthropic"})) == windows.MAX_USED_TOKENS
    assert review_root.context_tokens(load(llm={"provider": "openai", "model": "gpt-4.1"})) == 128_000


def test_the_smallest_window_of_the_models_a_review_may_call_decides() -> None:
    unknown = load(llm={"provider": "openai", "model": "gpt-4o", "fallback_models": ["my-finetune"]})
    reviewer = load(
        llm={"provider": "openai", "model": "gpt-4o"},
        review={"reviewers": [{"persona": "a"}, {"persona": "b", "model": "local-llama"}]},
    )

    assert review_root.context_tokens(unknown) == windows.DEFAULT_TOKENS
    assert review_root.context_tokens(reviewer) == windows.DEFAULT_TOKENS
    assert review_root.context_tokens(load(llm={"provider": "ollama"})) == windows.DEFAULT_TOKENS


def test_agent_rounds_by_default_only_with_providers_whose_models_call_tools() -> None:
    assert not load().agent.active("local")
    assert load().agent.active("openai") and load().agent.active("anthropic")
    assert load(agent={"enabled": True}).agent.active("local")
    assert not load(agent={"enabled": False}).agent.active("openai")


def test_a_fallback_behind_another_provider_counts_too(tmp_path: Path) -> None:
    fallback = [{"provider": "ollama", "model": "qwen2.5-coder:7b"}]
    hosted = load(llm={"provider": "openai", "model": "gpt-4o", "fallback": fallback})
    local = load(llm={"model_path": gguf(tmp_path / "m.gguf", 16384), "fallback": fallback})

    assert review_root.context_tokens(hosted) == windows.DEFAULT_TOKENS
    assert review_root.context_tokens(local) == windows.DEFAULT_TOKENS
