"""Every LLM call goes through here: reserve an upper bound, call under a deadline, settle, record.

Retries (429, 5xx, connection errors) back off exponentially with jitter and honour `Retry-After`; each
attempt reserves budget of its own and none outlives the deadline. When a model gives up, the next one
of the fallback chain is tried. A call past its deadline is not retried: the review ends with `timeout`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.errors import DeadlineExceeded, ProviderError
from bot.ports import Completion, CompletionRequest, LanguageModel
from guardrails import budget, deadlines
from guardrails.clock import Clock, utc_day
from guardrails.pricing import Price

# The adapter's own HTTP timeout is set past the asyncio deadline so the deadline, not a transport
# timeout, ends a slow call: a slow model is a `timeout`, not a retryable provider error.
_TRANSPORT_SLACK_S = 5.0


def request_texts(request: CompletionRequest) -> list[str]:
    """Every text a request sends that the model reads as input: message contents, tool calls echoed
    back, tool results' ids and names, and the tools offered (a growing agent conversation is all of it)."""
    extra: list[str] = []
    for message in request.messages:
        extra += [message.tool_call_id or "", message.name or ""]
        extra += [
            f"{call.id} {call.name} {json.dumps(call.arguments, default=str)}" for call in message.tool_calls
        ]
    extra += [
        f"{spec.name} {spec.description} {json.dumps(spec.parameters, default=str)}" for spec in request.tools
    ]
    # Messages count one each (as before); the extras only when present, so a plain call's bound is unchanged.
    return [m.content for m in request.messages] + [text for text in extra if text]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    base_s: float = 1.0
    max_s: float = 30.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Exponential backoff with jitter; a provider's `Retry-After` wins when it is longer."""
        backoff = min(self.max_s, self.base_s * 2.0**attempt) * rng.uniform(0.5, 1.0)
        return max(backoff, retry_after or 0.0)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One attempt, for metrics and the transcript."""

    model: str
    provider: str
    kind: str  # "query" | "command"
    input_tokens: int
    output_tokens: int
    cost_micro: int
    duration_ms: int
    outcome: str  # "ok" | "retry" | "error" | "timeout" | "budget"
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PricedModel:
    model: LanguageModel
    price: Price | None


@dataclass(frozen=True, slots=True)
class _Call:
    """One guarded call as it travels through the fallback chain and the retries."""

    request: CompletionRequest
    scope: budget.BudgetScope
    outer: deadlines.Deadline
    kind: str


class GuardedModel:
    """A fallback chain of models behind the budget and deadline guardrails."""

    def __init__(
        self,
        chain: Sequence[PricedModel],
        ledger: budget.BudgetLedger,
        limits: budget.BudgetLimits,
        clock: Clock,
        *,
        call_timeout_s: float,
        retry: RetryPolicy,
        observe: Callable[[CallRecord], None] = lambda record: None,
        rng: random.Random | None = None,
    ) -> None:
        if not chain:
            raise ValueError("a guarded model needs at least one model")
        self._chain = tuple(chain)
        self._ledger, self._limits, self._clock = ledger, limits, clock
        self._call_timeout_s, self._retry, self._observe = call_timeout_s, retry, observe
        self._rng = rng or random.Random()

    @property
    def name(self) -> str:
        return self._chain[0].model.model

    @property
    def provider(self) -> str:
        return self._chain[0].model.provider

    async def call(
        self,
        request: CompletionRequest,
        scope: budget.BudgetScope,
        outer: deadlines.Deadline,
        kind: str = "query",
    ) -> tuple[Completion, int]:
        """The completion and its cost in micro-USD. Raises BudgetExceeded, DeadlineExceeded or the last
        ProviderError when every model of the chain failed."""
        call = _Call(request, scope, outer, kind)
        last: ProviderError | None = None
        for priced in self._chain:
            try:
                return await self._with_retries(priced, call)
            except ProviderError as exc:
                last = exc
        assert last is not None
        raise last

    async def _with_retries(self, priced: PricedModel, call: _Call) -> tuple[Completion, int]:
        for attempt in range(self._retry.max_retries + 1):
            try:
                return await self._attempt(priced, call)
            except ProviderError as exc:
                if not exc.retryable or attempt == self._retry.max_retries:
                    raise
                pause = self._retry.delay(attempt, exc.retry_after, self._rng)
                if pause >= call.outer.remaining(self._clock):
                    raise  # waiting would outlive the deadline
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def _attempt(self, priced: PricedModel, call: _Call) -> tuple[Completion, int]:
        model, request, kind = priced.model, call.request, call.kind
        texts = request_texts(request)
        estimate = budget.upper_bound_micro(
            budget.input_tokens_upper_bound(texts), request.max_tokens, priced.price, model.model
        )
        reservation = budget.Reservation(
            f"call-{uuid.uuid4().hex}",
            estimate,
            budget.caps_for(call.scope, self._limits, utc_day(self._clock)),
            self._call_timeout_s + 60,
        )
        decision = await self._ledger.reserve(reservation)
        if not decision.allowed:
            self._record(model, kind, None, 0, 0, "budget", decision.cap)
            raise budget.refusal(decision, estimate)
        started = time.monotonic()
        call_deadline = deadlines.nearest(
            call.outer, deadlines.Deadline.after(self._clock, "llm_call", self._call_timeout_s)
        )
        try:
            async with deadlines.enforce(call_deadline, self._clock):
                completion = await model.complete(
                    request, timeout=call_deadline.remaining(self._clock) + _TRANSPORT_SLACK_S
                )
        except ProviderError as exc:
            await self._ledger.settle(reservation.id, estimate if exc.billed else 0)
            outcome = "retry" if exc.retryable else "error"
            self._record(model, kind, None, estimate if exc.billed else 0, started, outcome, str(exc))
            raise
        except (DeadlineExceeded, asyncio.CancelledError):
            # The provider may have done the work: charge the whole reservation, even while cancelled.
            await asyncio.shield(self._ledger.settle(reservation.id, estimate))
            self._record(model, kind, None, estimate, started, "timeout", "deadline")
            raise
        assert priced.price is not None  # upper_bound_micro refused an unpriced model
        cost = priced.price.cost_micro(completion.input_tokens, completion.output_tokens)
        await self._ledger.settle(reservation.id, cost)
        self._record(model, kind, completion, cost, started, "ok", None)
        return completion, cost

    def _record(
        self,
        model: LanguageModel,
        kind: str,
        completion: Completion | None,
        cost: int,
        started: float | int,
        outcome: str,
        error: str | None,
    ) -> None:
        duration = int((time.monotonic() - started) * 1000) if started else 0
        self._observe(
            CallRecord(
                model.model,
                model.provider,
                kind,
                completion.input_tokens if completion else 0,
                completion.output_tokens if completion else 0,
                cost,
                duration,
                outcome,
                error,
            )
        )
