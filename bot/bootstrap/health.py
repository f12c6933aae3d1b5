"""The health side of `quorum serve`'s composition: the GitHub link and the `/readyz` probes."""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as aioredis

from bot import forge, health
from bot.adapters.github import api as github_api
from bot.adapters.redis import breakers as redis_breakers
from bot.daemon.github_link import GitHubLink
from bot.review.llm_call import CallRecord
from config.settings import Settings
from guardrails import breaker


def github_link(
    settings: Settings, gh: github_api.GitHubClient, states: health.Health, on_up: Callable[[], None]
) -> GitHubLink:
    """The link that learns Quorum's identity on GitHub and watches whether GitHub answers."""

    async def resolve() -> forge.Identity:
        return (await gh.access_report()).identity

    backoff = health.Backoff(settings.server.backoff_base_s, settings.server.backoff_cap_s)
    return GitHubLink(resolve, states, backoff, on_up=on_up)


def redis_probe(redis: aioredis.Redis) -> health.Probe:
    """Redis answers a PING: the one dependency intake needs."""

    async def ping() -> health.DependencyState:
        try:
            return health.DependencyState(bool(await redis.ping()))
        except Exception as exc:  # readiness is a question, not a failure: the reason goes in the answer
            return health.DependencyState(False, type(exc).__name__)

    return ping


def observe_model(states: health.Health) -> Callable[[CallRecord], None]:
    """Each model attempt marks the model up or down (a refused budget says nothing about the model)."""

    def observe(record: CallRecord) -> None:
        if record.outcome == "ok":
            states.mark("model", True)
        elif record.outcome in ("error", "timeout", "retry"):
            states.mark("model", False, f"{record.provider}/{record.model}: {record.error or record.outcome}")

    return observe


def breakers_probe(breakers: redis_breakers.RedisCircuitBreakers) -> health.Probe:
    """The models' circuit breakers: down while one is open (its calls go to the fallbacks meanwhile)."""

    async def read() -> health.DependencyState:
        statuses = await breakers.states()
        tripped = [f"{b.name} {b.state.value}" for b in statuses if b.state is not breaker.State.CLOSED]
        return health.DependencyState(not tripped, ", ".join(tripped))

    return read
