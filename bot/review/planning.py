"""The dry run: what a review would send, and the most it could cost against each cap. No LLM call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import BudgetExceeded
from bot.review import prompts
from bot.review.chunking import Chunk
from guardrails import budget
from guardrails.pricing import Price


@dataclass(frozen=True, slots=True)
class ReviewerPlan:
    persona: str
    model: str
    price: Price | None


@dataclass(frozen=True, slots=True)
class ChunkPlan:
    index: int
    files: tuple[str, ...]
    diff_tokens: int  # realistic estimate of the diff alone
    input_tokens_upper: int  # upper bound of the whole request, as the budget reserves it
    call_upper_micro: int | None  # None: the cost cannot be bounded (unknown price)


@dataclass(frozen=True, slots=True)
class Plan:
    chunks: tuple[ChunkPlan, ...]
    round_upper_micro: int | None  # every chunk plus one repair call each
    review_upper_micro: int | None  # max_rounds rounds
    limits: budget.BudgetLimits
    max_rounds: int


def plan(
    prompt_set: prompts.PromptSet,
    chunks: Sequence[Chunk],
    reviewer: ReviewerPlan,
    max_output_tokens: int,
    max_rounds: int,
    limits: budget.BudgetLimits,
    pr_text: str,
) -> Plan:
    """Bound the cost of a review the way the budget guardrail will, without calling anything."""
    items: list[ChunkPlan] = []
    for chunk in chunks:
        item = prompts.RoundInput(reviewer.persona, 1, chunk, len(chunks), pr_text, ())
        texts = [m.content for m in prompts.messages(prompt_set, item)]
        tokens = budget.input_tokens_upper_bound(texts)
        try:
            cost: int | None = budget.upper_bound_micro(
                tokens, max_output_tokens, reviewer.price, reviewer.model
            )
        except BudgetExceeded:
            cost = None
        items.append(ChunkPlan(chunk.index, tuple(f.path for f in chunk.files), chunk.tokens, tokens, cost))
    costs = [c.call_upper_micro for c in items]
    # A repair call resends the request plus the reply: bound it by twice the first call.
    per_round = None if None in costs else sum(2 * c for c in costs if c is not None) * 2
    return Plan(
        tuple(items), per_round, None if per_round is None else per_round * max_rounds, limits, max_rounds
    )
