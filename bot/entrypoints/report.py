"""What `quorum review` prints: one JSON object, Markdown, or text for a terminal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain import Finding, OpenFinding, ReviewOutcome, Step, TripwireHit
from bot.review.planning import Plan
from guardrails import review_coverage
from guardrails.pricing import micro_to_usd


@dataclass(frozen=True, slots=True)
class Meta:
    provider: str
    prompt_version: str
    cost_micro: int  # everything the ledger charged, failed and repair calls included


def _comment(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {"path": f.path, "line": f.line, "side": f.side.value}
    if f.start_line is not None:
        out["start_line"] = f.start_line
    out.update(severity=f.severity.value, body=f.body)
    return out


def _blocker(o: OpenFinding) -> dict[str, Any]:
    return {**_comment(o.finding), "raised_on": o.sha, "placed": o.placed}


def _hit(h: TripwireHit) -> dict[str, Any]:
    return {"source": h.source, "rule": h.rule, "path": h.path, "line": h.line, "excerpt": h.excerpt}


def _tripwire_line(outcome: ReviewOutcome) -> list[str]:
    """One line saying the tripwire tripped; the hits themselves are listed in the summary."""
    if not outcome.tripwire:
        return []
    held = "an approval of this head needs a human" if outcome.needs_human else "reported"
    return [f"tripwire: {len(outcome.tripwire)} hit(s), {held}"]


def _step(s: Step) -> dict[str, Any]:
    """One transcript step: a model turn (tokens, cost, latency), a tool call (redacted arguments, result
    size, duration) or how an earlier finding was settled."""
    out: dict[str, Any] = {"kind": s.kind, "part": s.chunk, "turn": s.turn, "name": s.name, "ok": s.ok}
    if s.kind == "model":
        out.update(
            input_tokens=s.input_tokens,
            output_tokens=s.output_tokens,
            cost_usd=micro_to_usd(s.cost_micro_usd),
            duration_ms=s.duration_ms,
        )
    elif s.kind == "tool":
        out.update(
            arguments=s.arguments,
            result_bytes=s.result_bytes,
            bytes_read=s.bytes_read,
            duration_ms=s.duration_ms,
        )
    out["detail"] = s.detail
    return out


def to_json(outcome: ReviewOutcome, meta: Meta) -> dict[str, Any]:
    """The documented JSON object (see README, "JSON output")."""
    cov = outcome.coverage
    return {
        "decision": outcome.decision.value,
        "reason": outcome.reason.value,
        "detail": outcome.detail,
        "base": outcome.base_sha,
        "head": outcome.head_sha,
        "merge_base": outcome.extra.get("merge_base", ""),
        "context_cut": [p for p in outcome.extra.get("context_cut", "").split(", ") if p],
        "provider": meta.provider,
        "prompt_version": meta.prompt_version,
        "rounds": [
            {
                "index": r.index,
                "model": r.model,
                "verdict": r.verdict.value,
                "input_tokens": r.usage.input_tokens,
                "output_tokens": r.usage.output_tokens,
                "cost_usd": micro_to_usd(r.usage.cost_micro_usd),
                "duration_ms": r.usage.duration_ms,
                "findings": len(r.findings),
                "error": r.error,
                "steps": [_step(s) for s in r.steps],
            }
            for r in outcome.rounds
        ],
        "comments": [_comment(f) for f in outcome.comments],
        "open_blockers": [_blocker(o) for o in outcome.open_blockers],
        "tripwire": [_hit(h) for h in outcome.tripwire],
        "needs_human": outcome.needs_human,
        "summary": outcome.summary,
        "coverage": {
            "files_total": cov.files_total,
            "files_reviewed": cov.files_reviewed,
            "complete": cov.complete,
            "redactions": cov.redactions,
            "skipped": [{"path": s.path, "reason": s.reason.value} for s in cov.skipped],
            # Never merged unattended: each needs a maintainer's approval of the head (see README, Merging).
            "unreviewed": [s.path for s in cov.skipped],
            "shown": list(cov.seen_paths),
            "symlinks": [{"path": p, "target": t} for p, t in cov.links],
            "submodules": list(cov.submodules),
        },
        "cost_usd": micro_to_usd(meta.cost_micro),
    }


def to_markdown(outcome: ReviewOutcome, meta: Meta) -> str:
    lines = [
        f"## Quorum review: **{outcome.decision.value}** ({outcome.reason.value})",
        "",
        f"`{outcome.base_sha[:12]}...{outcome.head_sha[:12]}` · {len(outcome.rounds)} round(s) · "
        f"{micro_to_usd(meta.cost_micro):.4f} USD · prompt {meta.prompt_version}",
        "",
        *(f"**{t}**\n" for t in _tripwire_line(outcome)),
    ]
    if outcome.summary:
        lines += [outcome.summary, ""]
    if outcome.comments:
        lines += ["| file | line | severity | comment |", "|---|---|---|---|"]
        lines += [
            f"| `{c.path}` | {c.side.value[0]}{c.line} | {c.severity.value} | {_cell(c.body)} |"
            for c in outcome.comments
        ]
        lines.append("")
    if outcome.open_blockers:
        lines += ["Open blockers (no approval counts while one stands):", ""]
        lines += ["| file | line | severity | raised on | finding |", "|---|---|---|---|---|"]
        lines += [
            f"| `{o.finding.path}` | {o.finding.side.value[0]}{o.finding.line} | {o.finding.severity.value} "
            f"| `{o.sha[:12]}`{'' if o.placed else ' (not on a diff line)'} | {_cell(o.finding.body)} |"
            for o in outcome.open_blockers
        ]
        lines.append("")
    lines += _skipped(outcome)
    return "\n".join(lines)


def to_text(outcome: ReviewOutcome, meta: Meta) -> str:
    lines = [
        f"decision: {outcome.decision.value} ({outcome.reason.value})",
        f"commits:  {outcome.base_sha[:12]}...{outcome.head_sha[:12]}",
        *_tripwire_line(outcome),
    ]
    for r in outcome.rounds:
        lines.append(
            f"round {r.index}: {r.verdict.value:<16} {r.model}  {r.usage.input_tokens}+"
            f"{r.usage.output_tokens} tokens  {micro_to_usd(r.usage.cost_micro_usd):.4f} USD  "
            f"{r.usage.duration_ms} ms" + (f"  ({r.error})" if r.error else "")
        )
    lines.append(f"cost:     {micro_to_usd(meta.cost_micro):.4f} USD")
    cov = outcome.coverage
    lines.append(
        f"coverage: {cov.files_reviewed}/{cov.files_total} files reviewed, "
        f"{cov.redactions} secret(s) redacted"
    )
    if cov.skipped:
        lines.append(f"not reviewed ({review_coverage.SUFFIX} before any merge):")
        lines += [f"  {s.path}: {s.reason.value}" for s in cov.skipped]
    if outcome.comments:
        lines.append("comments:")
        lines += [
            f"  {c.path}:{c.line} [{c.side.value} {c.severity.value}] {c.body}" for c in outcome.comments
        ]
    if outcome.open_blockers:
        lines.append("open blockers:")
        lines += [
            f"  {o.finding.path}:{o.finding.line} [{o.finding.side.value} {o.finding.severity.value}] "
            f"raised on {o.sha[:12]}{'' if o.placed else ', not on a diff line'}: {o.finding.body}"
            for o in outcome.open_blockers
        ]
    if outcome.summary:
        lines += ["summary:", *("  " + ln for ln in outcome.summary.splitlines())]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _skipped(outcome: ReviewOutcome) -> list[str]:
    if not outcome.coverage.skipped:
        return []
    heading = f"Not reviewed ({review_coverage.SUFFIX} before any merge):"
    return [heading, *(f"- `{s.path}`: {s.reason.value}" for s in outcome.coverage.skipped), ""]


def _usd(micro: int | None) -> str:
    return (
        "unbounded (no price known: the review would be refused)"
        if micro is None
        else f"{micro_to_usd(micro):.4f} USD"
    )


def plan_text(plan: Plan, model: str) -> str:
    """The dry run as text: chunks, token estimates and the cost bound against the caps."""
    lines = [f"dry run: {len(plan.chunks)} chunk(s) for model {model}; no LLM was called"]
    for c in plan.chunks:
        lines.append(
            f"  chunk {c.index + 1}: {len(c.files)} file(s), ~{c.diff_tokens} diff tokens, "
            f"<= {c.input_tokens_upper} input tokens, <= {_usd(c.call_upper_micro)} per call"
        )
        lines += [f"    {p}" for p in c.files]
    lines.append(
        f"upper bound per round:  {_usd(plan.round_upper_micro)} "
        f"(cap {micro_to_usd(plan.limits.per_round):.2f} USD)"
    )
    lines.append(
        f"upper bound per review: {_usd(plan.review_upper_micro)} over {plan.max_rounds} rounds "
        f"(cap {micro_to_usd(plan.limits.per_pr):.2f} USD)"
    )
    return "\n".join(lines)


def plan_json(plan: Plan, model: str) -> dict[str, Any]:
    def usd(m: int | None) -> float | None:
        return None if m is None else micro_to_usd(m)

    return {
        "dry_run": True,
        "model": model,
        "chunks": [
            {
                "index": c.index,
                "files": list(c.files),
                "diff_tokens": c.diff_tokens,
                "input_tokens_upper": c.input_tokens_upper,
                "call_upper_usd": usd(c.call_upper_micro),
            }
            for c in plan.chunks
        ],
        "round_upper_usd": usd(plan.round_upper_micro),
        "review_upper_usd": usd(plan.review_upper_micro),
        "caps": {
            "per_round_usd": micro_to_usd(plan.limits.per_round),
            "per_pr_usd": micro_to_usd(plan.limits.per_pr),
        },
        "max_rounds": plan.max_rounds,
    }
