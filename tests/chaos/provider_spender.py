"""One replica's LLM spenders for the provider fault run: guarded calls to a fake provider, a JSON line each.

    python -m tests.chaos.provider_spender REDIS_URL LLM_BASE_URL --name p1 --tasks 25 --calls 8

Every call goes through `GuardedModel` (budget on `RedisBudgetLedger` with alerts, breakers on
`RedisCircuitBreakers`, the OpenAI-compatible adapter over HTTP) exactly as a review's calls do. Lines:
`{"call": label, "outcome": ..., "call_id": ..., "cost": ...}` per call, `{"alert": ...}` per budget alert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict

import httpx

from bot import errors
from bot.adapters.llm.openai import OpenAICompatibleModel
from bot.adapters.redis import breakers as redis_breakers
from bot.adapters.redis import budget as redis_budget
from bot.adapters.redis import conn as redis_conn
from bot.ports import ChatMessage, CompletionRequest
from bot.retry_policy import RetryPolicy
from bot.review.llm_call import GuardedModel, PricedModel
from guardrails import breaker, budget, deadlines
from guardrails.clock import SystemClock
from guardrails.pricing import Price

PRICE = Price.from_usd(1.0, 2.0)
PADDING = "x" * 400
KEYS = redis_conn.Keys("quorum")


def emit(line: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")


async def one_call(model: GuardedModel, label: str, scope: budget.BudgetScope, max_tokens: int) -> None:
    request = CompletionRequest((ChatMessage("user", f"{label} {PADDING}"),), max_tokens=max_tokens)
    deadline = deadlines.Deadline.after(SystemClock(), "review_job", 60.0)
    try:
        _, cost = await model.call(request, scope, deadline)
    except errors.UsageOverReservation as exc:
        emit({"call": label, "outcome": "usage_over_reservation", "call_id": exc.call_id,
              "cost": exc.billed_micro, "reserved": exc.reserved_micro})  # fmt: skip
        return
    except errors.BreakerOpen:
        emit({"call": label, "outcome": "breaker_open", "cost": 0})
        return
    except errors.BudgetExceeded as exc:
        emit({"call": label, "outcome": "budget", "cap": exc.cap, "cost": 0})
        return
    except errors.ProviderError as exc:
        emit({"call": label, "outcome": "error", "error": exc.message, "cost": 0})
        return
    emit({"call": label, "outcome": "ok", "cost": cost})


async def main(args: argparse.Namespace) -> None:
    client = redis_conn.client(args.redis_url)
    ledger = redis_budget.RedisBudgetLedger(
        client, KEYS, alert_percents=(50, 80, 100), on_alert=lambda a: emit({"alert": asdict(a)})
    )
    policy = breaker.BreakerPolicy(failure_threshold=5, cooldown_s=args.cooldown_s, probe_ttl_s=60.0)
    breakers = redis_breakers.RedisCircuitBreakers(client, KEYS, policy)
    limits = budget.BudgetLimits(*args.caps)
    go = asyncio.Event()
    async with httpx.AsyncClient() as http:
        llm = OpenAICompatibleModel(http, base_url=args.llm_url, model="fake-model", api_key=None)
        model = GuardedModel(
            [PricedModel(llm, PRICE)], ledger, limits, SystemClock(), call_timeout_s=30.0,
            retry=RetryPolicy(0, 0.01, 0.01), breakers=breakers,
        )  # fmt: skip

        async def spender(task: int) -> None:
            scope = budget.BudgetScope("fault/r", f"fault/r#{task % 5}", 1, "abc")
            await go.wait()
            for call in range(args.calls):
                await one_call(model, f"{args.name}-{task}-{call}", scope, args.max_tokens)

        async with asyncio.TaskGroup() as group:
            for task in range(args.tasks):
                group.create_task(spender(task))
            # Every replica's spenders go at the same instant: the processes take different times to start.
            await asyncio.sleep(max(0.0, args.start_at - time.time()))
            go.set()
    await client.aclose()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("redis_url")
    parser.add_argument("llm_url")
    parser.add_argument("--name", default="p")
    parser.add_argument("--tasks", type=int, default=25)
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=100)
    parser.add_argument("--cooldown-s", type=float, default=60.0)
    parser.add_argument("--start-at", type=float, default=0.0, help="epoch seconds when the spenders go")
    parser.add_argument("--caps", type=int, nargs=4, default=[10**9] * 4, metavar="MICRO")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
