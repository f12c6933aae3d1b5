"""What Quorum posts: a review outcome as a GitHub review, a check-run tally, and replies to commands.

Pure text building. The body ends with the hidden marker (`guardrails.lease.marker`) so a retry or a
later holder recognises what was posted; text the model wrote is untrusted and cannot forge one.
"""

from __future__ import annotations

import dataclasses
import re

from bot import errors, events, forge
from bot.domain import Decision, Finding, ReviewOutcome, RoundResult, Verdict
from guardrails import lease, pricing, review_coverage

MAX_BODY_CHARS = 65_536  # GitHub refuses longer review bodies and check-run summaries
# Room kept for what the adapter may add (inline comments GitHub refused are moved into the body).
BODY_BUDGET = 60_000
MAX_TITLE_CHARS = 140  # a commit status description holds no more
MAX_DETAIL_CHARS = 500
COMMANDS: tuple[str, ...] = tuple(v.value for v in events.Verb if v is not events.Verb.UNKNOWN)

_EVENTS = {
    Decision.APPROVED: forge.ReviewEvent.APPROVE,
    Decision.CHANGES_REQUESTED: forge.ReviewEvent.REQUEST_CHANGES,
    Decision.ESCALATED: forge.ReviewEvent.COMMENT,
}
# An escalation fails the check on purpose: a neutral conclusion passes a required check, and an
# escalated change must not look reviewed to anything that gates on it.
# An approval is pending, not success, until the merge gate's human part holds (`daemon/held_check.py`).
_TALLY = {
    Decision.APPROVED: forge.TallyState.PENDING,
    Decision.CHANGES_REQUESTED: forge.TallyState.FAILURE,
    Decision.ESCALATED: forge.TallyState.FAILURE,
}
_LABELS = {
    Decision.APPROVED: "approved",
    Decision.CHANGES_REQUESTED: "changes requested",
    Decision.ESCALATED: "escalated to a human",
}
_CUT_NOTE_ROOM = 90
_WORD = re.compile(r"[A-Za-z0-9_-]{1,30}")


def review_draft(
    outcome: ReviewOutcome, *, job_id: str, fence: int, round_index: int, head_sha: str, check_name: str
) -> forge.ReviewDraft:
    """The review to post for `outcome` on `head_sha`; its body ends with the hidden marker."""
    if outcome.head_sha != head_sha:
        raise errors.InputError(
            f"the outcome reviewed {outcome.head_sha[:12]}, not the head {head_sha[:12]} to post it on"
        )
    tag = lease.marker(job_id, fence, head_sha, round_index)
    middle = [
        _blockers(outcome),
        _summary(outcome),
        _rounds(outcome.rounds),
        _coverage(outcome),
        _not_inline(outcome),
    ]
    body = _assemble(_header(outcome, check_name), middle, tag)
    comments = tuple(_inline(f) for f in outcome.comments)
    # An approval the tripwire holds for a human must not count as an approving review on GitHub either.
    event = forge.ReviewEvent.COMMENT if outcome.needs_human else _EVENTS[outcome.decision]
    return forge.ReviewDraft(head_sha, event, body, comments)


def tally(outcome: ReviewOutcome) -> tuple[forge.TallyState, str, str]:
    """The check run (or commit status) for `outcome`: state, a short title, a Markdown summary."""
    approving = sum(1 for r in outcome.rounds if r.verdict is Verdict.APPROVE)
    title = f"{_LABELS[outcome.decision].capitalize()}: {approving} of {len(outcome.rounds)} rounds approved"
    if outcome.decision is Decision.ESCALATED:
        title = f"Escalated ({outcome.reason.value}): a human must decide"
    middle = [_blockers(outcome), _summary(outcome), _rounds(outcome.rounds), _coverage(outcome)]
    summary = _assemble(_verdict_line(outcome), middle, "")
    return _TALLY[outcome.decision], title[:MAX_TITLE_CHARS], summary


def dismissal_message(newer_sha: str, newer_decision: Decision) -> str:
    """Why Quorum retires its own earlier review: a newer head was reviewed, with this decision."""
    return (
        f"Superseded: Quorum reviewed the newer head `{newer_sha[:12]}` and its decision is "
        f"**{_LABELS[newer_decision]}**."
    )


def _header(outcome: ReviewOutcome, check_name: str) -> str:
    cost = pricing.micro_to_usd(outcome.cost_micro_usd)
    return (
        f"### {_clean(check_name)}: {_LABELS[outcome.decision]}\n\n{_verdict_line(outcome)}\n\n"
        f"`{outcome.base_sha[:12]}...{outcome.head_sha[:12]}` · {len(outcome.rounds)} round(s) · "
        f"{cost:.4f} USD"
    )


def _verdict_line(outcome: ReviewOutcome) -> str:
    detail = _clean(outcome.detail)[:MAX_DETAIL_CHARS]
    return f"**Decision:** {outcome.decision.value} ({outcome.reason.value})" + (
        f": {detail}" if detail else ""
    )


def _summary(outcome: ReviewOutcome) -> str:
    return _clean(outcome.summary.strip())


def _rounds(rounds: tuple[RoundResult, ...]) -> str:
    if not rounds:
        return ""
    lines = ["#### Rounds", "", "| round | model | verdict | findings | cost |", "|---|---|---|---|---|"]
    for r in rounds:
        verdict = r.verdict.value + (f" ({_cell(r.error)})" if r.error else "")
        cost = pricing.micro_to_usd(r.usage.cost_micro_usd)
        lines.append(f"| {r.index} | {_cell(r.model)} | {verdict} | {len(r.findings)} | {cost:.4f} USD |")
    return "\n".join(lines)


def _coverage(outcome: ReviewOutcome) -> str:
    cov = outcome.coverage
    lines = [
        "#### Coverage",
        "",
        f"{cov.files_reviewed} of {cov.files_total} file(s) reviewed; "
        f"{cov.redactions} secret(s) redacted before any model saw the diff.",
    ]
    if not cov.complete:
        lines.append("**Part of the change was not reviewed** because of a size limit.")
    if cov.skipped:
        lines += ["", f"Not reviewed by a model; {review_coverage.SUFFIX} before it can merge:", ""]
        lines += [f"- `{_code(s.path)}`: {s.reason.value.replace('_', ' ')}" for s in cov.skipped]
    return "\n".join(lines)


def _blockers(outcome: ReviewOutcome) -> str:
    """The blocking findings still open: no approval counts until a later head resolves each one."""
    if not outcome.open_blockers:
        return ""
    lines = [
        "#### Open blockers",
        "",
        "No approval counts while these stand; each is resolved only on a later push whose diff shows "
        "its fix (its lines changed, or a cited line of the diff holds the fix).",
        "",
    ]
    for item in outcome.open_blockers:
        f = item.finding
        where = f"`{_code(f.path)}` {f.side.value} line {f.line}"
        notes = [f"raised on `{item.sha[:12]}`"] if item.sha else []
        notes += [] if item.placed else ["not on a diff line"]
        body = _clean(f.body).replace("\n", " ")
        lines.append(f"- **{f.severity.value}** {where} ({', '.join(notes)}): {body}")
    return "\n".join(lines)


def _not_inline(outcome: ReviewOutcome) -> str:
    notes = list(dict.fromkeys(note for r in outcome.rounds for note in r.dropped))
    if not notes:
        return ""
    return "\n".join(["#### Findings not posted inline", "", *(f"- {_clean(n)}" for n in notes)])


def _inline(finding: Finding) -> Finding:
    return dataclasses.replace(finding, body=f"**{finding.severity.value}**: {_clean(finding.body)}")


def _assemble(header: str, middle: list[str], tail: str) -> str:
    """Header, the middle sections cut to fit the budget, and `tail` (the marker) as the last line."""
    kept = [s for s in middle if s]
    room = BODY_BUDGET - len(header) - len(tail) - 2 * (len(kept) + 2)
    parts = [header, *_fit(kept, max(room, 0)), tail]
    return "\n\n".join(p for p in parts if p)


def _fit(sections: list[str], budget: int) -> list[str]:
    """Cut the longest sections first, to one common length, until all fit in `budget`."""
    if sum(len(s) for s in sections) <= budget:
        return sections
    cap = _common_cap(sorted(len(s) for s in sections), budget)
    return [s if len(s) <= cap else _cut(s, cap) for s in sections]


def _common_cap(sizes: list[int], budget: int) -> int:
    """The largest length c such that cutting every size above c to c fits in `budget`."""
    remaining = budget
    for index, size in enumerate(sizes):
        share = remaining // (len(sizes) - index)
        if size > share:
            return share
        remaining -= size
    return remaining


def _cut(text: str, cap: int) -> str:
    keep = max(cap - _CUT_NOTE_ROOM, 0)
    head = text[:keep]
    newline = head.rfind("\n")
    if newline > keep // 2:
        head = head[:newline]  # end on a whole line, so a table row is never half shown
    omitted = len(text) - len(head)
    return f"{head}\n\n_… {omitted} characters cut here to stay under GitHub's size limit._"


def _clean(text: str) -> str:
    """Untrusted text made inert: no HTML comment can open, so no forged marker or hidden content."""
    return text.replace("<!--", "&lt;!--")


def _cell(text: str) -> str:
    return _clean(text).replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return text.replace("`", "'").replace("\n", " ")


@dataclasses.dataclass(frozen=True, slots=True)
class PullStatus:
    """What `/quorum status` reports."""

    state: str
    head_sha: str
    paused: bool = False
    decision: Decision | None = None
    approvals: int = 0
    min_approvals: int = 0
    waiting_for: tuple[str, ...] = ()  # e.g. the merge verdict's reasons


def command_reply(
    command: str,
    user: str,
    *,
    permitted: bool,
    status: PullStatus | None = None,
    refused_because: str = "",
) -> str:
    """The comment answering `/quorum <command>` by `user`; `refused_because` when it could not be done."""
    if command not in COMMANDS:
        word = f"`/quorum {command}`" if _WORD.fullmatch(command) else "That"
        known = ", ".join(f"`{c}`" for c in COMMANDS)
        return f"Sorry @{user}, {word} is not a command I know. I understand: {known}."
    if not permitted:
        return (
            f"Sorry @{user}, only people with write access to this repository can use "
            f"`/quorum {command}`. A maintainer can run it for you."
        )
    if refused_because:
        return f"@{user}, `/quorum {command}` did nothing: {_clean(refused_because)}."
    if command == "status":
        return _status_text(status)
    return _ACKNOWLEDGE[command].format(user=user, sha=(status.head_sha[:12] if status else "the head"))


_ACKNOWLEDGE = {
    "pause": "Paused by @{user}: Quorum will not review or merge this pull request until `/quorum resume`.",
    "resume": "Resumed by @{user}: Quorum reviews and may merge this pull request again.",
    "merge": (
        "@{user} approved `{sha}` for merging. Quorum merges it once the merge policy allows "
        "(approving rounds on this head, required checks green); a new push needs a new command."
    ),
    "escalate": (
        "Escalated by @{user}: Quorum leaves this pull request to a human; `/quorum resume` hands it back."
    ),
    "review": "@{user} asked for a new review of `{sha}`: it is queued.",
}


def _status_text(status: PullStatus | None) -> str:
    if status is None:
        return "Quorum has no record of this pull request yet; a review is queued when it is next seen."
    lines = [
        f"**State:** {status.state}{' (paused)' if status.paused else ''} at `{status.head_sha[:12]}`",
        f"**Approving rounds on this head:** {status.approvals} of {status.min_approvals} needed",
    ]
    if status.decision is not None:
        lines.append(f"**Last decision:** {_LABELS[status.decision]}")
    lines += [f"- waiting for: {_clean(w)}" for w in status.waiting_for]
    return "\n".join(lines)
