"""Ports of the review side that are not guardrails: the language model, the query cache, progress,
and the two outlets operators watch: the metrics sink and the notifier."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

from bot.review import toolspec

Role = Literal["system", "user", "assistant", "tool"]
ToolChoice = Literal["auto", "none"]

# The argument key an adapter sets when a model's tool arguments could not be read (not JSON, not an
# object): the call is then answered with an error result and never run. Its value says what was wrong.
INVALID_ARGUMENTS = "_invalid_arguments"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message. An assistant message may carry the `tool_calls` it made; a `tool` message answers
    one call (`tool_call_id`, and the tool's `name`)."""

    role: Role
    content: str
    tool_calls: tuple[toolspec.ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """One chat completion. `json_schema` asks the provider to constrain decoding where it can."""

    messages: tuple[ChatMessage, ...]
    max_tokens: int
    temperature: float = 0.0
    json_schema: Mapping[str, object] | None = None
    schema_name: str = "review"
    tools: tuple[toolspec.ToolSpec, ...] = ()  # offered for native tool calling
    tool_choice: ToolChoice = "auto"  # "none": the tools are listed (the history needs them) but not callable


@dataclass(frozen=True, slots=True)
class Completion:
    """The provider's answer with the usage it reported."""

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    finish_reason: str | None = None
    tool_calls: tuple[toolspec.ToolCall, ...] = ()


class LanguageModel(Protocol):
    """A chat model behind one provider. One attempt per call: retries belong to the caller.

    Raises `ProviderError` (with `retryable`, `retry_after`, `billed`) or `ProviderUnavailable`.
    """

    @property
    def provider(self) -> str: ...

    @property
    def model(self) -> str: ...

    # The transport timeout is a parameter because the adapter sets it on its HTTP client; the caller
    # also enforces the deadline with asyncio.timeout.
    async def complete(self, request: CompletionRequest, *, timeout: float) -> Completion: ...  # noqa: ASYNC109


class QueryCache(Protocol):
    """Answers of analysis queries keyed by prompt version + model + content hash."""

    async def get(self, key: str) -> str | None: ...

    async def put(self, key: str, value: str, ttl_s: int) -> None: ...


class Progress(Protocol):
    """Where a long local run reports what it is doing (a terminal, or nothing)."""

    def step(self, message: str) -> None: ...


class MetricsSink(Protocol):
    """Where metric and audit documents go. `emit` never blocks and never raises: a slow or dead backend
    must not slow a review (documents are buffered, and counted when dropped)."""

    def emit(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Queue one document of `kind` (llm_call, round, transition, guardrail, budget, queue, review)."""
        ...


class NotificationKind(StrEnum):
    """What operators are told about (the names of `discord.events`)."""

    DECIDED = "decided"
    MERGED = "merged"
    ESCALATED = "escalated"
    BUDGET_EXCEEDED = "budget_exceeded"
    FAILURES = "failures"
    BUDGET_ALERT = "budget_alert"  # a cap passed an alert threshold
    PROVIDER_ALERT = "provider_alert"  # a provider over-billed, or a model's circuit breaker opened


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for humans: about a PR (repo, number, url) or about the service (repo empty)."""

    kind: NotificationKind
    title: str
    text: str
    repo: str = ""
    number: int = 0
    url: str = ""
    fields: tuple[tuple[str, str], ...] = ()


class Notifier(Protocol):
    """Sends notifications from a background queue. `notify` never blocks and never raises."""

    def notify(self, notification: Notification) -> None:
        """Queue one notification (dropped when its kind is not enabled)."""
        ...
