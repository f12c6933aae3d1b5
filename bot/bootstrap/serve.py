"""The composition root of `quorum serve`: Redis coordination, the code host, the review pipeline, the
daemon's parts, metrics and notifications, all built from `Settings` and closed again on exit.

It extends `bot.bootstrap.review` (which builds the review pipeline for both modes); nothing else opens a
connection or reads settings.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis

from bot import forge, health, operator_alerts, ports, telemetry, version
from bot.adapters import metered_ledger
from bot.adapters.discord import notifier as discord_notifier
from bot.adapters.elastic import metrics as elastic_metrics
from bot.adapters.github import api as github_api
from bot.adapters.github import rate as github_rate
from bot.adapters.prometheus import shared as prometheus_shared
from bot.adapters.redis import breakers as redis_breakers
from bot.adapters.redis import budget as redis_budget
from bot.adapters.redis import cache as redis_cache
from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import inbox as redis_inbox
from bot.adapters.redis import listings as redis_listings
from bot.adapters.redis import pacer as redis_pacer
from bot.adapters.redis import scheduler as redis_scheduler
from bot.adapters.redis import state as redis_state
from bot.bootstrap import health as health_root
from bot.bootstrap import review as review_root
from bot.daemon import job_context
from bot.daemon.context import DaemonDeps, ServerPolicy
from bot.daemon.github_link import GitHubLink
from bot.daemon.handler import JobHandler
from bot.daemon.intake import QueueIntake
from bot.daemon.monitor import LocalJobs, Monitor
from bot.daemon.reconciler import Reconciler
from bot.daemon.review_job import ReviewJob
from bot.daemon.worker import Worker
from bot.domain import Step
from bot.errors import ConfigError
from bot.ports import MetricsSink, Notifier, Progress
from bot.review.llm_call import CallRecord
from config.settings import Settings
from guardrails import admission, budget, lease, pacing
from guardrails.clock import Clock, SystemClock
from guardrails.text import redaction


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything `quorum serve` runs."""

    settings: Settings
    redis: aioredis.Redis
    scheduler: redis_scheduler.RedisScheduler
    intake: QueueIntake
    reconciler: Reconciler
    monitor: Monitor
    jobs: LocalJobs
    github: github_api.GitHubClient
    link: GitHubLink
    make_deps: Callable[[forge.Identity], DaemonDeps]
    probes: Mapping[str, health.Probe]
    instance: str
    breakers: redis_breakers.RedisCircuitBreakers | None = None  # states for /readyz and doctor
    clock: Clock = dataclasses.field(default_factory=SystemClock)

    def handler(self) -> JobHandler:
        """The job handler, once GitHub answered (`link.wait_up`): it needs Quorum's identity there."""
        return JobHandler(self.make_deps(self.link.identity))

    def workers(self, leases: lease.LeaseManager) -> list[Worker]:
        """`server.workers` workers sharing one handler (so, like it, once GitHub answered), each with a
        backoff of its own; `leases` is the scheduler's, possibly metered."""
        s, handler = self.settings, self.handler()
        return [
            Worker(
                f"{self.instance}-w{i}", self.scheduler, leases, handler, self.jobs,
                max_attempts=s.redis.job_max_attempts, escalate=handler.escalate_failed,
                link=self.link, backoff=health.Backoff(s.server.backoff_base_s, s.server.backoff_cap_s),
            )
            for i in range(s.server.workers)
        ]  # fmt: skip


def github_client(
    settings: Settings, redis: aioredis.Redis | None = None, keys: redis_conn.Keys | None = None
) -> github_api.GitHubClient:
    """The code-host client: a GitHub App when `app_id` and `private_key` are set, else a token. With
    `redis`, its writes are paced, and its rate limits held, together with every other replica's using the
    same credential."""
    gh = settings.github
    gh.check_write_limits()
    policy = pacing.PacingPolicy(
        gh.write_interval_s,
        gh.writes_per_minute,
        hold_s=2 * gh.request_timeout_s + 15,
        per_hour=gh.writes_per_hour,
    )
    pacer = None
    if redis is not None and keys is not None:
        pacer = redis_pacer.RedisWritePacer(redis, keys, _credential(settings), policy)
    gate = github_rate.RateGate(policy=policy, pacer=pacer)
    if gh.app_id is not None and gh.private_key is not None:
        return github_api.GitHubClient.from_app(
            gh.base_url, gh.app_id, gh.private_key.get_secret_value(),
            timeout_s=gh.request_timeout_s, check_name=gh.check_name, gate=gate,
        )  # fmt: skip
    if gh.token is None:
        raise ConfigError(
            "quorum serve needs GitHub credentials",
            ("github.token (env QUORUM_GITHUB__TOKEN), or github.app_id and github.private_key: missing",),
        )
    return github_api.GitHubClient.from_token(
        gh.base_url, gh.token.get_secret_value(), timeout_s=gh.request_timeout_s,
        check_name=gh.check_name, repositories=gh.repositories, gate=gate,
    )  # fmt: skip


def _credential(settings: Settings) -> str:
    """What GitHub counts writes against: the App (all its installations, the cautious reading) or the
    token. The pacer keys it by a hash."""
    gh = settings.github
    if gh.app_id is not None and gh.private_key is not None:
        return f"app|{gh.base_url}|{gh.app_id}"
    return f"token|{gh.base_url}|{gh.token.get_secret_value() if gh.token else ''}"


def redis_client(settings: Settings) -> aioredis.Redis:
    r = settings.redis
    password = r.password.get_secret_value() if r.password else None
    return redis_conn.client(r.url, password=password, socket_timeout=r.socket_timeout_s)


def scheduler(settings: Settings, redis: aioredis.Redis) -> redis_scheduler.RedisScheduler:
    s = settings
    return redis_scheduler.RedisScheduler(
        redis,
        redis_conn.Keys(s.redis.key_prefix),
        limits=admission.Limits(
            s.concurrency.max_concurrent_agents,
            s.concurrency.max_per_repo,
            s.concurrency.oldest_first_after_s,
        ),
        policy=lease.LeasePolicy(ttl_s=s.redis.lease_ttl_s, max_hold_s=s.timeouts.pr_lock_ttl_s),
        backoff=admission.Backoff(
            s.redis.job_max_attempts, s.redis.job_retry_base_s, s.redis.job_retry_cap_s
        ),
    )


def _emit_calls(metrics: MetricsSink, clock: Clock, prompt_version: str) -> Callable[[CallRecord], None]:
    seq = itertools.count()

    def observe(record: CallRecord) -> None:
        # The record is made when the attempt ends; its start is what the document is dated by.
        at = clock.now() - record.duration_ms / 1000
        doc = telemetry.llm_call_doc(
            record, job_context.current(), at=at, seq=next(seq), prompt_version=prompt_version
        )
        metrics.emit("llm_call", doc)

    return observe


def _observers(*observers: Callable[[CallRecord], None]) -> Callable[[CallRecord], None]:
    def observe(record: CallRecord) -> None:
        for one in observers:
            one(record)

    return observe


def _emit_steps(metrics: MetricsSink) -> Callable[[Step], None]:
    def on_step(step: Step) -> None:
        ctx = job_context.current()
        metrics.emit(
            "agent_step",
            {
                "event": {"kind": "event", "category": ["process"], "action": f"agent_{step.kind}"},
                "quorum": {"repo": ctx.repo, "pr": {"number": ctx.pr}, "head_sha": ctx.head_sha,
                           "agent_step": dataclasses.asdict(step)},
            },
        )  # fmt: skip

    return on_step


@asynccontextmanager
async def runtime(
    settings: Settings,
    *,
    metrics: MetricsSink | None = None,
    notifier: Notifier | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
    states: health.Health | None = None,
    probes: Mapping[str, health.Probe] | None = None,
) -> AsyncIterator[Runtime]:
    """Build and connect everything `serve` needs. Only Redis must answer at start (intake needs nothing
    else); GitHub is reached in the background by the link, the model and the sinks on first use."""
    clock = clock or SystemClock()
    states = states or health.Health(clock)
    async with AsyncExitStack() as stack:
        redis = redis_client(settings)
        stack.push_async_callback(redis.aclose)
        await redis_conn.check_server(redis)
        keys = redis_conn.Keys(settings.redis.key_prefix)
        sched = scheduler(settings, redis)
        store = redis_state.RedisStateStore(redis, keys)
        inbox = redis_inbox.RedisInbox(redis, keys)
        sink, note = metrics or ports.NULL_METRICS, notifier or ports.NULL_NOTIFIER
        ledger: budget.BudgetReaper = redis_budget.RedisBudgetLedger(
            redis, keys, pr_ttl_s=settings.budget.pr_ledger_days * 86_400,
            alert_percents=settings.budget.alert_percents,
            on_alert=operator_alerts.budget_alerts(sink, note, clock),
        )  # fmt: skip
        if metrics is not None:
            ledger = metered_ledger.MeteredBudgetLedger(ledger, metrics, clock.now, job_context.current)
        breakers = redis_breakers.RedisCircuitBreakers(redis, keys, review_root.breaker_policy(settings))
        gh = github_client(settings, redis, keys)
        stack.push_async_callback(gh.aclose)
        client = await stack.enter_async_context(httpx.AsyncClient(headers=version.HEADERS))
        progress = progress or ports.NO_PROGRESS
        make = await review_root.model_factory(settings, stack, client, progress)
        observe = _observers(
            _emit_calls(metrics, clock, settings.review.prompt_version) if metrics else (lambda _r: None),
            operator_alerts.provider_alerts(sink, note, clock),
            health_root.observe_model(states),
        )
        cache = redis_cache.RedisQueryCache(redis, settings.redis.key_prefix)
        on_step = _emit_steps(metrics) if metrics else None
        review_deps = review_root.review_deps(
            settings, make, ledger, cache, clock, progress, observe, on_step,
            breakers=breakers, fallbacks=review_root.fallback_chain(settings, client),
        )  # fmt: skip
        policy = ServerPolicy(
            settings.merge,
            settings.consensus.min_approvals,
            settings.consensus.max_rounds,
            settings.github.check_name,
        )
        extra: Mapping[str, Any] = {
            k: v for k, v in (("metrics", metrics), ("notifier", notifier)) if v is not None
        }
        review = ReviewJob(settings, review_deps)

        def make_deps(identity: forge.Identity) -> DaemonDeps:
            return DaemonDeps(
                gh, gh, store, inbox, sched.leases, sched, review, clock, policy, identity, **extra
            )  # fmt: skip

        listings = redis_listings.RedisListingMemory(redis, keys)
        reconciler = Reconciler(
            gh, sched, store, inbox, interval_s=settings.github.poll_interval_s, listings=listings
        )
        link = health_root.github_link(settings, gh, states, reconciler.wake.set)
        reconciler.attach(link)
        intake = QueueIntake(
            sched, inbox, check_name=settings.github.check_name, reconcile_now=reconciler.wake
        )  # fmt: skip
        jobs = LocalJobs()
        monitor = Monitor(
            sched, jobs, workspace=review_deps.prep.workspaces, budget_reaper=ledger.reap_expired,
            clock=clock, interval_s=settings.timeouts.monitor_interval_s,
        )  # fmt: skip
        checks = {
            "redis": health_root.redis_probe(redis),
            "github": states.probe("github"),
            "model": states.probe("model"),
            "breakers": health_root.breakers_probe(breakers),
        }
        yield Runtime(
            settings, redis, sched, intake, reconciler, monitor, jobs, gh, link, make_deps,
            {**checks, **(probes or {})}, instance=uuid.uuid4().hex[:8], breakers=breakers, clock=clock,
        )  # fmt: skip


@asynccontextmanager
async def metrics(
    settings: Settings, probes: dict[str, health.Probe] | None = None
) -> AsyncIterator[MetricsSink]:
    """The metrics sink: Elasticsearch when hosts are configured (shipping in the background, flushed on
    exit; its probe added to `probes`), else one that drops everything."""
    if not settings.elasticsearch.hosts:
        yield ports.NULL_METRICS
        return
    redactor = redaction.Redactor(review_root.known_secrets(settings))
    sink = elastic_metrics.ElasticMetrics.from_settings(
        settings.elasticsearch, redact=lambda text: redactor.redact(text)[0]
    )
    if probes is not None:

        async def shipping() -> health.DependencyState:
            failing = sink.failing
            return health.DependencyState(not failing, f"{failing} bulk attempts failed" if failing else "")

        probes["elasticsearch"] = shipping
    async with sink.running():
        yield sink


@asynccontextmanager
async def notifier(
    settings: Settings, probes: dict[str, health.Probe] | None = None
) -> AsyncIterator[Notifier]:
    """Discord notifications when a webhook URL is configured (its probe added to `probes`), else none."""
    url = settings.discord.webhook_url
    if url is None:
        yield ports.NULL_NOTIFIER
        return
    redactor = redaction.Redactor(review_root.known_secrets(settings))
    discord = discord_notifier.DiscordNotifier.from_settings(settings.discord, redactor=redactor)
    if probes is not None:

        async def sending() -> health.DependencyState:
            stats = discord.stats
            why = "disabled: the webhook URL is gone" if stats.disabled else stats.last_failure
            return health.DependencyState(not why, why)

        probes["discord"] = sending
    async with discord.running():
        yield discord


def shared_state(settings: Settings, rt: Runtime) -> prometheus_shared.SharedStateCollector:
    """The `/metrics` gauges read from Redis at scrape time: the same totals on every replica."""
    ledger = redis_budget.RedisBudgetLedger(rt.redis, redis_conn.Keys(settings.redis.key_prefix))
    return prometheus_shared.SharedStateCollector(
        rt.scheduler,
        ledger,
        rt.breakers,
        review_root.limits(settings),
        settings.github.repositories,
        rt.clock,
    )
