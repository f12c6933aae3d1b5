"""The composition root of `quorum doctor`: the clients its probes use, each opened with the probe's timeout
and closed again, and the secrets its report must never show. Nothing here starts a service."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import redis.asyncio as aioredis

from bot import forge, version
from bot.adapters.discord import notifier as discord_notifier
from bot.adapters.github.api import GitHubClient
from bot.adapters.llm import local as llm_local
from bot.adapters.redis import breakers as redis_breakers
from bot.adapters.redis import conn as redis_conn
from bot.bootstrap import review as review_root
from config.settings import Settings
from guardrails import breaker


class Access(Protocol):
    """Who the credentials are on GitHub, and what they lack of what Quorum needs."""

    @property
    def identity(self) -> forge.Identity: ...

    @property
    def missing(self) -> tuple[str, ...]: ...

    @property
    def scopes_known(self) -> bool:
        """False for a fine-grained token: its access shows only on use."""
        ...


class GitHubProbe(Protocol):
    """What the doctor asks GitHub (each read tried once)."""

    async def access_report(self, *, merge: bool = True) -> Access: ...

    async def repositories(self) -> list[str]: ...

    async def default_branch(self, repo: str) -> str: ...

    async def required_checks(self, repo: str, branch: str) -> forge.RequiredChecks: ...

    async def head_pushes(self, repo: str, branch: str) -> tuple[forge.HeadPush, ...] | None: ...


@dataclass(frozen=True, slots=True)
class RedisAnswer:
    """What the configured Redis said: its version, and how long one PING took."""

    version: tuple[int, ...]
    ping_ms: float


@dataclass(frozen=True, slots=True)
class DiscordWebhook:
    """The configured webhook: its id (safe to show) and the API URL that reads it (holds its token)."""

    webhook_id: int
    url: str


def _redis(settings: Settings, timeout_s: float) -> aioredis.Redis:
    cfg = settings.redis
    password = cfg.password.get_secret_value() if cfg.password else None
    return redis_conn.client(cfg.url, password=password, socket_timeout=timeout_s)


async def ask_redis(settings: Settings, timeout_s: float) -> RedisAnswer:
    """Check the server's version (`ConfigError` below 6.2) and time one PING (`CoordinationUnavailable`
    or `OSError` when it does not answer)."""
    client = _redis(settings, timeout_s)
    try:
        version = await redis_conn.check_server(client)
        started = time.perf_counter()
        await client.ping()
        return RedisAnswer(version, (time.perf_counter() - started) * 1000)
    finally:
        await client.aclose()


async def breaker_states(settings: Settings, timeout_s: float) -> list[breaker.BreakerStatus]:
    """The models' circuit breakers as Redis holds them; `CoordinationUnavailable` when it does not answer."""
    client = _redis(settings, timeout_s)
    try:
        keys = redis_conn.Keys(settings.redis.key_prefix)
        return await redis_breakers.RedisCircuitBreakers(client, keys).states()
    finally:
        await client.aclose()


@asynccontextmanager
async def github(settings: Settings, timeout_s: float) -> AsyncIterator[GitHubProbe | None]:
    """A client on the configured credentials (an App's, else a token's), closed on exit; None without
    credentials."""
    gh = settings.github
    client: GitHubClient | None = None
    if gh.app_id is not None and gh.private_key is not None:
        key = gh.private_key.get_secret_value()
        client = GitHubClient.from_app(gh.base_url, gh.app_id, key, timeout_s=timeout_s, read_attempts=1)
    elif gh.token is not None:
        token = gh.token.get_secret_value()
        client = GitHubClient.from_token(
            gh.base_url, token, timeout_s=timeout_s, read_attempts=1, repositories=gh.repositories
        )
    try:
        yield client
    finally:
        if client is not None:
            await client.aclose()


def http_client(timeout_s: float) -> httpx.AsyncClient:
    """The client of the plain HTTP probes (model server, Elasticsearch, Kibana, Discord); it follows no
    redirect, so each row is about the configured address itself."""
    return httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, headers=version.HEADERS)


def local_model_file(settings: Settings) -> Path:
    """The local model's file (only looked for: its server is not started); `ProviderUnavailable` when the
    file or the llama.cpp server is missing."""
    return llm_local.find_model(settings.llm.model_path)


def discord_webhook(url: str) -> DiscordWebhook:
    """Where the webhook at `url` is read; `ConfigError` when `url` is not a Discord webhook URL."""
    webhook_id, token = discord_notifier.parse_url(url)
    return DiscordWebhook(webhook_id, f"{discord_notifier.api_base()}/webhooks/{webhook_id}/{token}")


def secrets(settings: Settings) -> list[str]:
    """Every configured secret, with the parts of the Discord webhook URL that are secrets on their own."""
    found = review_root.known_secrets(settings)
    if settings.discord.webhook_url is not None:
        found += discord_notifier.secret_parts(settings.discord.webhook_url.get_secret_value())
    return found
