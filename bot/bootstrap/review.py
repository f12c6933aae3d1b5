"""The review pipeline's composition root: the models behind their guards, git worktrees, filters,
redaction and the agent, built from `Settings`; `quorum review` and `quorum eval` run it over in-memory
ports, and the serve and action roots build on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot import retry_policy, version
from bot.adapters.git import tools as worktree_tools
from bot.adapters.git.worktrees import GitWorktrees
from bot.adapters.llm import gguf as gguf_meta
from bot.adapters.llm import local as llm_local
from bot.adapters.llm.anthropic import AnthropicModel
from bot.adapters.llm.lazy import LazyModel
from bot.adapters.llm.ollama import OllamaModel
from bot.adapters.llm.openai import OpenAICompatibleModel
from bot.adapters.memory import breakers as memory_breakers
from bot.adapters.memory import review_ports as memory
from bot.domain import Step
from bot.errors import ConfigError, ProviderUnavailable
from bot.pipeline import PrepareDeps, ReviewDeps
from bot.ports import LanguageModel, Progress, QueryCache
from bot.review import filters, gather, prompts
from bot.review.agent import loop as agent
from bot.review.agent import tools
from bot.review.llm_call import CallRecord, GuardedModel, PricedModel
from bot.review.planning import ReviewerPlan
from bot.review.rounds import Reviewer, RoundConfig, RoundRunner, ToolBoxFactory
from config import windows
from config.sections import FallbackModel, LlmSettings, ReviewSettings
from config.settings import Settings
from guardrails import breaker, budget, consensus, pricing
from guardrails.clock import Clock, SystemClock
from guardrails.text import redaction

# Room in the context window for the instructions and PR text around a chunk of diff.
_PROMPT_OVERHEAD_TOKENS = 1200


def limits(settings: Settings) -> budget.BudgetLimits:
    b = settings.budget
    return budget.BudgetLimits(
        pricing.usd_to_micro(b.per_round_usd),
        pricing.usd_to_micro(b.per_pr_usd),
        pricing.usd_to_micro(b.per_repo_daily_usd),
        pricing.usd_to_micro(b.daily_usd),
    )


def price_for(llm: LlmSettings, model: str) -> pricing.Price | None:
    """The configured price for the configured model, else the built-in table (None: unknown)."""
    if (
        model == llm.effective_model()
        and llm.price_input_per_mtok is not None
        and llm.price_output_per_mtok is not None
    ):
        return pricing.Price.from_usd(llm.price_input_per_mtok, llm.price_output_per_mtok)
    return pricing.lookup(llm.provider, model)


def breaker_policy(settings: Settings) -> breaker.BreakerPolicy:
    """The circuit breakers' policy; a half-open probe may take as long as one LLM call."""
    llm = settings.llm
    return breaker.BreakerPolicy(
        llm.breaker_failures, llm.breaker_cooldown_s, settings.timeouts.llm_call_s + 60
    )


def fallback_chain(settings: Settings, client: httpx.AsyncClient) -> list[PricedModel]:
    """The configured fallbacks behind other providers, each with its own address, key and price."""
    return [
        PricedModel(_fallback_model(entry, client), fallback_price(entry)) for entry in settings.llm.fallback
    ]


def fallback_price(entry: FallbackModel) -> pricing.Price | None:
    if entry.price_input_per_mtok is not None and entry.price_output_per_mtok is not None:
        return pricing.Price.from_usd(entry.price_input_per_mtok, entry.price_output_per_mtok)
    return pricing.lookup(entry.provider, entry.model)


def _fallback_model(entry: FallbackModel, client: httpx.AsyncClient) -> LanguageModel:
    key = entry.api_key.get_secret_value() if entry.api_key else None
    base = entry.effective_base_url()
    if entry.provider == "ollama":
        return OllamaModel(client, base_url=base, model=entry.model)
    if entry.provider == "anthropic":
        if key is None:
            raise ConfigError(
                "an anthropic fallback needs an API key", ("llm.fallback[].api_key (anthropic): missing",)
            )
        return AnthropicModel(client, base_url=base, model=entry.model, api_key=key)
    return OpenAICompatibleModel(client, base_url=base, model=entry.model, api_key=key)


def filter_policy(review: ReviewSettings) -> filters.FilterPolicy:
    return filters.FilterPolicy(
        exclude=tuple(review.exclude),
        lock_files=tuple(review.lock_files),
        generated=tuple(review.generated),
        vendored=tuple(review.vendored),
        max_files=review.max_files,
        max_file_lines=review.max_file_lines,
        max_file_bytes=review.max_file_bytes,
    )


def known_secrets(settings: Settings) -> list[str]:
    """Every configured secret value, so none can reach a prompt, a log or a report."""
    values = [
        settings.llm.api_key,
        settings.github.token,
        settings.github.private_key,
        settings.github.webhook_secret,
        settings.elasticsearch.api_key,
        settings.discord.webhook_url,
        settings.redis.password,
        *(entry.api_key for entry in settings.llm.fallback),
    ]
    secrets = [v.get_secret_value() for v in values if v is not None]
    if settings.discord.webhook_url is not None:
        # The webhook's token is its last path segment; the Discord client logs URLs built from it.
        token = settings.discord.webhook_url.get_secret_value().split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        if len(token) >= 16:
            secrets.append(token)
    return secrets


def context_tokens(settings: Settings) -> int:
    """The context window prompts are cut to: `llm.context_tokens`, else the smallest known window of the
    models a review may call (the GGUF file's own for `local`)."""
    llm = settings.llm
    if llm.context_tokens is not None:
        return llm.context_tokens
    found = [windows.known(entry.provider, entry.model) for entry in llm.fallback]
    if llm.provider == "local":  # one server, one model file: reviewer model overrides do not apply
        found.append(_gguf_window(llm))
    else:
        names = {r.model or llm.effective_model() for r in settings.review.reviewers} | set(
            llm.fallback_models
        )
        found += [windows.known(llm.provider, name) for name in names]
    return min(windows.usable(None, window) for window in found)


def _gguf_window(llm: LlmSettings) -> int | None:
    try:
        return gguf_meta.context_length(llm_local.find_model(llm.model_path))
    except ProviderUnavailable:
        return None  # not installed: a dry run still plans, and the first call says what is missing


def chunk_budget(settings: Settings) -> int:
    return max(256, context_tokens(settings) - settings.llm.max_output_tokens - _PROMPT_OVERHEAD_TOKENS)


def reviewer_plan(settings: Settings) -> ReviewerPlan:
    """The first round's reviewer, for the dry run."""
    first = settings.review.reviewers[0]
    model = (
        first.model if first.model and settings.llm.provider != "local" else settings.llm.effective_model()
    )
    return ReviewerPlan(first.persona, model, price_for(settings.llm, model))


async def model_factory(
    settings: Settings, stack: AsyncExitStack, client: httpx.AsyncClient, progress: Progress
) -> Callable[[str], LanguageModel]:
    llm = settings.llm
    key = llm.api_key.get_secret_value() if llm.api_key else None
    if llm.provider == "local":
        # One child server serves one model, started on the first call: reviewer model overrides do not
        # apply to `local`, and a dry run or a run that fails before any call starts nothing.
        async def start() -> LanguageModel:
            progress.step("starting the local model server")
            server = await stack.enter_async_context(
                llm_local.LocalLlamaServer(
                    model_path=llm.model_path,
                    n_ctx=context_tokens(settings),
                    n_threads=llm.local_threads,
                    startup_timeout_s=llm.local_startup_timeout_s,
                )
            )
            return server.language_model(client)

        shared = LazyModel("local", llm.effective_model(), start)
        return lambda _name: shared
    base = llm.effective_base_url()
    assert base is not None
    if llm.provider == "ollama":
        return lambda name: OllamaModel(client, base_url=base, model=name)
    if llm.provider == "anthropic":
        if key is None:
            raise ConfigError(
                "provider anthropic needs an API key", ("llm.api_key (env QUORUM_LLM__API_KEY): missing",)
            )
        return lambda name: AnthropicModel(client, base_url=base, model=name, api_key=key)
    return lambda name: OpenAICompatibleModel(client, base_url=base, model=name, api_key=key)


@dataclass
class Observed:
    """Collects every LLM attempt of a run (the transcript; metrics come with the metrics sink)."""

    calls: list[CallRecord]

    def __call__(self, record: CallRecord) -> None:
        self.calls.append(record)


@asynccontextmanager
async def local_review(
    settings: Settings, progress: Progress, *, clock: Clock | None = None, cache: QueryCache | None = None
) -> AsyncIterator[tuple[ReviewDeps, Observed]]:
    """Everything a single-process review needs: in-memory coordination, a real git workspace and the
    configured model (a managed llama.cpp child for `local`), closed again on exit."""
    clock = clock or SystemClock()
    observed = Observed([])
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(headers=version.HEADERS))
        make = await model_factory(settings, stack, client, progress)
        cache = cache or memory.InMemoryQueryCache()
        ledger = memory.InMemoryBudgetLedger()
        breakers = memory_breakers.InMemoryCircuitBreakers(breaker_policy(settings), clock)
        fallbacks = fallback_chain(settings, client)
        deps = review_deps(
            settings, make, ledger, cache, clock, progress, observed, breakers=breakers, fallbacks=fallbacks
        )
        yield deps, observed


def review_deps(
    settings: Settings,
    make: Callable[[str], LanguageModel],
    ledger: budget.BudgetLedger,
    cache: QueryCache,
    clock: Clock,
    progress: Progress,
    observe: Callable[[CallRecord], None],
    on_step: Callable[[Step], None] | None = None,
    *,
    breakers: breaker.CircuitBreakers | None = None,
    fallbacks: Sequence[PricedModel] = (),
) -> ReviewDeps:
    """The review pipeline over the given ledger, breakers and cache (in memory locally, on Redis in
    `serve`); `fallbacks` (other providers) follow each reviewer's model and `llm.fallback_models`."""
    guard = _Guard(ledger, clock, observe, breakers, tuple(fallbacks))
    reviewers = [
        Reviewer(r.persona, _guarded(settings, make, r.model or settings.llm.effective_model(), guard))
        for r in settings.review.reviewers
    ]
    prompt_set = prompts.load(settings.review.prompt_version)
    prep = prepare_deps(settings, progress)
    loop, factory = _agent(settings, prompt_set, prep.redactor, clock)
    runner = RoundRunner(
        prompt_set, reviewers, cache, clock, _round_config(settings), progress,
        agent_loop=loop, toolbox_factory=factory, on_step=on_step or (lambda _s: None),
    )  # fmt: skip
    policy = consensus.ConsensusPolicy(
        settings.consensus.min_approvals, settings.consensus.max_rounds, settings.review.require_full_coverage
    )
    context = None
    if settings.agent.active(settings.llm.provider) and settings.agent.max_context_lines > 0:
        # Widened code takes at most a quarter of what a chunk of diff may take.
        context = gather.ContextPolicy(
            settings.agent.context_lines,
            settings.agent.max_context_lines,
            max(256, chunk_budget(settings) // 4),
        )
    return ReviewDeps(
        prep, runner, clock, policy, settings.timeouts.review_job_s, settings.review.max_comments, context,
        speculative=settings.consensus.speculative_rounds,
    )  # fmt: skip


def _agent(
    settings: Settings, prompt_set: prompts.PromptSet, redactor: redaction.Redactor, clock: Clock
) -> tuple[agent.Agent | None, ToolBoxFactory | None]:
    """The agent loop and its toolbox factory, or (None, None) for single-call rounds."""
    a = settings.agent
    if not a.active(settings.llm.provider) or a.max_tool_calls == 0 or not prompt_set.has_agent:
        return None, None
    limits = agent.AgentLimits(
        a.max_turns, a.max_tool_calls, a.max_wall_s, a.max_read_bytes, a.tool_protocol, a.max_input_tokens
    )
    tool_limits = tools.ToolLimits(a.max_tool_calls, a.max_read_bytes, a.max_result_bytes)

    def toolbox(root: Path, changed: Sequence[str]) -> tools.BoundedToolBox:
        worktree = worktree_tools.GitWorktreeTools.from_settings(root, a)
        return tools.BoundedToolBox(worktree, redactor, tool_limits, changed_paths=changed)

    return agent.Agent(prompt_set, limits, redactor, clock), toolbox


@dataclass(frozen=True, slots=True)
class _Guard:
    """What every reviewer's guarded model shares."""

    ledger: budget.BudgetLedger
    clock: Clock
    observe: Callable[[CallRecord], None]
    breakers: breaker.CircuitBreakers | None
    fallbacks: tuple[PricedModel, ...]


def _guarded(
    settings: Settings, make: Callable[[str], LanguageModel], model: str, guard: _Guard
) -> GuardedModel:
    llm = settings.llm
    chain = [PricedModel(make(name), price_for(llm, name)) for name in [model, *llm.fallback_models]]
    return GuardedModel(
        [*chain, *guard.fallbacks],
        guard.ledger,
        limits(settings),
        guard.clock,
        call_timeout_s=settings.timeouts.llm_call_s,
        retry=retry_policy.for_llm(llm),
        observe=guard.observe,
        breakers=guard.breakers,
    )


def _round_config(settings: Settings) -> RoundConfig:
    return RoundConfig(
        settings.llm.max_output_tokens,
        settings.llm.temperature,
        settings.review.max_comments,
        settings.review.cache_ttl_s,
        settings.timeouts.round_s,
        settings.review.parallel_calls,
    )


def prepare_deps(settings: Settings, progress: Progress) -> PrepareDeps:
    """The git workspace, filters and redaction: enough for a dry run, which starts no model."""
    ws = GitWorktrees(settings.workspace.state_dir, max_checkout_bytes=settings.workspace.max_checkout_bytes)
    return PrepareDeps(
        ws,
        redaction.Redactor(known_secrets(settings)),
        filter_policy(settings.review),
        chunk_budget(settings),
        progress,
    )
