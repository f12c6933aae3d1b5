"""Connecting to Redis: version check, few blind retries, and hash-tagged key names."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.errors import ConfigError, QuorumError

log = logging.getLogger(__name__)

MIN_VERSION = (6, 2)


class CoordinationUnavailable(QuorumError):
    """Redis cannot be reached: every guarded operation fails closed until it comes back."""

    retryable = True


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
    )


def parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:3] if p.isdigit())


async def check_server(redis: aioredis.Redis) -> tuple[int, ...]:
    """Refuse a Redis older than 6.2 (the scripts use 6.2 commands); return its version."""
    try:
        info = await redis.info("server")
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise CoordinationUnavailable(f"cannot reach Redis: {exc}") from exc
    version = parse_version(str(info.get("redis_version", "0")))
    if version < MIN_VERSION:
        raise ConfigError(
            f"Redis {'.'.join(map(str, version))} is too old: Quorum needs Redis >= 6.2",
            ("redis.url: server version below 6.2",),
        )
    log.debug("redis server %s", version)
    return version
