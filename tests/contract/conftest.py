"""The coordination ports, in memory and on a real redis-server, for one contract suite over both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.adapters.memory import board as memory_board
from bot.adapters.memory import coordination as memory_coordination
from bot.adapters.memory import inbox as memory_inbox
from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import dedupe as redis_dedupe
from bot.adapters.redis import inbox as redis_inbox
from bot.adapters.redis import scheduler as redis_scheduler
from bot.adapters.redis import state as redis_state
from guardrails import admission, lease

IMPLS = ["memory", pytest.param("redis", marks=pytest.mark.redis)]
LIMITS = admission.Limits(max_concurrent_agents=3, max_per_repo=2)
POLICY = lease.LeasePolicy(ttl_s=30.0, max_hold_s=600.0)
BACKOFF = admission.Backoff(max_attempts=3, base_s=0.05, cap_s=0.05)


@dataclass
class Coordination:
    """Builds ports over one shared backing store; two schedulers built here act as two replicas."""

    kind: str
    board: memory_board.Board | None = None
    redis: aioredis.Redis | None = None
    _inbox: Any = None

    def scheduler(
        self,
        *,
        limits: admission.Limits = LIMITS,
        policy: lease.LeasePolicy = POLICY,
        backoff: admission.Backoff = BACKOFF,
        max_block_s: float = 4.0,
    ) -> Any:
        options: dict[str, Any] = {
            "limits": limits,
            "policy": policy,
            "backoff": backoff,
            "random": lambda: 0.5,
            "max_block_s": max_block_s,
        }
        if self.board is not None:
            return memory_coordination.InMemoryScheduler(self.board, **options)
        assert self.redis is not None
        return redis_scheduler.RedisScheduler(self.redis, redis_conn.Keys("quorum"), **options)

    def state(self) -> Any:
        if self.board is not None:
            return memory_coordination.InMemoryStateStore(self.board)
        assert self.redis is not None
        return redis_state.RedisStateStore(self.redis, redis_conn.Keys("quorum"))

    def inbox(self) -> Any:
        if self.board is not None:
            # One inbox per board, so two handles act like two replicas on one store.
            if self._inbox is None:
                self._inbox = memory_inbox.InMemoryInbox(self.board)
            return self._inbox
        assert self.redis is not None
        return redis_inbox.RedisInbox(self.redis, redis_conn.Keys("quorum"))

    def dedupe(self) -> Any:
        if self.board is not None:
            return memory_coordination.InMemoryDeliveryDedupe(self.board)
        assert self.redis is not None
        return redis_dedupe.RedisDeliveryDedupe(self.redis, redis_conn.Keys("quorum"))


@pytest.fixture(params=IMPLS)
async def coord(request: pytest.FixtureRequest) -> AsyncIterator[Coordination]:
    """Fresh coordination of each implementation; the Redis one on a flushed server."""
    if request.param == "memory":
        yield Coordination("memory", board=memory_board.Board())
        return
    client = redis_conn.client(request.getfixturevalue("redis_url"))
    await redis_conn.check_server(client)
    yield Coordination("redis", redis=client)
    await client.aclose()


@pytest.fixture
async def redis_coord(redis_url: str) -> AsyncIterator[Coordination]:
    """Coordination on Redis only, for the tests about Redis itself (restarts, rewound counters)."""
    client = redis_conn.client(redis_url)
    await redis_conn.check_server(client)
    yield Coordination("redis", redis=client)
    await client.aclose()
