"""Merging an approved PR, only through the merge policy, with the approved head SHA pinned in the call."""

from __future__ import annotations

from bot import forge
from bot.daemon.context import DaemonDeps, Work, log
from bot.daemon.publishing import held_check, publisher
from bot.errors import PublishRefused
from bot.ports import Notification, NotificationKind
from guardrails import checks_gate, merge_policy, review_coverage

_MAX_ATTEMPTS = 3
_MERGEABILITY_DELAYS_S = (1.0, 2.0)


async def facts(deps: DaemonDeps, work: Work) -> merge_policy.MergeFacts:
    """Everything the merge policy decides on, read from the code host now."""
    pr, policy, record = work.pr, work.policy, work.tracked.record
    checks, own_green = await _checks(deps, work)
    files = await deps.reader.changed_files(pr.repo, pr.number)
    contributors = await deps.reader.contributors(pr.repo, cap=policy.human_approval_contributors)
    approved, rejected_by = await _human_stance(deps, work)
    return merge_policy.MergeFacts(
        state=record.state,
        approved_sha=record.reviewed_sha if record.decision == "approved" else "",
        head_sha=pr.head_sha,
        approvals=record.approvals,
        min_approvals=policy.min_approvals,
        checks=checks,
        checks_sha=pr.head_sha,
        merge_enabled=policy.merge_enabled,
        changed_paths=tuple(merge_policy.ChangedPath(f.path, f.previous) for f in files),
        changed_lines=sum(f.lines for f in files),
        protected_paths=policy.protected_paths,
        max_changed_lines=policy.max_changed_lines,
        contributors=contributors,
        contributors_threshold=policy.human_approval_contributors,
        human_approved=approved,
        rejected_by=rejected_by,
        mergeable_state=pr.mergeable_state,
        # Any remembered trip holds (every review rewrites it): fail closed on a record out of step.
        tripwire=bool(record.tripwire_sha),
        own_check_pending=not own_green,
        seen=review_coverage.Seen.from_json(record.seen) if record.seen else None,
    )


async def _checks(deps: DaemonDeps, work: Work) -> tuple[forge.ChecksReport, bool]:
    """The head's checks as GitHub enforces them (the configured and the branch's required checks), and
    whether Quorum's own check on it is already green."""
    pr = work.pr
    branch = await deps.reader.required_checks(pr.repo, pr.base_ref)
    names = checks_gate.required_names(work.policy.required_checks, branch, deps.policy.check_name)
    results = await deps.reader.commit_checks(pr.repo, pr.head_sha)
    own_green = any(r.own and r.state is forge.ChecksState.GREEN for r in results)
    return checks_gate.evaluate(results, names, required_complete=branch.complete), own_green


async def _await_mergeability(deps: DaemonDeps, work: Work) -> None:
    """Re-read a PR whose `mergeable_state` GitHub has not computed yet (it does so in the background,
    within seconds, and no webhook says when); still unknown after that, the policy waits."""
    for delay in _MERGEABILITY_DELAYS_S:
        if checks_gate.computed(work.pr.mergeable_state):
            return
        await deps.sleep(delay)
        work.pr = await deps.reader.pull(work.pr.repo, work.pr.number)


async def _human_stance(deps: DaemonDeps, work: Work) -> tuple[bool, tuple[str, ...]]:
    """Whether a human with write access approved this exact head, and which writers request changes."""
    pr = work.pr
    reviews = await work.reviews(deps.reader)
    decisive = {
        r.author for r in reviews if r.state in ("APPROVED", "CHANGES_REQUESTED") and not r.author_is_self
    }
    writers = [u for u in sorted(decisive) if (await deps.reader.permission(pr.repo, u)).can_write]
    rejected_by = merge_policy.human_rejections(reviews, writers)
    # A writer's `/quorum merge` was checked against this head's push time when it arrived.
    commanded = work.tracked.record.human_approved_sha == pr.head_sha
    approved = commanded or merge_policy.human_approval(reviews, pr.head_sha, writers) is not None
    return approved, rejected_by


async def try_merge(deps: DaemonDeps, work: Work) -> merge_policy.MergeVerdict:
    """Merge when the policy says so; returns the verdict (the caller reports a wait or a human's turn)."""
    await _await_mergeability(deps, work)
    known = await facts(deps, work)
    waits_for_human = bool(merge_policy.decide(known).needs_human_because) and not known.human_approved
    if not waits_for_human and known.own_check_pending and await held_check.release(deps, work):
        await _await_mergeability(deps, work)
        known = await facts(deps, work)
    verdict = merge_policy.decide(known)
    if verdict.action is not merge_policy.MergeAction.MERGE:
        return verdict
    for attempt in range(1, _MAX_ATTEMPTS + 1):
        gate = await deps.gate.check_publish(work.lease, work.pr.head_sha)
        if not gate.allowed:
            raise PublishRefused(gate.reason or "")
        result = await deps.writer.merge(
            work.pr.repo, work.pr.number, work.pr.head_sha, work.policy.merge_method
        )
        step = merge_policy.retry_plan(result.outcome, attempt)
        deps.metrics.emit(
            "merge",
            publisher.command_doc(work, "merge", {"outcome": result.outcome.value, "attempt": attempt}),
        )
        if step.next is merge_policy.MergeNext.RETRY:
            await deps.sleep(step.delay_s)
            continue
        _apply(deps, work, step, result)
        await work.tracked.save()
        return verdict
    return verdict


def _apply(deps: DaemonDeps, work: Work, step: merge_policy.RetryStep, result: forge.MergeResult) -> None:
    pr, tracked = work.pr, work.tracked
    if step.next is merge_policy.MergeNext.DONE:
        tracked.fire("merge", actor="quorum", reason=f"merged {pr.head_sha[:12]} as {result.sha[:12]}")
        deps.notifier.notify(
            Notification(
                NotificationKind.MERGED, f"Merged {pr.job_id}", pr.title, pr.repo, pr.number, pr.html_url
            )
        )
    elif step.next is merge_policy.MergeNext.BACK_TO_REVIEW:
        log.info("merge of %s refused: the head moved; reviewing again", pr.job_id)
        tracked.fire("start_review", actor="quorum", reason=step.why)
        tracked.update(reviewed_sha="", decision="")
    else:
        reason = f"{step.why}: {result.message}"[:500]
        tracked.fire("escalate", actor="quorum", reason=reason)
        deps.notifier.notify(
            Notification(
                NotificationKind.ESCALATED, f"Merge of {pr.job_id} needs a human", reason,
                pr.repo, pr.number, pr.html_url,
            )
        )  # fmt: skip
