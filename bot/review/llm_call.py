"""Every LLM call goes through here: reserve an upper bound, call under a deadline, settle, record.

Retries (408, 429, 5xx, connection errors; never another 4xx) follow `bot.retry_policy`: exponential
backoff with jitter that honours `Retry-After` (a 429 holds back every call to that model, as the parts
of a round run at once); each attempt reserves budget of its own and no wait outlives the deadline.
When a model gives up, or its circuit breaker is open, the next one of the fallback chain is tried. A
call past its deadline is not retried: the review ends with `timeout`. A provider that bills more than
the reservation allowed is settled as billed, its breaker is tripped for every replica, and the call
raises `UsageOverReservation`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot import retry_policy
from bot.errors import BreakerOpen, DeadlineExceeded, ProviderError, UsageOverReservation
from bot.ports import Completion, CompletionRequest, LanguageModel
from guardrails import breaker, budget, deadlines
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
class CallRecord:
    """One attempt, for metrics and the transcript."""

    model: str
    provider: str
    kind: str  # "query" | "command"
    input_tokens: int
    output_tokens: int
    cost_micro: int
    duration_ms: int
    # "ok" | "retry" | "error" | "timeout" | "budget" | "breaker_open" | "usage_over_reservation"
    outcome: str
    error: str | None = None
    call_id: str = ""
    reserved_micro: int = 0
    breaker: str = "none"  # what this attempt did to its model's circuit breaker: none | opened | closed


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
    valid: Callable[[Completion], bool] | None = None


@dataclass(slots=True)
class _Attempt:
    """One attempt's identity and bound, filled in as it goes."""

    model: LanguageModel
    kind: str
    call_id: str
    bound: budget.Bound
    started: float = 0.0


def transient(exc: BaseException) -> bool:
    """A failure worth another try: the adapter says so, and it is no 4xx but a timeout or a rate limit."""
    return isinstance(exc, ProviderError) and exc.retryable and retry_policy.transient_status(exc.status_code)


def counts_against_breaker(exc: ProviderError) -> bool:
    """5xx, timeouts, broken or unreadable answers and an unreachable provider count; a 4xx the caller
    caused (or a rate limit, which `Retry-After` handles) does not."""
    return exc.status_code is None or exc.status_code >= 500 or exc.status_code == 408


class GuardedModel:
    """A fallback chain of models behind the budget, deadline and circuit-breaker guardrails."""

    def __init__(
        self,
        chain: Sequence[PricedModel],
        ledger: budget.BudgetLedger,
        limits: budget.BudgetLimits,
        clock: Clock,
        *,
        call_timeout_s: float,
        retry: retry_policy.RetryPolicy,
        observe: Callable[[CallRecord], None] = lambda record: None,
        rng: random.Random | None = None,
        breakers: breaker.CircuitBreakers | None = None,
    ) -> None:
        if not chain:
            raise ValueError("a guarded model needs at least one model")
        self._chain = tuple(chain)
        self._ledger, self._limits, self._clock = ledger, limits, clock
        self._call_timeout_s, self._retry, self._observe = call_timeout_s, retry, observe
        self._rng = rng or random.Random()
        self._breakers = breakers
        self._resume_at: dict[int, float] = {}  # id(model) -> monotonic time its rate limit ends

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
        *,
        valid: Callable[[Completion], bool] | None = None,
    ) -> tuple[Completion, int]:
        """The completion and its cost in micro-USD. Raises BudgetExceeded, DeadlineExceeded,
        UsageOverReservation or the last ProviderError when every model of the chain failed or was open.
        An answer `valid` refuses is still returned (the caller repairs or gives up) and is recorded as
        invalid output; for the model's breaker it is an answer, never a failure (see `_attempt`)."""
        call = _Call(request, scope, outer, kind, valid)
        last: ProviderError | None = None
        for priced in self._chain:
            try:
                return await self._with_retries(priced, call)
            except ProviderError as exc:
                last = exc
        assert last is not None
        raise last

    async def _with_retries(self, priced: PricedModel, call: _Call) -> tuple[Completion, int]:
        retrying = self._retry.retrying(
            retry_policy.on_exception(transient),
            retry_after=lambda exc: exc.retry_after if isinstance(exc, ProviderError) else None,
            remaining=lambda: call.outer.remaining(self._clock),  # a wait past the deadline is not waited
            sleep=self._clock.sleep,  # backoff waits on the clock port: tests move a fake clock instead
            rng=self._rng,
            before_retry=lambda failure, wait: self._hold_back(priced, failure, wait),
        )
        return await retrying(self._rate_limited_attempt, priced, call)

    async def _rate_limited_attempt(self, priced: PricedModel, call: _Call) -> tuple[Completion, int]:
        await self._rate_limited(priced, call)
        return await self._attempt(priced, call)

    def _hold_back(self, priced: PricedModel, failure: BaseException | None, wait: float) -> None:
        if isinstance(failure, ProviderError) and failure.status_code == 429:
            # The parts of a round call one model at once: a rate limit holds them all back.
            resume = time.monotonic() + wait
            self._resume_at[id(priced.model)] = max(resume, self._resume_at.get(id(priced.model), 0))

    async def _rate_limited(self, priced: PricedModel, call: _Call) -> None:
        """Wait out a rate limit another call to this model was told about (bounded by the deadline)."""
        wait = self._resume_at.get(id(priced.model), 0.0) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(min(wait, max(0.0, call.outer.remaining(self._clock))))

    async def _attempt(self, priced: PricedModel, call: _Call) -> tuple[Completion, int]:
        now = await self._reserve(priced, call)
        estimate = now.bound.estimate_micro
        # The breaker is asked after the reservation, right before sending: the window in which a call
        # can still start after another replica tripped it is one round trip.
        await self._admit(now)
        now.started = time.monotonic()
        try:
            completion = await self._send(priced.model, call)
        except ProviderError as exc:
            charged = estimate if exc.billed else 0
            await self._ledger.settle(now.call_id, charged)
            # A 4xx the caller caused is still an answer: the model is alive, and a probe is resolved. A
            # call held back here (the endpoint's pause) reached nobody: it says nothing of the model.
            failed = exc.sent and counts_against_breaker(exc)
            if not exc.sent:
                event = breaker.Event.UNSENT
            else:
                event = breaker.Event.FAILURE if failed else breaker.Event.SUCCESS
            change = await self._tell(now, event, str(exc) if failed else "")
            outcome = "retry" if transient(exc) else "error"
            self._record(now, None, charged, outcome, str(exc), change=change)
            raise
        except (DeadlineExceeded, asyncio.CancelledError) as exc:
            # The provider may have done the work: charge the whole reservation, even while cancelled.
            await asyncio.shield(self._ledger.settle(now.call_id, estimate))
            change = breaker.Change.NONE
            if isinstance(exc, DeadlineExceeded) and exc.scope == "llm_call":
                change = await self._tell(now, breaker.Event.FAILURE, "timeout")
            self._record(now, None, estimate, "timeout", "deadline", change=change)
            raise
        assert priced.price is not None  # upper_bound_micro refused an unpriced model
        cost = priced.price.cost_micro(completion.input_tokens, completion.output_tokens)
        # Settled as billed, whatever it is: the ledger tells the truth, the breaker and alerts react.
        await self._ledger.settle(now.call_id, cost)
        over = budget.over_reservation(now.bound, completion.input_tokens, completion.output_tokens, cost)
        if over is not None:
            raise await self._over_reserved(now, completion, cost, over)
        if call.valid is None or call.valid(completion):
            change = await self._tell(now, breaker.Event.SUCCESS, "")
            self._record(now, completion, cost, "ok", None, change=change)
        else:
            # An answer, so not a failure for the breaker: the PR's own text can make any model answer
            # garbage, and a breaker shared by every PR must not be a switch a PR author can throw. It is a
            # sign of life, so a half-open probe answered this way closes the breaker.
            change = await self._tell(now, breaker.Event.SUCCESS, "")
            self._record(now, completion, cost, "ok", "invalid output", change=change)
        return completion, cost

    async def _reserve(self, priced: PricedModel, call: _Call) -> _Attempt:
        """Reserve the call's upper bound against every cap; raises BudgetExceeded when one refuses."""
        model, request = priced.model, call.request
        input_bound = budget.input_tokens_upper_bound(request_texts(request), tools=bool(request.tools))
        estimate = budget.upper_bound_micro(input_bound, request.max_tokens, priced.price, model.model)
        bound = budget.Bound(input_bound, request.max_tokens, estimate)
        now = _Attempt(model, call.kind, f"call-{uuid.uuid4().hex}", bound)
        caps = budget.caps_for(call.scope, self._limits, utc_day(self._clock))
        reservation = budget.Reservation(now.call_id, estimate, caps, self._call_timeout_s + 60)
        decision = await self._ledger.reserve(reservation)
        if not decision.allowed:
            self._record(now, None, 0, "budget", decision.cap)
            raise budget.refusal(decision, estimate)
        return now

    async def _send(self, model: LanguageModel, call: _Call) -> Completion:
        call_deadline = deadlines.nearest(
            call.outer, deadlines.Deadline.after(self._clock, "llm_call", self._call_timeout_s)
        )
        async with deadlines.enforce(call_deadline, self._clock):
            return await model.complete(
                call.request, timeout=call_deadline.remaining(self._clock) + _TRANSPORT_SLACK_S
            )

    async def _admit(self, now: _Attempt) -> None:
        if self._breakers is None:
            return
        name = breaker.name_of(now.model.provider, now.model.model)
        permit = await self._breakers.admit(name, now.call_id)
        if permit.allowed:
            return
        await self._ledger.settle(now.call_id, 0)
        why = "its half-open probe is running" if permit.state is breaker.State.HALF_OPEN else "it is open"
        self._record(now, None, 0, "breaker_open", f"circuit breaker {name}: {why}")
        raise BreakerOpen(
            f"{name} was not called: its circuit breaker {why} (until {permit.retry_at:.0f})",
            provider=now.model.provider,
            retry_at=permit.retry_at,
        )

    async def _tell(self, now: _Attempt, event: breaker.Event, reason: str) -> breaker.Change:
        if self._breakers is None:
            return breaker.Change.NONE
        name = breaker.name_of(now.model.provider, now.model.model)
        return await self._breakers.observe(name, now.call_id, event, reason)

    async def _over_reserved(
        self, now: _Attempt, completion: Completion, cost: int, why: str
    ) -> UsageOverReservation:
        """Trip the breaker for every replica and say which call was over-billed, and by how much."""
        change = await self._tell(now, breaker.Event.TRIP, "usage_over_reservation")
        model = now.model
        message = (
            f"usage_over_reservation: call {now.call_id} to {model.provider}/{model.model} reported "
            f"{completion.input_tokens}+{completion.output_tokens} tokens ({why}); settled as billed"
        )
        self._record(now, completion, cost, "usage_over_reservation", message, change=change)
        return UsageOverReservation(
            message,
            provider=model.provider,
            model=model.model,
            call_id=now.call_id,
            reserved_micro=now.bound.estimate_micro,
            billed_micro=cost,
        )

    def _record(
        self,
        now: _Attempt,
        completion: Completion | None,
        cost: int,
        outcome: str,
        error: str | None,
        *,
        change: breaker.Change = breaker.Change.NONE,
    ) -> None:
        duration = int((time.monotonic() - now.started) * 1000) if now.started else 0
        self._observe(
            CallRecord(
                now.model.model,
                now.model.provider,
                now.kind,
                completion.input_tokens if completion else 0,
                completion.output_tokens if completion else 0,
                cost,
                duration,
                outcome,
                error,
                now.call_id,
                now.bound.estimate_micro,
                change.value,
            )
        )
