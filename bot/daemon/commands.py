"""Acting on a PR's inbox: maintainers' `/quorum` commands, closes, and nudges (reviews, checks).

Commands come from PR comments; only users with write permission (asked of the code host, never taken
from the payload) may use them, others get a polite refusal. Every effect goes through the record and
the lifecycle under the job's lease.
"""

from __future__ import annotations

from bot import publish
from bot.daemon.context import DaemonDeps, Work, log
from bot.daemon.inbox import InboxItem, ItemKind
from bot.domain import Decision
from bot.errors import GitHubError, IllegalTransition
from statemachine.lifecycle import State


async def apply(deps: DaemonDeps, work: Work, items: list[InboxItem]) -> None:
    """Apply every command in `items` in order; other kinds only woke the job up."""
    for item in items:
        if item.kind is ItemKind.COMMAND:
            await _command(deps, work, item)


async def _command(deps: DaemonDeps, work: Work, item: InboxItem) -> None:
    verb, user = item.verb, item.actor
    if verb not in publish.COMMANDS:
        await _reply(deps, work, publish.command_reply(verb or "", user, permitted=False))
        return
    permitted = (await deps.reader.permission(work.pr.repo, user)).can_write
    refused = ""
    if permitted:
        try:
            refused = _effect(work, verb, user)
        except IllegalTransition as exc:
            refused = f"not possible while the pull request is {exc.state}"
        await work.tracked.save()
    reply = publish.command_reply(
        verb, user, permitted=permitted, status=status(work), refused_because=refused
    )
    await _reply(deps, work, reply)


def _effect(work: Work, verb: str, user: str) -> str:
    """Apply one permitted command; return why it did nothing, or ""."""
    tracked, head = work.tracked, work.pr.head_sha
    if verb == "pause":
        tracked.update(paused=True)
    elif verb == "resume":
        tracked.update(paused=False)
        if tracked.state is State.ESCALATED:
            tracked.fire("resume", actor=user, reason="/quorum resume", maintainer=True)
            tracked.update(reviewed_sha="", decision="")
    elif verb == "review":
        if tracked.state is State.ESCALATED:
            tracked.fire("resume", actor=user, reason="/quorum review", maintainer=True)
        tracked.update(reviewed_sha="", decision="", paused=False)
    elif verb == "merge":
        tracked.update(human_approved_sha=head)
    elif verb == "escalate":
        tracked.fire("escalate", actor=user, reason="/quorum escalate")
        tracked.update(decision=Decision.ESCALATED.value)
    return ""


def status(work: Work) -> publish.PullStatus:
    record = work.tracked.record
    decision = Decision(record.decision) if record.decision in set(Decision) else None
    return publish.PullStatus(
        record.state,
        work.pr.head_sha,
        paused=record.paused,
        decision=decision,
        approvals=record.approvals if record.reviewed_sha == work.pr.head_sha else 0,
        min_approvals=work.policy.min_approvals,
    )


async def _reply(deps: DaemonDeps, work: Work, body: str) -> None:
    try:
        await deps.writer.comment(work.pr.repo, work.pr.number, body)
    except GitHubError as exc:  # the command took effect; only the acknowledgement is missing
        log.warning("could not answer a command on %s: %s", work.pr.job_id, exc.message)
