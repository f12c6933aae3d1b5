"""Model prices in integer micro-USD per million tokens, and the cost of a call at those prices."""

from __future__ import annotations

from dataclasses import dataclass

MICRO = 1_000_000


def usd_to_micro(usd: float) -> int:
    """USD as integer micro-USD (rounded to the nearest micro-dollar)."""
    return round(usd * MICRO)


def micro_to_usd(micro: int) -> float:
    return micro / MICRO


@dataclass(frozen=True, slots=True)
class Price:
    """Micro-USD per million input and output tokens."""

    input_per_mtok: int
    output_per_mtok: int

    @classmethod
    def from_usd(cls, input_per_mtok_usd: float, output_per_mtok_usd: float) -> Price:
        return cls(usd_to_micro(input_per_mtok_usd), usd_to_micro(output_per_mtok_usd))

    def cost_micro(self, input_tokens: int, output_tokens: int) -> int:
        """Cost of a call, rounded up so that a sum of costs never undercounts."""
        total = input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok
        return -(-total // MICRO)


FREE = Price(0, 0)

# USD per million tokens (input, output), as published by the providers; a configured price overrides.
_TABLE_USD: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o4-mini": (1.10, 4.40),
    "claude-opus-4": (15.00, 75.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
}

# Providers that run on the operator's own hardware: free, but still bounded by tokens and time.
FREE_PROVIDERS = frozenset({"local", "ollama"})


def lookup(provider: str, model: str) -> Price | None:
    """The built-in price of `model`, matching dated variants by prefix; None when unknown."""
    if provider in FREE_PROVIDERS:
        return FREE
    name = model.rsplit("/", 1)[-1].lower()
    best = max((key for key in _TABLE_USD if name.startswith(key)), key=len, default=None)
    if best is None:
        return None
    return Price.from_usd(*_TABLE_USD[best])
