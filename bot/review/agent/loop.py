"""The agent loop of one part of a round: the model may call read-only tools, then gives its review.

Every model turn goes through `GuardedModel.call`, so each one reserves budget on the whole conversation
so far and runs under the round's deadline. Bounds: model turns and input tokens per part; tool calls,
bytes read and wall time per round. Hitting one sends one request for the final answer with no tool
callable; a part that still has no valid review has no verdict (never an approval). Old tool results are
sent again as one line each (`agent_messages.render`), so a part's input grows linearly with its turns.
A tool's failure is a result the model reads, never an exception. What goes back on the wire is the
toolbox's (redacted) result text and the model's own calls and words, redacted again here: the loop adds
no byte of its own from elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from bot.domain import Step, Usage
from bot.errors import ConfigError, ProviderError, QuorumError
from bot.ports import ChatMessage, Completion, CompletionRequest, ToolBox, ToolCall
from bot.review import prompts
from bot.review.agent import messages as agent_messages
from bot.review.agent.calls import Session, ToolRunner, elapsed_ms
from bot.review.agent.messages import Exchange, Protocol
from bot.review.llm_call import GuardedModel
from guardrails import budget, deadlines
from guardrails.clock import Clock
from guardrails.text import redaction, validation

log = logging.getLogger(__name__)
ToolProtocol = Literal["auto", "native", "text"]
_MAX_WORDS = 2000  # what of the model's own words is sent back, after redaction
_TOOL_REFUSAL_STATUSES = frozenset({400, 404, 422, 500, 501})


@dataclass(frozen=True, slots=True)
class AgentLimits:
    """Bounds of the loop: turns and input tokens per part; tool calls, bytes read and wall time per
    round."""

    max_turns: int
    max_tool_calls: int
    max_wall_s: float
    max_read_bytes: int | None = None
    protocol: ToolProtocol = "auto"
    max_input_tokens: int | None = None


class ProtocolMemory:
    """Which tool protocol each model speaks; `auto` learns it once per model for the process."""

    def __init__(self) -> None:
        self._text: set[tuple[str, str]] = set()

    def choose(self, configured: ToolProtocol, provider: str, model: str) -> Protocol:
        if configured != "auto":
            return configured
        # The managed llama.cpp server only calls tools when started with --jinja: text is the safe choice.
        return "text" if provider == "local" or (provider, model) in self._text else "native"

    def learn_text(self, provider: str, model: str) -> None:
        self._text.add((provider, model))


@dataclass(frozen=True, slots=True)
class Part:
    """One part (chunk) of the change for one reviewer: its prompt and the guardrail scopes."""

    model: GuardedModel
    system: str
    user: str
    chunk: int  # 1-based
    scope: budget.BudgetScope
    deadline: deadlines.Deadline
    max_tokens: int
    temperature: float
    schema: Mapping[str, object] | None


@dataclass(frozen=True, slots=True)
class PartResult:
    """The review of one part, or why there is none; `text` is the reply it was read from."""

    review: validation.ReviewOutput | None
    text: str
    error: str | None = None


@dataclass
class _Conversation:
    part: Part
    protocol: Protocol
    history: list[Exchange] = field(default_factory=list)
    turns: int = 0
    input_tokens: int = 0
    error: str | None = None


class Agent:
    """Runs the loop for each part of a round; one instance serves every round of the process."""

    def __init__(
        self,
        prompt_set: prompts.PromptSet,
        limits: AgentLimits,
        redactor: redaction.Redactor,
        clock: Clock,
        *,
        protocols: ProtocolMemory | None = None,
    ) -> None:
        if not prompt_set.has_agent:
            raise ConfigError(
                f"prompt version {prompt_set.version!r} has no agent templates "
                "(agent.md, tools.md, final.md)",
                (f"review.prompt_version: {prompt_set.version!r}",),
            )
        self._prompts, self._limits, self._redactor, self._clock = prompt_set, limits, redactor, clock
        self._protocols = protocols or ProtocolMemory()
        self._tools = ToolRunner(redactor, clock, limits.max_tool_calls, limits.max_wall_s)

    def session(self, toolbox: ToolBox, record: Callable[[Step], None]) -> Session:
        """The state of one round, started now."""
        return Session(toolbox, self._clock.monotonic(), record)

    async def review_part(self, session: Session, part: Part) -> PartResult:
        """Run the loop for one part. Raises only what `GuardedModel.call` raises (budget, deadline,
        provider); everything the model or a tool does wrong ends as a result."""
        model = part.model
        talk = _Conversation(part, self._protocols.choose(self._limits.protocol, model.provider, model.name))
        while (bound := self._bound(session, talk)) is None:
            try:
                completion = await self._turn(session, talk, final=None)
            except ProviderError as exc:
                if not self._refuses_tools(talk.protocol, exc):
                    raise
                log.warning("model %s refused native tool calls; using the text protocol", model.name)
                self._protocols.learn_text(model.provider, model.name)
                talk.protocol = "text"
                continue
            talk.turns += 1
            done = await self._absorb(session, talk, completion)
            if done is not None:
                return done
        return await self._final(session, talk, bound)

    # -- one turn -----------------------------------------------------------------------------------

    async def _absorb(
        self, session: Session, talk: _Conversation, completion: Completion
    ) -> PartResult | None:
        """Run the calls of an answer, or read its review; a garbage answer gets one line of feedback."""
        calls = self._calls(talk, completion)
        words = self._tools.clean(completion.text)[:_MAX_WORDS]
        if calls:
            results = await self._tools.run_calls(session, talk.part.chunk, talk.turns, calls)
            talk.history.append(Exchange(words, tuple(map(self._tools.redacted_call, calls)), results))
            return None
        parsed = validation.parse(completion.text)
        if parsed.review is not None:
            return PartResult(parsed.review, completion.text)
        talk.error = parsed.error or "invalid answer"
        feedback = self._prompts.repair.substitute(error=talk.error)
        talk.history.append(Exchange(words, feedback=feedback))
        return None

    def _calls(self, talk: _Conversation, completion: Completion) -> tuple[ToolCall, ...]:
        if talk.protocol == "native" and completion.tool_calls:
            return completion.tool_calls
        call = agent_messages.parse_text_call(completion.text, f"text_{talk.part.chunk}_{talk.turns}")
        if call is not None and talk.protocol == "native" and self._limits.protocol == "auto":
            # The model writes calls as text: it has no native tool calling. Continue in text.
            self._protocols.learn_text(talk.part.model.provider, talk.part.model.name)
            talk.protocol = "text"
        return (call,) if call is not None else ()

    async def _turn(self, session: Session, talk: _Conversation, final: str | None) -> Completion:
        part = talk.part
        system = part.system + "\n\n" + self._agent_text(talk.protocol, session.toolbox)
        base = (ChatMessage("system", system), ChatMessage("user", part.user))
        messages = agent_messages.render(talk.protocol, base, talk.history, final)
        native = talk.protocol == "native"
        listed = native and (final is None or agent_messages.uses_tools(talk.history))
        request = CompletionRequest(
            messages,
            part.max_tokens,
            part.temperature,
            part.schema if final is not None else None,  # a constrained decoder could not call a tool
            tools=session.toolbox.specs() if listed else (),
            tool_choice="auto" if final is None else "none",
        )
        started = time.monotonic()
        turn, detail = talk.turns + 1, f"{talk.protocol}{' final' if final is not None else ''}"
        try:
            # A final answer must be a review: one that is not counts against the model's breaker.
            valid = is_review if final is not None else None
            completion, cost = await part.model.call(request, part.scope, part.deadline, valid=valid)
        except QuorumError as exc:
            ms = elapsed_ms(started)
            session.record(
                Step(
                    "model",
                    part.chunk,
                    turn,
                    part.model.name,
                    False,
                    ms,
                    detail=f"{detail}: {type(exc).__name__}",
                )
            )
            raise
        session.usage += Usage(completion.input_tokens, completion.output_tokens, cost)
        talk.input_tokens += completion.input_tokens
        step = Step(
            "model", part.chunk, turn, completion.model, True, elapsed_ms(started),
            completion.input_tokens, completion.output_tokens, cost,
            detail=f"{detail}, {len(completion.tool_calls)} native call(s)",
        )  # fmt: skip
        session.record(step)
        return completion

    def _agent_text(self, protocol: Protocol, toolbox: ToolBox) -> str:
        assert self._prompts.agent is not None and self._prompts.tools is not None
        text = self._prompts.agent.substitute(
            max_turns=self._limits.max_turns, max_tool_calls=self._limits.max_tool_calls
        )
        if protocol == "text":
            text += "\n\n" + self._prompts.tools.substitute(
                tools=agent_messages.describe_tools(toolbox.specs())
            )
        return text

    async def _final(self, session: Session, talk: _Conversation, bound: str) -> PartResult:
        """The one request for a final answer once a bound is hit."""
        assert self._prompts.final is not None
        completion = await self._turn(session, talk, final=self._prompts.final.substitute(reason=bound))
        text_call = agent_messages.parse_text_call(completion.text, "final")
        parsed = (
            validation.parse(completion.text) if text_call is None else validation.Parsed(None, "a tool call")
        )
        if parsed.review is not None:
            return PartResult(parsed.review, completion.text)
        reason = f"no valid review after {bound} ({parsed.error})"
        return PartResult(None, completion.text, reason if talk.error is None else f"{reason}; {talk.error}")

    # -- bounds and tools -----------------------------------------------------------------------------

    def _bound(self, session: Session, talk: _Conversation) -> str | None:
        """The bound the loop has hit, in words for the model, or None."""
        limits = self._limits
        if talk.turns >= limits.max_turns:
            return f"the limit of {limits.max_turns} answers is reached"
        if limits.max_input_tokens is not None and talk.input_tokens >= limits.max_input_tokens:
            return f"the limit of {limits.max_input_tokens} input tokens is reached"
        if session.tool_calls >= limits.max_tool_calls:
            return f"the limit of {limits.max_tool_calls} tool calls is reached"
        if limits.max_read_bytes is not None and session.toolbox.bytes_read >= limits.max_read_bytes:
            return f"the limit of {limits.max_read_bytes} bytes read is reached"
        if self._clock.monotonic() - session.started >= limits.max_wall_s:
            return "the time for looking around is over"
        return None

    def _refuses_tools(self, protocol: Protocol, exc: ProviderError) -> bool:
        """A provider that rejects a request because it carries tools (detected once per model)."""
        if protocol != "native" or self._limits.protocol != "auto":
            return False
        # Only an answer that names tools: a 400 for another reason (a prompt too long) is not a verdict
        # on tool support and must not switch the model to text for the rest of the process.
        return (exc.status_code or 0) in _TOOL_REFUSAL_STATUSES and "tool" in str(exc).lower()


def is_review(completion: Completion) -> bool:
    """Whether an answer is a readable review; one that is not counts against its model's breaker."""
    return validation.parse(completion.text).review is not None
