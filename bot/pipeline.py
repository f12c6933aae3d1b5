"""The review pipeline for one head commit: diff, filter, redact, chunk, rounds, consensus, decision.

Every state change goes through the lifecycle; the whole review runs under the job deadline and inside
a worktree that is removed at the end, whatever happens.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain import (
    Coverage,
    Decision,
    FileDiff,
    Finding,
    Hunk,
    HunkLines,
    LineKind,
    OpenFinding,
    Reason,
    ReviewOutcome,
    RoundResult,
    TripwireHit,
    Verdict,
)
from bot.errors import BudgetExceeded, DeadlineExceeded, UsageOverReservation
from bot.ports import Progress
from bot.review import chunking, diffstream, filters, gather
from bot.review.rounds import Change, RoundAborted, RoundRunner
from bot.review.tree_ahead import TreeAhead
from guardrails import consensus, deadlines, workspace
from guardrails.clock import Clock
from guardrails.text import redaction, tripwire, validation
from statemachine.lifecycle import DECISION_TRIGGERS, Lifecycle

_ATTRIBUTES_BYTES = 256 * 1024
_PROBE_BYTES = 64 * 1024  # enough of a file to tell text from binary
_MAX_PROBES = 50


@dataclass(frozen=True, slots=True)
class ReviewRequest:
    source: workspace.RepoSource
    head: str
    base: str | None = None
    job_id: str = "local"
    pr_text: str = ""  # the PR's title and description: the author's words, scanned by the tripwire
    instructions: str = ""  # the repository's own review instructions (default branch): trusted
    open_blockers: tuple[OpenFinding, ...] = ()  # blocking findings left open on earlier heads


@dataclass(frozen=True, slots=True)
class PrepareDeps:
    """What turning refs into chunks needs (and all a dry run needs)."""

    workspaces: workspace.Workspaces
    redactor: redaction.Redactor
    filter_policy: filters.FilterPolicy
    chunk_budget_tokens: int
    progress: Progress


@dataclass(frozen=True, slots=True)
class ReviewDeps:
    prep: PrepareDeps
    runner: RoundRunner
    clock: Clock
    policy: consensus.ConsensusPolicy
    job_timeout_s: float
    max_comments: int
    context: gather.ContextPolicy | None = None  # None: rounds see the diff alone
    speculative: bool = False  # the rounds the streak still needs start together (`_next_rounds`)


@dataclass(frozen=True, slots=True)
class Prepared:
    """The change as the rounds will see it."""

    base_sha: str
    head_sha: str
    merge_base: str
    files: tuple[FileDiff, ...]  # reviewed files, redacted
    chunks: tuple[chunking.Chunk, ...]
    coverage: Coverage
    pr_text: str = ""  # the PR's title and description as a human sees them, redacted like the diff
    tripwire: tuple[TripwireHit, ...] = ()  # hits in the reviewed diff and the PR text
    authored: frozenset[str] = frozenset()  # what the PR added to the tree (see `tripwire.from_pr`)


def redact_files(files: Sequence[FileDiff], redactor: redaction.Redactor) -> tuple[list[FileDiff], int]:
    """The files with every secret in their lines replaced, and how many were found."""
    out: list[FileDiff] = []
    total = 0
    for diff in files:
        texts = [line.text for hunk in diff.hunks for line in hunk.lines]
        clean, count = redactor.redact_lines(texts)
        total += count
        if count == 0:
            out.append(diff)
            continue
        it = iter(clean)
        hunks = tuple(_with_texts(h, [next(it) for _ in h.lines]) for h in diff.hunks)
        out.append(dataclasses.replace(diff, hunks=hunks))
    return out, total


def _with_texts(hunk: Hunk, texts: list[str]) -> Hunk:
    """`hunk` with its lines' texts replaced by `texts`, kept compact when it was."""
    lines = tuple(dataclasses.replace(ln, text=text) for ln, text in zip(hunk.lines, texts, strict=True))
    joined = "\n".join(ln.kind + ln.text for ln in lines)
    if isinstance(hunk.lines, HunkLines) and joined.count("\n") == len(lines) - 1:
        return dataclasses.replace(hunk, lines=HunkLines(joined, hunk.lines.old_start, hunk.lines.new_start))
    return dataclasses.replace(hunk, lines=lines)


async def prepare(request: ReviewRequest, deps: PrepareDeps) -> Prepared:
    """Resolve refs, diff merge-base...head in the mirror, and turn it into reviewable chunks."""
    return await prepare_fetched(request, deps, await fetch_refs(request, deps))


async def fetch_refs(request: ReviewRequest, deps: PrepareDeps) -> tuple[str, str]:
    """The base and head SHAs, both fetched into the mirror."""
    ws = deps.workspaces
    deps.progress.step("resolving refs")
    base_ref = request.base or await ws.default_branch(request.source)
    base_sha, head_sha = await asyncio.gather(
        ws.resolve(request.source, base_ref), ws.resolve(request.source, request.head)
    )
    await ws.fetch(request.source, [base_sha, head_sha])
    return base_sha, head_sha


async def prepare_fetched(request: ReviewRequest, deps: PrepareDeps, shas: tuple[str, str]) -> Prepared:
    """`prepare` once `fetch_refs` has resolved and fetched (base, head)."""
    ws = deps.workspaces
    base_sha, head_sha = shas
    deps.progress.step("computing the diff")
    merge_base, parsed = await ws.diff_stream(request.source, base_sha, head_sha, diffstream.parse_all)
    base = await base_facts(ws, request.source, (base_sha, merge_base, head_sha), parsed)
    kept, skipped = filters.apply(parsed, deps.filter_policy, base)
    redacted, redactions = redact_files(kept, deps.redactor)
    pr_text, in_text = deps.redactor.redact(request.pr_text)
    instructions, in_instructions = deps.redactor.redact(request.instructions)

    def shown(path: str) -> str:
        return deps.redactor.redact_path(path)[0]

    chunks, too_big = chunking.build_chunks(redacted, deps.chunk_budget_tokens, shown)
    reviewed = {f.path for c in chunks for f in c.files}
    found = redactions + in_text + in_instructions
    files = tuple(f for f in redacted if f.path in reviewed)
    coverage = Coverage(len(parsed), len(reviewed), (*skipped, *too_big), found, *_shown(files, parsed))
    hits = tripwire.unique([*tripwire.scan_description(pr_text), *tripwire.scan_files(files, shown)])
    visible = "\n\n".join(p for p in (tripwire.visible_description(pr_text), instructions) if p)
    authored = tripwire.authored_text(parsed)
    return Prepared(
        base_sha,
        head_sha,
        merge_base,
        files,
        tuple(chunks),
        coverage,
        visible,
        tripwire=hits,
        authored=authored,
    )


async def base_facts(
    ws: workspace.Workspaces,
    source: workspace.RepoSource,
    commits: tuple[str, str, str],
    parsed: Sequence[FileDiff],
) -> filters.BaseFacts:
    """What the base says about the changed paths: its `.gitattributes` (the target branch's, never the
    PR's), and which files git diffs as binary were text on the merge base or hold text at the head."""
    base_sha, merge_base, head_sha = commits
    attributes = await ws.read_blob(source, base_sha, ".gitattributes", max_bytes=_ATTRIBUTES_BYTES)
    found = filters.from_gitattributes(attributes.decode("utf-8", "replace") if attributes else "")
    textual: set[str] = set()
    binaries = [d for d in parsed if d.is_binary and not filters.is_submodule(d)]
    # Probing only labels the skip (both labels need a human to merge): bound the git calls it costs.
    for diff in binaries[:_MAX_PROBES]:
        sides = ((merge_base, diff.old_path), (head_sha, diff.new_path))
        for sha, path in sides:
            data = await ws.read_blob(source, sha, path, max_bytes=_PROBE_BYTES) if path else None
            if data is not None and filters.looks_like_text(data):
                textual.update(p for p in (diff.old_path, diff.new_path) if p)
    return dataclasses.replace(found, textual=frozenset(textual))


def _shown(
    files: Sequence[FileDiff], parsed: Sequence[FileDiff]
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The paths the model is shown (both names of a rename), the changed symlinks with their targets,
    and the changed submodules: what the merge gate later compares with the code host's listing."""
    seen = dict.fromkeys(p for f in files for p in (f.old_path, f.new_path) if p)
    links: list[tuple[str, str]] = []
    for diff in parsed:
        if diff.new_mode == filters.SYMLINK_MODE and diff.new_path:
            added = [ln.text for h in diff.hunks for ln in h.lines if ln.kind is LineKind.ADDED]
            links.append((diff.new_path, added[0] if added else ""))
    submodules = tuple(diff.path for diff in parsed if filters.is_submodule(diff))
    return tuple(seen), tuple(links), submodules


async def review(request: ReviewRequest, deps: ReviewDeps) -> ReviewOutcome:
    """Review one head commit to a decision, through a lifecycle of its own (the local CLI's)."""
    lifecycle = Lifecycle(deps.clock)
    lifecycle.fire("start_review", actor="quorum", reason=f"review of {request.head}")
    outcome = await decide(request, deps)
    lifecycle.fire(DECISION_TRIGGERS[outcome.decision], actor="quorum", reason=outcome.reason.value)
    return outcome


async def decide(request: ReviewRequest, deps: ReviewDeps) -> ReviewOutcome:
    """Review one head commit to a decision; the caller owns the PR's lifecycle."""
    job_deadline = deadlines.Deadline.after(deps.clock, "review_job", deps.job_timeout_s)
    prepared: Prepared | None = None
    rounds: list[RoundResult] = []
    extra: dict[str, str] = {}
    try:
        async with deadlines.enforce(job_deadline, deps.clock):
            shas = await fetch_refs(request, deps.prep)
            # The head is checked out while the diff is parsed, filtered, redacted and chunked.
            async with TreeAhead(deps.prep.workspaces, request.source, shas[1], request.job_id) as tree:
                prepared = await prepare_fetched(request, deps.prep, shas)
                gate = await _rounds(request, deps, prepared, rounds, tree, job_deadline, extra)
    except DeadlineExceeded as exc:
        gate = consensus.GateResult(Decision.ESCALATED, Reason.TIMEOUT, 0, str(exc))
    if prepared is None:  # the job deadline passed before the diff was ready
        prepared = Prepared("", "", "", (), (), Coverage(0, 0))
    still = rounds[-1].open_blockers if rounds else request.open_blockers
    return _outcome(prepared, rounds, gate, deps.max_comments, extra, still)


async def _rounds(
    request: ReviewRequest,
    deps: ReviewDeps,
    prepared: Prepared,
    rounds: list[RoundResult],
    ahead: TreeAhead,
    job_deadline: deadlines.Deadline,
    extra: dict[str, str],
) -> consensus.GateResult:
    if not prepared.chunks:
        return consensus.GateResult(
            Decision.ESCALATED, Reason.NOTHING_TO_REVIEW, 0, "no file of the change could be reviewed"
        )
    change = await _change(request, deps, prepared, ahead, extra)
    while True:
        still = rounds[-1].open_blockers if rounds else request.open_blockers
        gate = consensus.decide(
            [r.verdict for r in rounds],
            deps.policy,
            coverage_complete=prepared.coverage.complete,
            open_blockers=len(still),
        )
        if gate.final:
            return gate
        aborted = await _next_rounds(deps, change, rounds, gate.streak, _carried(still, rounds), job_deadline)
        if aborted is not None:
            return aborted


async def _change(
    request: ReviewRequest, deps: ReviewDeps, prepared: Prepared, ahead: TreeAhead, extra: dict[str, str]
) -> Change:
    """The change as every round reviews it: the head checkout, and the code around the hunks."""
    deps.prep.progress.step("checking out the head")
    tree = await ahead.path()
    contexts: dict[int, str] = {}
    if deps.context is not None:
        deps.prep.progress.step("reading the code around the hunks")
        found = await gather.gather(tree, prepared.chunks, deps.prep.redactor, deps.context)
        contexts = found.texts
        if found.cut:  # the diff itself is still reviewed whole; only the widened code is missing
            extra["context_cut"] = ", ".join(found.cut)
    return Change(
        request.source.name,
        request.job_id,
        prepared.chunks,
        {f.path: f for f in prepared.files},
        prepared.pr_text,
        worktree=tree,
        contexts=contexts,
        head=prepared.head_sha,
    )


async def _next_rounds(
    deps: ReviewDeps,
    change: Change,
    rounds: list[RoundResult],
    streak: int,
    carried: Sequence[OpenFinding],
    job_deadline: deadlines.Deadline,
) -> consensus.GateResult | None:
    """Run the next round; with speculative rounds, every round the streak still needs, all at once.
    They are read in order and kept up to the first that does not approve: the ones after it started
    without its findings, so they are cancelled (calls not yet sent reserve nothing) and run again with
    its memory. A round stopped by a guardrail ends the review."""
    policy = deps.policy
    ahead = max(1, policy.min_approvals - streak) if deps.speculative else 1
    ahead = min(ahead, policy.max_rounds - len(rounds))
    first = len(rounds) + 1
    tasks = [
        asyncio.create_task(deps.runner.run(first + i, change, carried, job_deadline)) for i in range(ahead)
    ]
    try:
        for task in tasks:
            try:
                rounds.append(await task)
            except RoundAborted as exc:
                rounds.append(exc.partial)
                return consensus.GateResult(Decision.ESCALATED, _reason(exc), 0, str(exc.cause))
            if rounds[-1].verdict is not Verdict.APPROVE or rounds[-1].open_blockers:
                break
        return None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _carried(still: Sequence[OpenFinding], rounds: Sequence[RoundResult]) -> list[OpenFinding]:
    """What the next round must address: the open blockers, then this head's other findings so far."""
    keys = {o.finding.key for o in still}
    others = validation.merge_duplicates([f for r in rounds for f in r.findings if f.key not in keys])
    return [*still, *(OpenFinding(f) for f in others)]


def _reason(exc: RoundAborted) -> Reason:
    if isinstance(exc.cause, UsageOverReservation):
        return Reason.USAGE_OVER_RESERVATION
    if isinstance(exc.cause, BudgetExceeded):
        return Reason.BUDGET_EXCEEDED
    if isinstance(exc.cause, DeadlineExceeded):
        return Reason.TIMEOUT
    return Reason.PROVIDER_ERROR


def _outcome(
    prepared: Prepared,
    rounds: Sequence[RoundResult],
    gate: consensus.GateResult,
    max_comments: int,
    extra: dict[str, str],
    still: Sequence[OpenFinding] = (),
) -> ReviewOutcome:
    assert gate.decision is not None and gate.reason is not None
    read = [h for r in rounds for h in r.tripwire if tripwire.from_pr(h, prepared.authored)]
    hits = tripwire.unique([*prepared.tripwire, *read])
    # The model's findings first: on a shared line its words lead and the tripwire's note follows.
    found = [*(f for r in rounds for f in r.findings), *tripwire.as_findings(hits)]
    findings: list[Finding] = validation.merge_duplicates(found)
    comments, over = validation.cap(findings, max_comments)
    notes = [n for r in rounds for n in r.dropped] + over
    last = next((r.summary for r in reversed(rounds) if r.summary), "")
    parts = (last, gate.detail, tripwire.summary(hits), _notes(notes))
    summary = "\n\n".join(p for p in parts if p)
    return ReviewOutcome(
        gate.decision,
        gate.reason,
        prepared.base_sha,
        prepared.head_sha,
        tuple(rounds),
        tuple(comments),
        summary,
        prepared.coverage,
        gate.detail,
        {"merge_base": prepared.merge_base, **extra},
        tuple(still),
        tripwire=hits,
    )


def _notes(notes: Sequence[str]) -> str:
    unique = list(dict.fromkeys(notes))
    return "Not placed on a diff line:\n" + "\n".join(f"- {n}" for n in unique) if unique else ""
