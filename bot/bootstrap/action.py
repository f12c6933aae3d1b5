"""The composition root of `quorum action`: the daemon's own job parts over one workflow run.

The same `JobHandler`, intake, publisher, consensus and merge policy as `quorum serve`; what differs is
built here: the code host is the workflow's token against `GITHUB_API_URL`, the repository is the
workflow's checkout, and coordination is in memory (the PR itself is the record between runs, see
`replay`) unless `QUORUM_REDIS__URL` is set, when Redis holds records, daily caps and leases across runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from pydantic import SecretStr

from bot import forge, version
from bot.action import environment
from bot.action.parts import ActionRuntime, Coordination
from bot.adapters.git.checkout import CheckoutWorkspaces
from bot.adapters.github import api as github_api
from bot.adapters.github import rate as github_rate
from bot.adapters.memory import board as memory_board
from bot.adapters.memory import breakers as memory_breakers
from bot.adapters.memory import coordination as memory_coordination
from bot.adapters.memory import inbox as memory_inbox
from bot.adapters.memory import review_ports as memory
from bot.adapters.redis import breakers as redis_breakers
from bot.adapters.redis import budget as redis_budget
from bot.adapters.redis import cache as redis_cache
from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import inbox as redis_inbox
from bot.adapters.redis import state as redis_state
from bot.bootstrap import review as review_root
from bot.bootstrap import serve as serve_root
from bot.daemon.intake import QueueIntake
from bot.daemon.review_job import ReviewJob
from bot.errors import ConfigError
from bot.ports import Progress
from config.settings import Settings
from guardrails import admission, lease
from guardrails.clock import Clock, SystemClock


def with_runner(settings: Settings, env: environment.ActionEnv) -> Settings:
    """The settings with what the runner provides: its token and API URL unless Quorum's own are set,
    the state directory under `RUNNER_TEMP`, and the checkout as the repository to review."""
    gh = settings.github
    token = gh.token if gh.token is not None else (SecretStr(env.token) if env.token else None)
    location = str(env.workspace.resolve()).replace("{", "{{").replace("}", "}}")
    github = gh.model_copy(
        update={"token": token, "base_url": env.api_url if env.api_url_from_runner else gh.base_url,
                "clone_url_template": location, "repositories": [env.repository]}
    )  # fmt: skip
    changes: dict[str, object] = {"github": github}
    if env.runner_temp is not None and not env.state_dir_configured:
        changes["workspace"] = settings.workspace.model_copy(update={"state_dir": env.runner_temp / "quorum"})
    return settings.model_copy(update=changes)


def github_client(settings: Settings, env: environment.ActionEnv) -> github_api.GitHubClient:
    """The client; an installation token (which may not call `GET /user`) acts as `env.bot_login`."""
    gh = settings.github
    if gh.token is None:
        raise ConfigError(
            "quorum action needs a token",
            ("GITHUB_TOKEN (pass `github-token`, default `${{ github.token }}`) or QUORUM_GITHUB__TOKEN",),
        )
    gh.check_write_limits()
    value = gh.token.get_secret_value()
    # Installation tokens (`ghs_`): the workflow's own, or another App's; a personal token says who it is.
    identity = forge.Identity(env.bot_login, is_app=True) if value.startswith("ghs_") else None
    gate = github_rate.RateGate(
        write_interval_s=gh.write_interval_s, writes_per_minute=gh.writes_per_minute,
        writes_per_hour=gh.writes_per_hour,
    )  # fmt: skip
    client = github_api.GitHubClient.from_token(
        gh.base_url, value, timeout_s=gh.request_timeout_s, check_name=gh.check_name,
        repositories=gh.repositories, identity=identity, gate=gate,
    )  # fmt: skip
    return client


def _in_memory(settings: Settings, clock: Clock) -> Coordination:
    s = settings
    board = memory_board.Board(clock)
    scheduler = memory_coordination.InMemoryScheduler(
        board,
        limits=admission.Limits(
            s.concurrency.max_concurrent_agents,
            s.concurrency.max_per_repo,
            s.concurrency.oldest_first_after_s,
        ),
        policy=lease.LeasePolicy(ttl_s=s.redis.lease_ttl_s, max_hold_s=s.timeouts.pr_lock_ttl_s),
    )
    return Coordination(
        scheduler, scheduler.leases, memory_coordination.InMemoryStateStore(board),
        memory_inbox.InMemoryInbox(board), memory.InMemoryBudgetLedger(), memory.InMemoryQueryCache(),
        memory_breakers.InMemoryCircuitBreakers(review_root.breaker_policy(s), clock), in_memory=True,
    )  # fmt: skip


async def _on_redis(settings: Settings, stack: AsyncExitStack) -> Coordination:
    redis = serve_root.redis_client(settings)
    stack.push_async_callback(redis.aclose)
    await redis_conn.check_server(redis)
    keys = redis_conn.Keys(settings.redis.key_prefix)
    scheduler = serve_root.scheduler(settings, redis)
    ledger = redis_budget.RedisBudgetLedger(redis, keys, pr_ttl_s=settings.budget.pr_ledger_days * 86_400)
    return Coordination(
        scheduler, scheduler.leases, redis_state.RedisStateStore(redis, keys),
        redis_inbox.RedisInbox(redis, keys), ledger,
        redis_cache.RedisQueryCache(redis, settings.redis.key_prefix),
        redis_breakers.RedisCircuitBreakers(redis, keys, review_root.breaker_policy(settings)),
        in_memory=False,
    )  # fmt: skip


@asynccontextmanager
async def runtime(
    settings: Settings, env: environment.ActionEnv, progress: Progress, *, clock: Clock | None = None
) -> AsyncIterator[ActionRuntime]:
    """Build everything one run needs from `settings` (already `with_runner`) and close it on exit."""
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        gh = github_client(settings, env)
        stack.push_async_callback(gh.aclose)
        identity = await gh.identity()
        coordination = (
            await _on_redis(settings, stack) if env.redis_configured else _in_memory(settings, clock)
        )
        client = await stack.enter_async_context(httpx.AsyncClient(headers=version.HEADERS))
        make = await review_root.model_factory(settings, stack, client, progress)
        observed = review_root.Observed([])
        deps = review_root.review_deps(
            settings, make, coordination.ledger, coordination.cache, clock, progress, observed,
            breakers=coordination.breakers, fallbacks=review_root.fallback_chain(settings, client),
        )  # fmt: skip
        ws = CheckoutWorkspaces(
            env.workspace, settings.workspace.state_dir,
            max_checkout_bytes=settings.workspace.max_checkout_bytes,
        )  # fmt: skip
        deps = dataclasses.replace(deps, prep=dataclasses.replace(deps.prep, workspaces=ws))
        intake = QueueIntake(
            coordination.scheduler, coordination.inbox, check_name=settings.github.check_name
        )
        review = ReviewJob(settings, deps)
        yield ActionRuntime(settings, gh, identity, coordination, intake, observed, clock, review)
