"""The sections of Quorum's settings: one frozen pydantic model per TOML table, unknown keys refused."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from bot.errors import ConfigError
from config import fields
from config.protected import PROTECTED_PATHS
from guardrails import pacing

Provider = Literal["local", "openai", "ollama", "anthropic"]
DiscordEvent = Literal[
    "decided", "merged", "escalated", "budget_exceeded", "failures", "budget_alert", "provider_alert"
]
DISCORD_EVENTS: tuple[DiscordEvent, ...] = (
    "decided", "merged", "escalated", "budget_exceeded", "failures", "budget_alert", "provider_alert"
)  # fmt: skip

# provider -> (base URL, model) used when the setting is left unset; `local` runs a managed child server.
PROVIDER_DEFAULTS: dict[str, tuple[str | None, str]] = {
    "local": (None, "SmolLM2-135M-Instruct"),
    "openai": ("https://api.openai.com/v1", "gpt-4o-mini"),
    "ollama": ("http://localhost:11434", "qwen2.5-coder:7b"),
    "anthropic": ("https://api.anthropic.com", "claude-sonnet-4-20250514"),
}

GITHUB_COM_API = "api.github.com"

ToolProtocol = Literal["auto", "native", "text"]
AgentMode = bool | Literal["auto"]
# Providers whose models call tools; `local` serves a model too small to use them well.
TOOL_CALLING_PROVIDERS = frozenset({"openai", "ollama", "anthropic"})
MergeMethod = Literal["merge", "squash", "rebase"]
LogFormat = Literal["auto", "json", "text"]


class FallbackModel(fields.Section):
    """One more model of the fallback chain, possibly behind another provider (not `local`)."""

    provider: Literal["openai", "ollama", "anthropic"]
    model: str = Field(min_length=1)
    base_url: fields.OptionalHttpUrl = None
    api_key: fields.OptionalSecret = None
    price_input_per_mtok: float | None = Field(default=None, ge=0)
    price_output_per_mtok: float | None = Field(default=None, ge=0)

    def effective_base_url(self) -> str:
        """Return the configured base URL, else the provider's default."""
        default = PROVIDER_DEFAULTS[self.provider][0]
        assert default is not None
        return self.base_url if self.base_url is not None else default


class LlmSettings(fields.Section):
    """The language model provider, its limits, retry policy, fallback chain and circuit breakers."""

    provider: Provider = "local"
    base_url: fields.OptionalHttpUrl = None
    model: fields.OptionalText = None
    api_key: fields.OptionalSecret = None
    price_input_per_mtok: float | None = Field(default=None, ge=0)
    price_output_per_mtok: float | None = Field(default=None, ge=0)
    max_output_tokens: int = Field(default=1024, gt=0)
    # None: the model's known window (a table of hosted models; the GGUF's own for a local file).
    context_tokens: int | None = Field(default=None, gt=0)
    temperature: float = Field(default=0.0, ge=0, le=2)
    max_retries: int = Field(default=3, ge=0)
    retry_base_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=30.0, gt=0)
    fallback_models: list[str] = Field(default_factory=list)
    fallback: list[FallbackModel] = Field(default_factory=list)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cooldown_s: float = Field(default=300.0, gt=0)
    model_path: fields.UserPath | None = None
    local_threads: int | None = Field(default=None, ge=1)
    local_startup_timeout_s: float = Field(default=120.0, gt=0)

    def effective_base_url(self) -> str | None:
        """Return the configured base URL, else the provider's default (None: a managed local server)."""
        return self.base_url if self.base_url is not None else PROVIDER_DEFAULTS[self.provider][0]

    def effective_model(self) -> str:
        """Return the configured model name, else the provider's default."""
        return self.model if self.model is not None else PROVIDER_DEFAULTS[self.provider][1]


class Reviewer(fields.Section):
    """One reviewer of a round: a persona and, optionally, its own model."""

    persona: str = Field(min_length=1)
    model: fields.OptionalText = None


def _default_reviewers() -> list[Reviewer]:
    return [Reviewer(persona=name) for name in ("correctness", "security", "maintainability")]


class ReviewSettings(fields.Section):
    """What is reviewed, size caps, and the reviewers of each round."""

    exclude: list[str] = Field(default_factory=list)
    lock_files: list[str] = Field(
        default_factory=lambda: [
            "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
            "poetry.lock", "Pipfile.lock", "pdm.lock", "uv.lock", "Cargo.lock", "go.sum", "composer.lock",
            "Gemfile.lock", "mix.lock", "pubspec.lock", "Podfile.lock", "packages.lock.json", "flake.lock",
        ]
    )  # fmt: skip
    generated: list[str] = Field(
        default_factory=lambda: [
            "*.min.js", "*.min.css", "*.map", "*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py", "*.pb.go",
            "*.pb.cc", "*.pb.h", "*.generated.*", "*.g.dart", "*.freezed.dart", "__snapshots__/**",
            "dist/**",
        ]
    )  # fmt: skip
    vendored: list[str] = Field(default_factory=lambda: ["vendor/**", "third_party/**", "node_modules/**"])
    max_files: int = Field(default=300, ge=1)
    max_file_lines: int = Field(default=3000, ge=1)
    max_file_bytes: int = Field(default=512 * fields.KIB, ge=1)
    max_comments: int = Field(default=25, ge=0)
    require_full_coverage: bool = True
    prompt_version: str = Field(default="review-v1", min_length=1)
    cache_ttl_s: int = Field(default=7 * 24 * 3600, ge=0)
    reviewers: list[Reviewer] = Field(default_factory=_default_reviewers, min_length=1)
    parallel_calls: int = Field(default=4, ge=1)


class WorkspaceSettings(fields.Section):
    """Where mirrors and worktrees live, and how much may be checked out or read."""

    state_dir: fields.UserPath = Field(default_factory=fields.default_state_dir)
    max_checkout_bytes: int = Field(default=2 * fields.GIB, gt=0)
    max_read_bytes: int = Field(default=1 * fields.MIB, gt=0)


class RedisSettings(fields.Section):
    """The shared Redis holding queues, leases, budgets and state."""

    url: fields.RedisUrl = "redis://127.0.0.1:6379/0"
    password: fields.OptionalSecret = None
    key_prefix: str = Field(default="quorum", min_length=1)
    lease_ttl_s: float = Field(default=90.0, gt=0)
    socket_timeout_s: float = Field(default=5.0, gt=0)
    job_max_attempts: int = Field(default=5, ge=1)
    job_retry_base_s: float = Field(default=30.0, gt=0)
    job_retry_cap_s: float = Field(default=900.0, gt=0)


class GitHubSettings(fields.Section):
    """GitHub API access: a token or a GitHub App, the webhook secret, the repositories to watch."""

    base_url: fields.HttpUrl = "https://api.github.com"
    token: fields.OptionalSecret = None
    app_id: int | None = Field(default=None, ge=1)
    private_key: fields.OptionalSecret = None
    webhook_secret: fields.OptionalSecret = None
    clone_url_template: str = "https://github.com/{repo}.git"
    repositories: list[fields.Repository] = Field(default_factory=list)
    check_name: str = Field(default="quorum", min_length=1)
    request_timeout_s: float = Field(default=30.0, gt=0)
    poll_interval_s: float = Field(default=300.0, gt=0)
    # One credential's content-creating requests: at most so many a minute and an hour, this far apart, all
    # replicas together. github.com's secondary limits (80, 500, 1 s) are the defaults and the bounds there;
    # a GitHub Enterprise Server's limits are its administrators' to set, so there they are free.
    writes_per_minute: int = Field(default=pacing.GITHUB_COM.per_minute, ge=1)
    writes_per_hour: int = Field(default=pacing.GITHUB_COM.per_hour, ge=1)
    write_interval_s: float = Field(default=pacing.GITHUB_COM.interval_s, ge=0.0, le=60.0)

    @model_validator(mode="after")
    def _template_names_repo(self) -> GitHubSettings:
        if "{repo}" not in self.clone_url_template:
            raise ValueError("clone_url_template must contain {repo}")
        return self

    def write_limits_problem(self) -> str | None:
        """Why the write pace is looser than github.com allows, when `base_url` is github.com's; else None.
        Checked where the client is built, not at load: the Action learns its API URL from the runner."""
        limit = pacing.GITHUB_COM
        pace = pacing.PacingPolicy(
            self.write_interval_s, self.writes_per_minute, per_hour=self.writes_per_hour
        )
        if urlsplit(self.base_url).hostname != GITHUB_COM_API or not pacing.looser_than(pace, limit):
            return None
        return (
            f"github.com allows one credential at most {limit.per_minute} content-creating requests a minute "
            f"and {limit.per_hour} an hour, {limit.interval_s:g} s apart: github.writes_per_minute <= "
            f"{limit.per_minute}, github.writes_per_hour <= {limit.per_hour} and github.write_interval_s >= "
            f"{limit.interval_s:g} (looser values are for a GitHub Enterprise Server whose administrators "
            "allow them)"
        )

    def check_write_limits(self) -> None:
        """Raise `ConfigError` with `write_limits_problem`, if any (where a client is built)."""
        if (problem := self.write_limits_problem()) is not None:
            raise ConfigError(f"invalid configuration: {problem}", (problem,))


class ElasticsearchSettings(fields.Section):
    """Metrics shipping; no hosts means metrics are off."""

    hosts: list[fields.HttpUrl] = Field(default_factory=list)
    api_key: fields.OptionalSecret = None
    kibana_url: fields.OptionalHttpUrl = None
    environment: fields.Namespace = "default"
    buffer_size: int = Field(default=10_000, ge=1)
    batch_size: int = Field(default=500, ge=1)
    flush_interval_s: float = Field(default=2.0, gt=0)
    shutdown_flush_s: float = Field(default=5.0, gt=0)
    retention_days: int = Field(default=90, ge=1)
    retry_base_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=30.0, gt=0)


class DiscordSettings(fields.Section):
    """Notifications through a Discord webhook; no URL means they are off."""

    webhook_url: fields.OptionalSecret = None
    events: list[DiscordEvent] = Field(default_factory=lambda: list(DISCORD_EVENTS))
    max_attempts: int = Field(default=5, ge=1)
    retry_base_s: float = Field(default=1.0, gt=0)
    retry_max_s: float = Field(default=60.0, gt=0)


class ServerSettings(fields.Section):
    """The webhook and health HTTP server."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=25 * fields.MIB, gt=0)
    # Body bytes all deliveries may hold at once; beyond it a delivery gets 503 before it is read.
    max_body_bytes_in_flight: int = Field(default=50 * fields.MIB, gt=0)
    # Jobs this process works on at once. A job holds a slot of [concurrency] only until its model work
    # ends; it publishes and merges without one, so workers above the process's share of the slots keep
    # them busy meanwhile.
    workers: int = Field(default=8, ge=1)
    shutdown_grace_s: float = Field(default=30.0, ge=0)
    backoff_base_s: float = Field(default=1.0, gt=0)
    backoff_cap_s: float = Field(default=60.0, gt=0)


class AgentSettings(fields.Section):
    """The agent loop of a round: read-only tools inside the worktree, and their bounds."""

    enabled: AgentMode = "auto"
    max_tool_calls: int = Field(default=12, ge=0)
    max_turns: int = Field(default=8, ge=1)
    max_input_tokens: int = Field(default=200_000, ge=1)
    max_read_bytes: int = Field(default=256 * fields.KIB, ge=1)
    max_result_bytes: int = Field(default=16 * fields.KIB, ge=256)
    max_wall_s: float = Field(default=600.0, gt=0)
    tool_protocol: ToolProtocol = "auto"
    context_lines: int = Field(default=20, ge=0)
    max_context_lines: int = Field(default=200, ge=0)
    analysers: list[str] = Field(default_factory=list)

    def active(self, provider: str) -> bool:
        """Whether rounds run the agent loop: `auto` uses it only with providers whose models call tools."""
        if self.enabled == "auto":
            return provider in TOOL_CALLING_PROVIDERS
        return self.enabled


class MergeSettings(fields.Section):
    """The merge policy: when Quorum may merge, and what always needs a human."""

    enabled: bool = False
    method: MergeMethod = "squash"
    required_checks: list[str] = Field(default_factory=list)
    human_approval_contributors: int = Field(default=10, ge=0)
    protected_paths: list[str] = Field(default_factory=lambda: list(PROTECTED_PATHS))
    max_changed_lines: int = Field(default=1000, ge=1)
    review_drafts: bool = False
    review_bots: bool = False
    ignore_authors: list[str] = Field(default_factory=list)
    ignore_labels: list[str] = Field(default_factory=lambda: ["quorum:skip"])


class EvalSettings(fields.Section):
    """`quorum eval --baseline`: how much worse than the baseline a run may be before it fails."""

    max_accuracy_drop: float = Field(default=0.05, ge=0, le=1)
    max_precision_drop: float = Field(default=0.10, ge=0, le=1)
    max_recall_drop: float = Field(default=0.10, ge=0, le=1)
    max_injection_approvals: int = Field(default=0, ge=0)
    max_cost_increase: float = Field(default=0.25, ge=0)
