"""Review rounds and the consensus loop.

A round reviews the whole change (every chunk) with one reviewer (a model and a persona); consecutive
rounds rotate through the configured reviewers so they are not identical. Each chunk is an analysis
query: temperature 0, cached by prompt version + model + content hash, one repair attempt for invalid
output. The verdict is then decided by the consensus gate, never by the model.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.domain import FileDiff, Finding, RoundResult, Usage, Verdict
from bot.errors import BudgetExceeded, DeadlineExceeded, ProviderError, QuorumError
from bot.ports import ChatMessage, Completion, CompletionRequest, Progress, QueryCache
from bot.review import prompts
from bot.review.chunking import Chunk
from bot.review.llm_call import GuardedModel
from guardrails import budget, deadlines, validation
from guardrails.clock import Clock


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


@dataclass(frozen=True, slots=True)
class Change:
    """What every round reviews: the chunks, the files by path (for anchoring) and the PR text."""

    repo: str
    job: str
    chunks: tuple[Chunk, ...]
    files: Mapping[str, FileDiff]
    pr_text: str


class RoundAborted(QuorumError):
    """A round stopped by a guardrail or a provider failure; carries what it did so far."""

    def __init__(self, partial: RoundResult, cause: QuorumError) -> None:
        super().__init__(str(cause))
        self.partial = partial
        self.cause = cause


@dataclass
class _Tally:
    usage: Usage = field(default_factory=Usage)
    verdicts: list[Verdict] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    items: list[validation.FindingOutput] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, completion: Completion | None, cost: int) -> None:
        if completion is not None:
            self.usage += Usage(completion.input_tokens, completion.output_tokens, cost)


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
    ) -> None:
        self._prompts, self._reviewers, self._cache = prompt_set, tuple(reviewers), cache
        self._clock, self._config, self._progress = clock, config, progress

    def reviewer(self, index: int) -> Reviewer:
        return self._reviewers[(index - 1) % len(self._reviewers)]

    async def run(
        self, index: int, change: Change, carried: Sequence[Finding], outer: deadlines.Deadline
    ) -> RoundResult:
        """One round. Raises RoundAborted when a guardrail or the provider stops it."""
        reviewer = self.reviewer(index)
        scope = budget.BudgetScope(change.repo, change.job, index)
        deadline = deadlines.nearest(
            outer, deadlines.Deadline.after(self._clock, "round", self._config.round_timeout_s)
        )
        tally, started = _Tally(), time.monotonic()
        try:
            async with deadlines.enforce(deadline, self._clock):
                for chunk in change.chunks:
                    self._progress.step(
                        f"round {index}: part {chunk.index + 1}/{len(change.chunks)} "
                        f"({reviewer.persona}, {reviewer.model.name})"
                    )
                    item = prompts.RoundInput(
                        reviewer.persona, index, chunk, len(change.chunks), change.pr_text, tuple(carried)
                    )
                    await self._chunk(reviewer, item, scope, deadline, tally)
        except (BudgetExceeded, DeadlineExceeded, ProviderError) as exc:
            raise RoundAborted(
                self._result(index, reviewer, change, carried, tally, started, aborted=True), exc
            ) from exc
        return self._result(index, reviewer, change, carried, tally, started)

    async def _chunk(
        self,
        reviewer: Reviewer,
        item: prompts.RoundInput,
        scope: budget.BudgetScope,
        deadline: deadlines.Deadline,
        tally: _Tally,
    ) -> None:
        msgs = prompts.messages(self._prompts, item)
        key = prompts.cache_key(
            self._prompts.version,
            reviewer.model.name,
            msgs,
            self._config.max_output_tokens,
            self._config.temperature,
        )
        cached = await self._cache.get(key)
        parsed = validation.parse(cached) if cached is not None else validation.Parsed(None, "not cached")
        if parsed.review is None:
            completion, cost = await reviewer.model.call(self._request(msgs), scope, deadline)
            tally.add(completion, cost)
            text, parsed = completion.text, validation.parse(completion.text)
            if parsed.review is None:
                repair = prompts.repair_messages(self._prompts, msgs, text, parsed.error or "invalid")
                completion, cost = await reviewer.model.call(self._request(repair), scope, deadline)
                tally.add(completion, cost)
                text, parsed = completion.text, validation.parse(completion.text)
            if parsed.review is not None:
                await self._cache.put(key, text, self._config.cache_ttl_s)
        if parsed.review is None:
            tally.verdicts.append(Verdict.NONE)
            tally.errors.append(f"part {item.chunk.index + 1}: {parsed.error}")
            return
        tally.verdicts.append(validation.effective_verdict(parsed.review, carried=item.carried))
        tally.summaries.append(validation.clean_text(parsed.review.summary, validation.MAX_SUMMARY_CHARS))
        tally.items.extend(parsed.review.findings)

    def _request(self, msgs: Sequence[ChatMessage]) -> CompletionRequest:
        return CompletionRequest(
            tuple(msgs), self._config.max_output_tokens, self._config.temperature, validation.REVIEW_SCHEMA
        )

    def _result(
        self,
        index: int,
        reviewer: Reviewer,
        change: Change,
        carried: Sequence[Finding],
        tally: _Tally,
        started: float,
        *,
        aborted: bool = False,
    ) -> RoundResult:
        anchored = validation.anchor(tally.items, change.files, self._config.max_comments)
        complete = len(tally.verdicts) == len(change.chunks) and not aborted
        verdict = combine(tally.verdicts) if complete else Verdict.NONE
        usage = Usage(
            tally.usage.input_tokens,
            tally.usage.output_tokens,
            tally.usage.cost_micro_usd,
            int((time.monotonic() - started) * 1000),
        )
        return RoundResult(
            index,
            reviewer.model.name,
            verdict,
            "\n\n".join(tally.summaries),
            anchored.findings,
            usage,
            anchored.notes,
            "; ".join(tally.errors) or None,
        )
