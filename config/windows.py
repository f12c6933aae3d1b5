"""Context windows of common hosted models, so `llm.context_tokens` can default to the model's own."""

from __future__ import annotations

DEFAULT_TOKENS = 8192
# A chunk's latency and budget reservation grow with its input, so even a million-token window is used
# only up to this size per call.
MAX_USED_TOKENS = 128_000

# Tokens of context, as published by the providers; names match dated variants by prefix. Ollama is
# absent on purpose: it cuts prompts at its own `num_ctx` (2048 by default), whatever the model knows.
_TABLE: dict[str, dict[str, int]] = {
    "openai": {
        "gpt-4o": 128_000,
        "gpt-4o-mini": 128_000,
        "gpt-4.1": 1_047_576,
        "gpt-4-turbo": 128_000,
        "gpt-5": 400_000,
        "o1": 200_000,
        "o3": 200_000,
        "o4-mini": 200_000,
    },
    "anthropic": {
        "claude-opus-4": 200_000,
        "claude-sonnet-4": 200_000,
        "claude-3-7-sonnet": 200_000,
        "claude-3-5-sonnet": 200_000,
        "claude-3-5-haiku": 200_000,
    },
}


def known(provider: str, model: str) -> int | None:
    """The published window of `model` at `provider`, matching dated variants by prefix; None: unknown."""
    table = _TABLE.get(provider, {})
    name = model.rsplit("/", 1)[-1].lower()
    best = max((key for key in table if name.startswith(key)), key=len, default=None)
    return table[best] if best is not None else None


def usable(configured: int | None, discovered: int | None) -> int:
    """The window prompts are cut to: the setting, else what is known of the model, at most the cap."""
    if configured is not None:
        return configured
    return min(discovered or DEFAULT_TOKENS, MAX_USED_TOKENS)
