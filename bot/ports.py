"""The ports that are not a guardrail's, with the value types that cross them.

The language model and its tool calls; the agent's tools and the worktree they read; the diff format the
git adapter produces and the review parses; the per-PR inbox of the daemon; the query cache, progress,
and the two outlets operators watch: the metrics sink and the notifier. Adapters implement these and
import nothing above them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

from bot.errors import InputError

_log = logging.getLogger("quorum")
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree object
# The diff format: the arguments after `git` whose output `bot.review.diffparse` parses; the git adapter
# runs exactly these.
DIFF_ARGS: tuple[str, ...] = (
    "-c",
    "core.quotePath=false",
    # Attributes from the empty tree: no .gitattributes (the PR's, or HEAD's, which newer git reads in a
    # bare mirror) may mark a file binary or give it a diff driver. Older git ignores the key; the mirror
    # is bare, so it reads no .gitattributes anyway.
    "-c",
    f"attr.tree={_EMPTY_TREE}",
    "diff",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--find-renames",
    "--find-copies",
    "--unified=3",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)

Role = Literal["system", "user", "assistant", "tool"]
ToolChoice = Literal["auto", "none"]

# The argument key an adapter sets when a model's tool arguments could not be read (not JSON, not an
# object): the call is then answered with an error result and never run. Its value says what was wrong.
INVALID_ARGUMENTS = "_invalid_arguments"


# The agent's tools: a tool never raises into the loop; a refused call is a result with `ok=False`.


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as offered to the model: a name, a description and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for; `id` is the provider's call id (generated for the text protocol)."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a call returned: redacted, capped text for the model, and facts for the transcript."""

    call_id: str
    name: str
    ok: bool
    text: str
    bytes_read: int = 0
    truncated: bool = False
    duration_ms: int = 0


class ToolBox(Protocol):
    """The read-only tools of one round, confined to one worktree and bounded by the round's caps."""

    def specs(self) -> tuple[ToolSpec, ...]:
        """The tools to offer the model."""
        ...

    async def run(self, call: ToolCall) -> ToolResult:
        """Run one call; never raises for a bad call (unknown tool, bad arguments, refused path, cap hit)."""
        ...

    @property
    def bytes_read(self) -> int:
        """Bytes read from the worktree so far this round."""
        ...


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message. An assistant message may carry the `tool_calls` it made; a `tool` message answers
    one call (`tool_call_id`, and the tool's `name`)."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
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
    tools: tuple[ToolSpec, ...] = ()  # offered for native tool calling
    tool_choice: ToolChoice = "auto"  # "none": the tools are listed (the history needs them) but not callable


@dataclass(frozen=True, slots=True)
class Completion:
    """The provider's answer with the usage it reported."""

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


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


class _NoProgress:
    def step(self, message: str) -> None:
        _log.debug("%s", message)


NO_PROGRESS: Progress = _NoProgress()  # nobody watches: each step is only a debug log line


class MetricsSink(Protocol):
    """Where metric and audit documents go. `emit` never blocks and never raises: a slow or dead backend
    must not slow a review (documents are buffered, and counted when dropped)."""

    def emit(self, kind: str, fields: Mapping[str, Any]) -> None:
        """Queue one document of `kind` (llm_call, round, transition, guardrail, budget, queue, review)."""
        ...


class _NoMetrics:
    def emit(self, kind: str, fields: Mapping[str, Any]) -> None:
        return None


NULL_METRICS: MetricsSink = _NoMetrics()  # metrics off: every document is dropped


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


class _NoNotes:
    def notify(self, notification: Notification) -> None:
        return None


NULL_NOTIFIER: Notifier = _NoNotes()  # notifications off: nobody is told


# The worktree the agent's tools read (raises WorkspaceError or OSError for a refused read).


class EntryKind(StrEnum):
    """What a directory entry is (symlinks are reported, never followed by a listing)."""

    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Entry:
    """One name in a directory listing."""

    name: str
    kind: EntryKind
    size: int


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One matching line: worktree-relative path, 1-based line number, the line's text."""

    path: str
    line_no: int
    text: str


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """The hits of a search, how many files were searched or skipped, and whether the match cap stopped it."""

    hits: tuple[SearchHit, ...]
    files_searched: int
    files_skipped: int
    capped: bool


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One commit of `git log`."""

    sha: str
    date: str
    author: str
    subject: str


@dataclass(frozen=True, slots=True)
class BlameLine:
    """One line of `git blame` at HEAD."""

    line_no: int
    sha: str
    author: str
    date: str
    text: str


class Worktree(Protocol):
    """Read-only access to one checkout. Raises WorkspaceError (or OSError) for a refused or failed read."""

    @property
    def analysers_configured(self) -> bool:
        """Whether `analyse` has any analyser to run."""
        ...

    async def read_bytes(self, rel_path: str, max_bytes: int) -> bytes:
        """The bytes of a regular file inside the tree; refused, unread, when larger than `max_bytes`."""
        ...

    async def list_dir(self, rel_path: str) -> list[Entry]:
        """The entries of a directory inside the tree, `.git` hidden."""
        ...

    async def search(
        self, pattern: str, *, path_glob: str | None, regex: bool, max_matches: int
    ) -> SearchOutcome:
        """Lines matching a fixed string (or a regex) in text files whose path matches `path_glob`."""
        ...

    async def git_log(self, rel_path: str, n: int) -> list[LogEntry]:
        """The last `n` commits of HEAD touching `rel_path` (the whole tree for "")."""
        ...

    async def git_blame(self, rel_path: str, start: int, end: int) -> list[BlameLine]:
        """Who last changed lines `start`..`end` of `rel_path` at HEAD."""
        ...

    async def analyse(self, paths: Sequence[str]) -> str:
        """The configured static analysers' output on these files (nothing from the tree is executed)."""
        ...


# The per-PR inbox: what happened to a PR since its job last ran (see bot/daemon/intake.py).


class ItemKind(StrEnum):
    COMMAND = "command"
    HUMAN_REVIEW = "human_review"
    CHECKS = "checks"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One thing to act on; `verb`/`args` for a command (`comment_id`, and `at`: when the comment was
    written, on GitHub's clock), `state`/`sha` for a human review."""

    kind: ItemKind
    actor: str = ""
    verb: str = ""
    args: str = ""
    state: str = ""
    sha: str = ""
    delivery_id: str = ""
    comment_id: int = 0
    at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> InboxItem:
        """Read an item written by `to_json`; raises `InputError` on anything else."""
        try:
            data = json.loads(text)
            return cls(**{**data, "kind": ItemKind(data["kind"])})
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError("unreadable inbox item") from exc


class Inbox(Protocol):
    """Per-PR queues of `InboxItem`s."""

    async def push(self, job_id: str, item: InboxItem) -> None:
        """Append one item to the PR's inbox."""
        ...

    async def push_delivery(self, delivery_id: str, items: Sequence[tuple[str, InboxItem]]) -> bool:
        """Record the webhook delivery and append each (job id, item) as one step; False, and nothing
        appended, when the delivery was seen in the last three days (the key `Scheduler.enqueue` sets)."""
        ...

    async def drain(self, job_id: str) -> list[InboxItem]:
        """Take every item, oldest first, atomically (an item is handed out once)."""
        ...

    async def waiting(self) -> list[str]:
        """Job ids whose inbox is not empty (the reconciler re-queues them)."""
        ...
