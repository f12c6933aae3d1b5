"""Connecting to Redis: version check, few blind retries, hash-tagged key names, and failing closed."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot import errors

log = logging.getLogger(__name__)

MIN_VERSION = (6, 2)


# Kept under its old name for callers written before it moved to the error tree.
CoordinationUnavailable = errors.CoordinationUnavailable

# Errors after which the same command may succeed: the connection, a failover (READONLY replica), a
# server loading its data (LOADING is a ConnectionError subclass) or busy with a long script (BUSY).
_TRANSIENT = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, OSError)


def unavailable(operation: str, exc: BaseException) -> errors.CoordinationUnavailable:
    """The error a failed Redis call becomes: the caller fails closed; retryable if Redis may recover."""
    transient = isinstance(exc, _TRANSIENT) or (
        isinstance(exc, ResponseError) and str(exc).startswith("BUSY")
    )
    return errors.CoordinationUnavailable(f"{operation}: Redis failed ({exc})", retryable=transient)


@asynccontextmanager
async def guarded(operation: str) -> AsyncIterator[None]:
    """Turn any redis-py or socket error raised in the block into `CoordinationUnavailable`."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise unavailable(operation, exc) from exc


def text(value: object) -> str:
    """A reply item as text (clients decode, but redis-py's types allow bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


class Keys:
    """Key names under one prefix and one hash tag, so every script's keys share a Cluster slot."""

    def __init__(self, prefix: str = "quorum") -> None:
        self.tag = "{" + prefix + "}"

    def __call__(self, *parts: str | int) -> str:
        return ":".join([self.tag, *(str(p) for p in parts)])


def client(url: str, *, password: str | None = None, socket_timeout: float = 5.0) -> aioredis.Redis:
    """A client whose automatic re-sends are few: a re-sent script must be a no-op, and is, by id."""
    retry = Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=2)
    return aioredis.Redis.from_url(
        url,
        password=password,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=retry,
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        decode_responses=True,
        health_check_interval=30,
        # The scripts and reply parsing are written for RESP2; redis-py 8 would otherwise negotiate RESP3
        # (`HELLO 3`), which changes reply shapes under the code's feet.
        protocol=2,
    )


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())


async def check_server(redis: aioredis.Redis) -> tuple[int, ...]:
    """Refuse a Redis older than 6.2 (the scripts use 6.2 commands); return its version."""
    async with guarded("cannot reach Redis"):
        info = await redis.info("server")
    version = parse_version(str(info.get("redis_version", "0")))
    if version < MIN_VERSION:
        raise errors.ConfigError(
            f"Redis {'.'.join(map(str, version))} is too old: Quorum needs Redis >= 6.2",
            ("redis.url: server version below 6.2",),
        )
    log.debug("redis server %s", version)
    return version
