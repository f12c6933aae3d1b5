"""Review rounds and the consensus loop.

A round reviews the whole change (every chunk) with one reviewer (a model and a persona); consecutive
rounds rotate through the configured reviewers so they are not identical. Each chunk is an analysis
query: temperature 0, cached by prompt version + model + content hash, one repair attempt for invalid
output. The verdict is then decided by the consensus gate, never by the model.

With an agent and a toolbox factory, and a worktree on the change, each part is reviewed by the agent
loop instead (`agent.py`): not cached, since what the model reads depends on its own tool calls. Earlier
findings are settled by the rule of `carried.py` in both modes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.domain import FileDiff, OpenFinding, RoundResult, Step, TripwireHit, Usage, Verdict
from bot.errors import BudgetExceeded, DeadlineExceeded, ProviderError, QuorumError, UsageOverReservation
from bot.ports import ChatMessage, Completion, CompletionRequest, Progress, QueryCache, ToolBox
from bot.review import carried, parallel, prompts
from bot.review.agent import calls as agent_tools
from bot.review.agent import loop as agent
from bot.review.chunking import Chunk
from bot.review.llm_call import GuardedModel
from guardrails import budget, deadlines
from guardrails.clock import Clock
from guardrails.text import validation


@dataclass(frozen=True, slots=True)
class Reviewer:
    persona: str
    model: GuardedModel


@dataclass(frozen=True, slots=True)
class RoundConfig:
    max_output_tokens: int
    temperature: float
    max_comments: int
    cache_ttl_s: int
    round_timeout_s: float
    parallel_calls: int = 1  # parts of one round reviewed at once


@dataclass(frozen=True, slots=True)
class Change:
    """What every round reviews: the chunks, the files by path (for anchoring) and the PR text."""

    repo: str
    job: str
    chunks: tuple[Chunk, ...]
    files: Mapping[str, FileDiff]
    pr_text: str
    worktree: Path | None = None  # the head checkout the agent's tools read; None: single-call rounds
    # The head commit reviewed: the round budget cap belongs to one round on one head, and an earlier
    # finding raised on this head cannot be resolved here.
    head: str = ""
    contexts: Mapping[int, str] = field(default_factory=dict)  # chunk index -> widened code around it

    @property
    def view(self) -> carried.HeadView:
        return carried.HeadView(self.head, self.files, self.worktree)


# Builds the toolbox of one round: the worktree, and the paths the change touches (for the analysers).
ToolBoxFactory = Callable[[Path, Sequence[str]], ToolBox]


class RoundAborted(QuorumError):
    """A round stopped by a guardrail or a provider failure; carries what it did so far."""

    def __init__(self, partial: RoundResult, cause: QuorumError) -> None:
        super().__init__(str(cause))
        self.partial = partial
        self.cause = cause


@dataclass(frozen=True, slots=True)
class _Part:
    """What one part (chunk) of a round gave: its verdict, and its summary and findings or its error."""

    verdict: Verdict
    summary: str = ""
    items: tuple[validation.FindingOutput, ...] = ()
    error: str | None = None


@dataclass
class _Tally:
    usage: Usage = field(default_factory=Usage)
    parts: dict[int, _Part] = field(default_factory=dict)  # by chunk index, filled as parts finish
    errors: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    session: agent_tools.Session | None = None
    resolved: set[int] = field(default_factory=set)  # earlier findings some part resolved
    kept_open: set[int] = field(default_factory=set)  # earlier findings some part kept open

    @property
    def ordered(self) -> list[_Part]:
        """The parts that finished, in chunk order (they may finish in any order)."""
        return [self.parts[position] for position in sorted(self.parts)]

    @property
    def verdicts(self) -> list[Verdict]:
        return [part.verdict for part in self.ordered]

    def add(self, completion: Completion | None, cost: int) -> None:
        if completion is not None:
            self.usage += Usage(completion.input_tokens, completion.output_tokens, cost)


# What stops a round: a guardrail or the provider. Anything else is a bug and propagates as such.
_ABORTS = (BudgetExceeded, DeadlineExceeded, ProviderError, UsageOverReservation)


def _in_order(hits: Sequence[TripwireHit]) -> tuple[TripwireHit, ...]:
    """Tool results' tripwire hits in an order that does not depend on which part ran first."""
    return tuple(sorted(hits, key=lambda hit: (hit.path, hit.line, hit.source, hit.rule, hit.excerpt)))


def combine(verdicts: Sequence[Verdict]) -> Verdict:
    """A round's verdict from its chunks: one request for changes decides; one chunk without a
    verdict means the change was not fully judged; approval needs every chunk to approve."""
    if not verdicts:
        return Verdict.NONE
    if Verdict.REQUEST_CHANGES in verdicts:
        return Verdict.REQUEST_CHANGES
    if Verdict.NONE in verdicts:
        return Verdict.NONE
    return Verdict.APPROVE if all(v is Verdict.APPROVE for v in verdicts) else Verdict.COMMENT


class RoundRunner:
    """Runs one round over every chunk of a change."""

    def __init__(
        self,
        prompt_set: prompts.PromptSet,
        reviewers: Sequence[Reviewer],
        cache: QueryCache,
        clock: Clock,
        config: RoundConfig,
        progress: Progress,
        *,
        agent_loop: agent.Agent | None = None,
        toolbox_factory: ToolBoxFactory | None = None,
        on_step: Callable[[Step], None] = lambda step: None,
    ) -> None:
        self._prompts, self._reviewers, self._cache = prompt_set, tuple(reviewers), cache
        self._clock, self._config, self._progress = clock, config, progress
        self._agent, self._toolbox_factory, self._on_step = agent_loop, toolbox_factory, on_step
        self._schema = carried.SCHEMA if prompt_set.addresses_carried else validation.REVIEW_SCHEMA

    def reviewer(self, index: int) -> Reviewer:
        return self._reviewers[(index - 1) % len(self._reviewers)]

    async def run(
        self, index: int, change: Change, earlier: Sequence[OpenFinding], outer: deadlines.Deadline
    ) -> RoundResult:
        """One round. Raises RoundAborted when a guardrail or the provider stops it."""
        reviewer = self.reviewer(index)
        scope = budget.BudgetScope(change.repo, change.job, index, change.head)
        deadline = deadlines.nearest(
            outer, deadlines.Deadline.after(self._clock, "round", self._config.round_timeout_s)
        )
        tally, started = _Tally(), time.monotonic()
        tally.session = self._session(change, index, tally)

        async def part(position: int) -> None:
            item = self._input(reviewer, index, change, earlier, change.chunks[position])
            tally.parts[position] = await self._chunk(reviewer, item, scope, deadline, tally, change.view)

        try:
            async with deadlines.enforce(deadline, self._clock):
                # Each call reserves its own budget before it starts, so the parts running at once
                # never hold more than the round cap between them.
                await parallel.in_order(len(change.chunks), self._config.parallel_calls, part, _ABORTS)
        except _ABORTS as exc:
            if isinstance(exc, UsageOverReservation):
                tally.errors.append(exc.message)  # the report names the over-billed call
            raise RoundAborted(
                self._result(index, reviewer, change, earlier, tally, started, aborted=True), exc
            ) from exc
        return self._result(index, reviewer, change, earlier, tally, started)

    def _input(
        self,
        reviewer: Reviewer,
        index: int,
        change: Change,
        earlier: Sequence[OpenFinding],
        chunk: Chunk,
    ) -> prompts.RoundInput:
        self._progress.step(
            f"round {index}: part {chunk.index + 1}/{len(change.chunks)} "
            f"({reviewer.persona}, {reviewer.model.name})"
        )
        return prompts.RoundInput(
            reviewer.persona,
            index,
            chunk,
            len(change.chunks),
            change.pr_text,
            tuple(earlier),
            change.contexts.get(chunk.index, ""),
        )

    def _session(self, change: Change, index: int, tally: _Tally) -> agent_tools.Session | None:
        """The agent state of this round, or None for single-call rounds."""
        if self._agent is None or self._toolbox_factory is None or change.worktree is None:
            return None

        def record(step: Step) -> None:
            self._record(tally, step)
            if step.kind == "tool":
                self._progress.step(f"round {index}: part {step.chunk}: {step.name}")

        toolbox = self._toolbox_factory(change.worktree, tuple(change.files))
        return self._agent.session(toolbox, record)

    def _record(self, tally: _Tally, step: Step) -> None:
        tally.steps.append(step)
        self._on_step(step)

    async def _chunk(
        self,
        reviewer: Reviewer,
        item: prompts.RoundInput,
        scope: budget.BudgetScope,
        deadline: deadlines.Deadline,
        tally: _Tally,
        view: carried.HeadView,
    ) -> _Part:
        msgs = prompts.messages(self._prompts, item)
        if self._agent is not None and tally.session is not None:
            part = agent.Part(
                reviewer.model,
                msgs[0].content,
                msgs[1].content,
                item.chunk.index + 1,
                scope,
                deadline,
                self._config.max_output_tokens,
                self._config.temperature,
                self._schema,
            )
            outcome = await self._agent.review_part(tally.session, part)
            parsed, text = validation.Parsed(outcome.review, outcome.error), outcome.text
        else:
            parsed, text = await self._single(reviewer, msgs, scope, deadline, tally)
        if parsed.review is None:
            return _Part(Verdict.NONE, error=f"part {item.chunk.index + 1}: {parsed.error}")
        settled = carried.settle(
            item.carried, text, view, item.chunk.index + 1, claims_expected=self._prompts.addresses_carried
        )
        for step in settled.steps:
            self._record(tally, step)
        tally.resolved |= settled.resolved
        tally.kept_open |= settled.kept_open
        still = [o.finding for o in settled.open]
        return _Part(
            validation.effective_verdict(parsed.review, carried=still),
            validation.clean_text(parsed.review.summary, validation.MAX_SUMMARY_CHARS),
            tuple(parsed.review.findings),
        )

    async def _single(
        self,
        reviewer: Reviewer,
        msgs: Sequence[ChatMessage],
        scope: budget.BudgetScope,
        deadline: deadlines.Deadline,
        tally: _Tally,
    ) -> tuple[validation.Parsed, str]:
        """One cached analysis query with one repair attempt: the parsed review and the text it came from."""
        key = prompts.cache_key(
            self._prompts.version,
            reviewer.model.name,
            msgs,
            self._config.max_output_tokens,
            self._config.temperature,
        )
        cached = await self._cache.get(key)
        parsed = validation.parse(cached) if cached is not None else validation.Parsed(None, "not cached")
        text = cached or ""
        if parsed.review is None:
            completion, cost = await reviewer.model.call(
                self._request(msgs), scope, deadline, valid=agent.is_review
            )
            tally.add(completion, cost)
            text, parsed = completion.text, validation.parse(completion.text)
            if parsed.review is None:
                repair = prompts.repair_messages(self._prompts, msgs, text, parsed.error or "invalid")
                completion, cost = await reviewer.model.call(
                    self._request(repair), scope, deadline, valid=agent.is_review
                )
                tally.add(completion, cost)
                text, parsed = completion.text, validation.parse(completion.text)
            if parsed.review is not None:
                await self._cache.put(key, text, self._config.cache_ttl_s)
        return parsed, text

    def _request(self, msgs: Sequence[ChatMessage]) -> CompletionRequest:
        return CompletionRequest(
            tuple(msgs), self._config.max_output_tokens, self._config.temperature, self._schema
        )

    def _result(
        self,
        index: int,
        reviewer: Reviewer,
        change: Change,
        earlier: Sequence[OpenFinding],
        tally: _Tally,
        started: float,
        *,
        aborted: bool = False,
    ) -> RoundResult:
        parts = tally.ordered
        items = [item for part in parts for item in part.items]
        anchored = validation.anchor(items, change.files, self._config.max_comments)
        complete = len(tally.verdicts) == len(change.chunks) and not aborted
        verdict = combine(tally.verdicts) if complete else Verdict.NONE
        spent = tally.usage + (tally.session.usage if tally.session is not None else Usage())
        usage = Usage(
            spent.input_tokens,
            spent.output_tokens,
            spent.cost_micro_usd,
            int((time.monotonic() - started) * 1000),
        )
        return RoundResult(
            index,
            reviewer.model.name,
            verdict,
            "\n\n".join(part.summary for part in parts if part.error is None),
            anchored.findings,
            usage,
            anchored.notes,
            "; ".join([*(part.error for part in parts if part.error), *tally.errors]) or None,
            tuple(sorted(tally.steps, key=lambda step: step.chunk)),  # stable: each part's own order kept
            anchored.unplaced,
            self._open_blockers(change, earlier, anchored, tally, aborted),
            tripwire=_in_order(tally.session.tripwire) if tally.session is not None else (),
        )

    @staticmethod
    def _open_blockers(
        change: Change,
        earlier: Sequence[OpenFinding],
        anchored: validation.Anchored,
        tally: _Tally,
        aborted: bool,
    ) -> tuple[OpenFinding, ...]:
        """The blocking findings open after this round: the earlier ones no part resolved (none is when a
        part gave no valid review or the round was cut short), then this round's own, placed on the diff
        or not, one per line."""
        whole = (
            not aborted and len(tally.verdicts) == len(change.chunks) and Verdict.NONE not in tally.verdicts
        )
        gone = tally.resolved - tally.kept_open if whole else set()
        kept = [o for i, o in enumerate(earlier) if o.blocking and i not in gone]
        view = change.view
        new = [
            OpenFinding(f, change.head, carried.excerpt(f, view), placed)
            for placed, group in ((True, anchored.findings), (False, anchored.unplaced))
            for f in group
            if f.severity.blocking
        ]
        seen = {o.finding.key for o in kept}
        for item in new:
            if item.finding.key not in seen:
                seen.add(item.finding.key)
                kept.append(item)
        return tuple(kept)
