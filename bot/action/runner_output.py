"""What a workflow run shows: the job summary, annotations on findings, log groups and step outputs.

Pure text building plus appends to the files the runner names (`GITHUB_STEP_SUMMARY`, `GITHUB_OUTPUT`).
Workflow commands are escaped as the runner expects, so a finding's text cannot end its annotation early
or inject another command.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from bot.action.run import PullReport, RunReport
from bot.action.writers import FORK_NOTE
from bot.domain import Finding, Severity
from guardrails import pricing

_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.MAJOR: "error",
    Severity.MINOR: "warning",
    Severity.NIT: "notice",
}


def escape_data(text: str) -> str:
    """A command's message: `%`, CR and LF encoded (the runner decodes them)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value: also `:` and `,`, which would end it."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    """`::warning file=…,line=…::…` (or error/notice by severity) for one finding on the head."""
    props = [f"file={escape_property(finding.path)}", f"line={finding.line}"]
    if finding.start_line is not None:
        props = [props[0], f"line={finding.start_line}", f"endLine={finding.line}"]
    props.append(f"title={escape_property(f'Quorum ({finding.severity.value})')}")
    return f"::{_LEVEL[finding.severity]} {','.join(props)}::{escape_data(finding.body)}"


@contextmanager
def group(out: TextIO, title: str) -> Iterator[None]:
    """A collapsible log group around what the block logs."""
    out.write(f"::group::{escape_data(title)}\n")
    out.flush()
    try:
        yield
    finally:
        out.write("::endgroup::\n")
        out.flush()


def decision(report: RunReport) -> str:
    """The `decision` output: the PR's decision, or `none` when the event concerned no PR."""
    if not report.pulls:
        return "none"
    return report.pulls[0].decision if len(report.pulls) == 1 else ",".join(p.decision for p in report.pulls)


def usd(micro: int) -> str:
    return f"{pricing.micro_to_usd(micro):.4f}"


def summary(report: RunReport) -> str:
    """The Markdown appended to `GITHUB_STEP_SUMMARY`."""
    lines = [f"## Quorum: {decision(report)}", ""]
    lines += [f"`{report.event}` event · {usd(report.cost_micro)} USD spent in this run", ""]
    if report.fork:
        lines += [f"> {FORK_NOTE}", ""]
    if report.note:
        lines += [report.note, ""]
    for pull in report.pulls:
        lines += _pull(pull)
    return "\n".join(lines) + "\n"


def _pull(pull: PullReport) -> list[str]:
    pr = pull.pr
    lines = [f"### {pr.repo}#{pr.number} at `{pr.head_sha[:12]}`: {pull.decision}", ""]
    record = pull.record
    if record is not None and record.reviewed_sha == pr.head_sha and pull.outcome is None:
        lines += [
            "Decided by an earlier run (read back from Quorum's review on the PR); nothing reviewed now.",
            "",
        ]
    if pull.failed:
        lines += [
            f"The job did not finish ({pull.finished}); the log says why. Re-run the workflow to retry.",
            "",
        ]
    if pull.refused:
        lines += [f"The token was refused: {', '.join(pull.refused)} (read-only on a fork's run).", ""]
    if pull.decision == "approved":
        lines += [_not_merged(pull), ""]
    if pull.outcome is not None:
        lines += _outcome(pull)
    return lines


def _not_merged(pull: PullReport) -> str:
    if not pull.merging:
        return 'Not merged: merging is off for this pull request (`merge: "true"`; never for a fork\'s).'
    return (
        "Not merged yet: the merge gate waits (required checks on this head, a maintainer's approval, or "
        "the repository's policy); a later run, on checks or a command, merges it once it allows."
    )


def _outcome(pull: PullReport) -> list[str]:
    outcome = pull.outcome
    assert outcome is not None
    cover = outcome.coverage
    lines = [
        f"**Decision:** {outcome.decision.value} ({outcome.reason.value})"
        + (f": {outcome.detail}" if outcome.detail else ""),
        "",
        f"**Coverage:** {cover.files_reviewed} of {cover.files_total} files reviewed"
        + (f", {cover.redactions} secret(s) redacted" if cover.redactions else ""),
        "",
        "| round | model | verdict | findings | cost (USD) |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.index} | {r.model} | {r.verdict.value} | {len(r.findings)} | {usd(r.usage.cost_micro_usd)} |"
        for r in outcome.rounds
    ]
    lines.append("")
    if cover.skipped:
        lines += ["Not reviewed:", *[f"- `{s.path}`: {s.reason.value}" for s in cover.skipped], ""]
    return lines


def append(path: Path | None, text: str) -> None:
    """Append to a runner file; nothing when the runner did not name one (outside Actions)."""
    if path is None:
        return
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def outputs(report: RunReport) -> str:
    """`GITHUB_OUTPUT` lines (heredoc form, so no value can add another output)."""
    out = []
    for name, value in (("decision", decision(report)), ("cost", usd(report.cost_micro))):
        fence = f"ghadelimiter_{uuid.uuid4().hex}"
        out.append(f"{name}<<{fence}\n{value}\n{fence}\n")
    return "".join(out)
