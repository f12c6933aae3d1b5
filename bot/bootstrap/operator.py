"""The composition root of the operator commands (`jobs`, `pr`, `budget`, `breaker`): the ports they read
and change, on the configured Redis that every replica shares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from bot.adapters.redis import breakers as redis_breakers
from bot.adapters.redis import budget as redis_budget
from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import state as redis_state
from bot.bootstrap import review as review_root
from bot.bootstrap import serve as serve_root
from config.settings import Settings
from guardrails import admission, breaker, budget
from statemachine import records


@dataclass(frozen=True, slots=True)
class OperatorPorts:
    """What an operator command sees: the shared queue, the spend, the PR records, the circuit breakers."""

    scheduler: admission.Scheduler
    ledger: budget.BudgetLedger
    records: records.StateStore
    breakers: breaker.CircuitBreakers


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[OperatorPorts]:
    """The ports on the configured Redis, its version checked first; the connection is closed on exit.

    Raises `CoordinationUnavailable` when Redis does not answer, `ConfigError` when it is older than 6.2.
    """
    client = serve_root.redis_client(settings)
    try:
        await redis_conn.check_server(client)
        keys = redis_conn.Keys(settings.redis.key_prefix)
        yield OperatorPorts(
            serve_root.scheduler(settings, client),
            redis_budget.RedisBudgetLedger(client, keys),
            redis_state.RedisStateStore(client, keys),
            redis_breakers.RedisCircuitBreakers(client, keys, review_root.breaker_policy(settings)),
        )
    finally:
        await client.aclose()
