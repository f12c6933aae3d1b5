"""Acting on a PR's inbox: maintainers' `/quorum` commands, closes, and nudges (reviews, checks).

Commands come from PR comments; only users with write permission (asked of the code host, never taken
from the payload) may use them, others get a polite refusal. Each comment is handled once (by its id), so
a replayed delivery does nothing. `/quorum merge` approves the head only when GitHub's clock puts the
comment after that head's push (`merge_policy.command_approval`); a later push voids it, and the PR is
told. Every effect goes through the record and the lifecycle under the job's lease.
"""

from __future__ import annotations

from bot import forge
from bot.daemon.context import DaemonDeps, Work, log
from bot.daemon.publishing import compensation, review_text
from bot.domain import Decision
from bot.errors import GitHubError, IllegalTransition
from bot.ports import InboxItem, ItemKind
from guardrails import merge_policy
from statemachine.lifecycle import State

_SEEN_KEPT = 100  # comment ids remembered per PR; an id older than all of them counts as handled


async def apply(deps: DaemonDeps, work: Work, items: list[InboxItem]) -> None:
    """Void a `/quorum merge` the head has moved past, then apply every command in `items` in order;
    other kinds only woke the job up."""
    await _void_moved(deps, work)
    for item in items:
        if item.kind is ItemKind.COMMAND:
            await _command(deps, work, item)


async def _void_moved(deps: DaemonDeps, work: Work) -> None:
    approved, head = work.tracked.record.human_approved_sha, work.pr.head_sha
    if not approved or approved == head or work.pr.state is not forge.PullState.OPEN:
        return
    work.tracked.update(human_approved_sha="")
    await work.tracked.save()
    await _reply(
        deps,
        work,
        f"The `/quorum merge` approval of `{approved[:12]}` no longer holds: the head is now `{head[:12]}`, "
        "pushed after it. A maintainer must approve this head (a review of it, or a new `/quorum merge`).",
    )


async def _command(deps: DaemonDeps, work: Work, item: InboxItem) -> None:
    verb, user = item.verb, item.actor
    if not _first_time(work, item.comment_id):
        log.info("%s: comment %d was handled before; not again", work.pr.job_id, item.comment_id)
        return
    if verb not in review_text.COMMANDS:
        await work.tracked.save()
        await _reply(deps, work, review_text.command_reply(verb or "", user, permitted=False))
        return
    permitted = (await deps.reader.permission(work.pr.repo, user)).can_write
    refused = ""
    if permitted:
        refused = await _merge_refusal(deps, work, item) if verb == "merge" else ""
        try:
            refused = refused or _effect(work, verb, user)
        except IllegalTransition as exc:
            refused = f"not possible while the pull request is {exc.state}"
    await work.tracked.save()
    reply = review_text.command_reply(
        verb, user, permitted=permitted, status=status(work), refused_because=refused
    )
    await _reply(deps, work, reply)


def _first_time(work: Work, comment_id: int) -> bool:
    """Record `comment_id` as handled (saved with the command's effect); False when it was before."""
    if comment_id <= 0:
        return True  # not from a comment
    seen = [int(x) for x in work.tracked.record.commands_seen.split()]
    if comment_id in seen or (len(seen) >= _SEEN_KEPT and comment_id < min(seen)):
        return False
    kept = sorted([*seen, comment_id])[-_SEEN_KEPT:]
    work.tracked.update(commands_seen=" ".join(map(str, kept)))
    return True


async def _merge_refusal(deps: DaemonDeps, work: Work, item: InboxItem) -> str:
    """Why this `/quorum merge` does not approve the current head, or "" when it does."""
    pr, pushes = work.pr, None
    if pr.head_repo and pr.head_ref:
        try:
            pushes = await deps.reader.head_pushes(pr.head_repo, pr.head_ref)
        except GitHubError as exc:  # fails closed: an unknown push time approves nothing
            log.warning("%s: could not read when the head was pushed: %s", pr.job_id, exc.message)
    refused = merge_policy.command_approval(item.at, pr.head_sha, pushes, by=item.actor, author=pr.author)
    if refused:
        log.warning("%s: /quorum merge by %s not taken: %s", pr.job_id, item.actor, refused)
    return refused


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


def status(work: Work) -> review_text.PullStatus:
    record = work.tracked.record
    decision = Decision(record.decision) if record.decision in set(Decision) else None
    return review_text.PullStatus(
        record.state,
        work.pr.head_sha,
        paused=record.paused,
        decision=decision,
        approvals=record.approvals if record.reviewed_sha == work.pr.head_sha else 0,
        min_approvals=work.policy.min_approvals,
    )


async def _reply(deps: DaemonDeps, work: Work, body: str) -> None:
    try:
        await compensation.comment(deps, work, body)
    except GitHubError as exc:  # the command took effect; only the acknowledgement is missing
        log.warning("could not answer a command on %s: %s", work.pr.job_id, exc.message)
