"""One job: bring one PR to where it should be, as the code host shows it now.

A job is level-triggered: it re-reads the PR, applies its inbox, then takes the next step (record a close,
publish a decided review, review a new head, merge an approved one) and repeats until nothing is left to
do. Events only say "look at this PR", so a lost or repeated event changes nothing but timing. Every step
runs under the job's lease; a refused save or publish stops the job before anything reaches GitHub.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable

from bot import forge, telemetry
from bot.daemon import commands, job_context, merger
from bot.daemon.context import DaemonDeps, Work, log
from bot.daemon.publishing import compensation, held_check, publisher, review_text
from bot.daemon.publishing.outbox import Pending
from bot.daemon.tracked import Tracked
from bot.domain import Decision, Reason, ReviewOutcome, Verdict
from bot.errors import IllegalTransition, LeaseLost, PublishRefused
from bot.ports import Notification, NotificationKind
from config import repo_policy
from guardrails import admission, lease, merge_policy, review_coverage
from statemachine import records
from statemachine.lifecycle import DECISION_TRIGGERS, State, Transition

_MAX_PASSES = 6
SKIPPED = "skipped"  # the decision recorded for a head left alone (draft, bot, ignored)
_REVIEWABLE = {State.OPEN, State.IN_REVIEW, State.CHANGES_REQUESTED, State.APPROVED}
# Refusals caused outside Quorum, said on the PR: a person, CI or GitHub must act before a merge.
_TOLD = {
    merge_policy.Blocker.CHANGES_REQUESTED,
    merge_policy.Blocker.CHECKS_FAILED,
    merge_policy.Blocker.NOT_MERGEABLE,
}


class JobHandler:
    """Handles claimed jobs; `handle` returns how the scheduler should finish the job."""

    def __init__(self, deps: DaemonDeps) -> None:
        self._deps = deps
        # Claims (by token) that gave their slot back after their model work: they publish and merge
        # under their lease, and review nothing more (a new head goes back in line for a slot).
        self._yielded: set[str] = set()

    async def handle(self, claim: admission.Claim) -> admission.FinishOutcome:
        """Work on the PR until nothing is left to do. Raises `LeaseLost` and code-host/coordination
        errors; the worker turns them into a retry or a dead letter."""
        deps = self._deps
        ctx = telemetry.DocContext(claim.job.repo, claim.job.number, claim.job.head_sha, job_id=claim.job.id)
        job_context.bind(ctx)
        deps.metrics.emit("queue", telemetry.queue_doc(claim.queued_s, ctx, at=deps.clock.now()))
        try:
            return await self._passes(claim)
        finally:
            self._yielded.discard(claim.token)

    async def _passes(self, claim: admission.Claim) -> admission.FinishOutcome:
        deps = self._deps
        for index in range(_MAX_PASSES):
            items = await deps.inbox.drain(claim.job.id)
            pr = await deps.reader.pull(claim.job.repo, claim.job.number)
            if index == 0 and pr.head_sha != claim.job.head_sha:
                # The queue's head is what the publish gate compares with: tell it the head we work on.
                await deps.scheduler.enqueue(claim.job.id, pr.head_sha)
            tracked = await Tracked.load(
                deps.store, pr.repo, pr.number, pr.head_sha, claim.fence, deps.clock, self._on_transition(pr)
            )
            work = Work(pr, tracked, claim, await self._policy(pr, tracked, claim))
            await commands.apply(deps, work, items)
            try:
                progressed = await self._step(work)
            except PublishRefused as exc:
                if exc.reason == lease.GateRefusal.HEAD_MOVED:
                    log.info("%s: the head moved during the job; the newer head is next", claim.job.id)
                    return admission.FinishOutcome.DONE
                raise LeaseLost(
                    f"publish gate refused {claim.job.id}: {exc}", job_id=claim.job.id, reason=str(exc)
                ) from exc
            except IllegalTransition as exc:
                await self._illegal(work, exc)
                return admission.FinishOutcome.DONE
            if not progressed and not items:
                break
        return admission.FinishOutcome.DONE

    async def escalate_failed(self, claim: admission.Claim, error: str) -> None:
        """The job failed on its last attempt: escalate the PR (when its state allows) and say so."""
        deps, job = self._deps, claim.job
        tracked = await Tracked.load(deps.store, job.repo, job.number, job.head_sha, claim.fence, deps.clock)
        if tracked.state in (State.IN_REVIEW, State.CHANGES_REQUESTED, State.APPROVED):
            tracked.fire("escalate", actor="quorum", reason=f"failed {job.attempts + 1} times: {error}"[:500])
            tracked.update(outbox="", decision=Decision.ESCALATED.value)
            await tracked.save()
        title = f"{job.id} failed {job.attempts + 1} times"
        deps.notifier.notify(
            Notification(NotificationKind.FAILURES, title, error[:1000], job.repo, job.number)
        )

    async def _step(self, work: Work) -> bool:
        """Take the next step; True when something changed and another pass may find more to do."""
        pr, tracked = work.pr, work.tracked
        if pr.state is not forge.PullState.OPEN:
            return await self._closed(work)
        if tracked.state is State.CLOSED:
            tracked.fire("reopen", actor=pr.author, reason="reopened on GitHub")
            tracked.update(reviewed_sha="", decision="")
            await tracked.save()
            return True
        # A decided review is published first, whatever followed: an escalation's review (and its failing
        # check) is how the humans it asks for learn about it.
        if await publisher.publish_pending(self._deps, work):
            return True
        await publisher.retire_late_writes(self._deps, work)
        if tracked.record.paused or tracked.state is State.ESCALATED:
            return False
        skip = self._skip_reason(work)
        if skip:
            await self._skip(work, skip)
            return False
        record = tracked.record
        stale = record.reviewed_sha != pr.head_sha or record.decision == SKIPPED
        if stale and tracked.state in _REVIEWABLE:
            if work.claim.token in self._yielded:
                # No slot to review with: a nudge marks the job for a re-run, which waits for one.
                await self._deps.scheduler.enqueue(pr.job_id, "")
                return False
            await self._review(work)
            return True
        if tracked.state is State.APPROVED:
            verdict = await merger.try_merge(self._deps, work)
            await self._report_wait(work, verdict)
            return tracked.state is not State.APPROVED  # merged, back to review, or escalated
        return False

    async def _closed(self, work: Work) -> bool:
        tracked = work.tracked
        if tracked.state in (State.CLOSED, State.MERGED):
            return False
        merged = work.pr.state is forge.PullState.MERGED
        tracked.fire("close", actor="github", reason="merged outside Quorum" if merged else "closed")
        tracked.update(outbox="")
        await tracked.save()
        return False

    async def _skip(self, work: Work, why: str) -> None:
        """Leave the PR alone, and remember it for this head so the reconciler does not ask again."""
        record = work.tracked.record
        log.info("%s: not reviewed: %s", work.pr.job_id, why)
        if (record.reviewed_sha, record.decision) != (work.pr.head_sha, SKIPPED):
            work.tracked.update(reviewed_sha=work.pr.head_sha, decision=SKIPPED)
            await work.tracked.save()

    def _skip_reason(self, work: Work) -> str:
        pr, policy = work.pr, work.policy
        if pr.draft and not policy.review_drafts:
            return "draft"
        if pr.author.casefold() == self._deps.identity.login.casefold():
            return "opened by Quorum itself"
        if pr.author_is_bot and not policy.review_bots:
            return "opened by a bot"
        if policy.ignores(pr.author, pr.labels):
            return "ignored author or label"
        return ""

    async def _review(self, work: Work) -> None:
        deps, pr, tracked = self._deps, work.pr, work.tracked
        if tracked.state is not State.IN_REVIEW:
            tracked.fire("start_review", actor="quorum", reason=f"review of {pr.head_sha[:12]}")
        tracked.update(head_sha=pr.head_sha)
        await tracked.save()
        outcome = await deps.review(pr, work.policy, records.decode_blockers(tracked.record.open_blockers))
        await self._yield_slot(work.claim)
        if outcome.head_sha != pr.head_sha:  # a review that ended before the diff was read
            outcome = dataclasses.replace(outcome, head_sha=pr.head_sha)
        tracked.fire(DECISION_TRIGGERS[outcome.decision], actor="quorum", reason=outcome.reason.value)
        rounds = len(outcome.rounds)
        draft = review_text.review_draft(
            outcome, job_id=tracked.job_id, fence=work.lease.fence, round_index=rounds,
            head_sha=pr.head_sha, check_name=deps.policy.check_name,
        )  # fmt: skip
        pending = Pending(draft, rounds, outcome.decision, *review_text.tally(outcome))
        tracked.update(
            reviewed_sha=pr.head_sha,
            decision=outcome.decision.value,
            approvals=_trailing_approvals(outcome),
            outbox=pending.to_json(),
            open_blockers=records.encode_blockers(outcome.open_blockers),
            seen=review_coverage.Seen.of(pr.head_sha, outcome.coverage).to_json(),
            # A maintainer's `/quorum merge` holds for the head it was given on only.
            human_approved_sha=pr.head_sha if tracked.record.human_approved_sha == pr.head_sha else "",
            tripwire_sha=pr.head_sha if outcome.tripwire else "",
        )
        await tracked.save()
        self._announce(pr, outcome)
        ctx = telemetry.DocContext(pr.repo, pr.number, pr.head_sha, rounds, job_id=pr.job_id)
        now = deps.clock.now()
        deps.metrics.emit("review", telemetry.review_doc(outcome, ctx, at=now))
        for result in outcome.rounds:
            deps.metrics.emit(
                "round", telemetry.round_doc(result, dataclasses.replace(ctx, round=result.index), at=now)
            )

    async def _yield_slot(self, claim: admission.Claim) -> None:
        """The model work is done: give the slot to the next review while this job saves, publishes and
        merges under its lease (the publish gate still checks the lease and fence before every write)."""
        if not await self._deps.scheduler.yield_slot(claim):
            raise LeaseLost(
                f"{claim.job.id}: the lease ended before the review was saved",
                job_id=claim.job.id, reason="not_held",
            )  # fmt: skip
        self._yielded.add(claim.token)

    async def _policy(
        self, pr: forge.PullRequest, tracked: Tracked, claim: admission.Claim
    ) -> repo_policy.EffectivePolicy:
        """The repository's `.quorum.toml` from its default branch (never from the PR) over the server's."""
        server = self._deps.policy
        text = await self._deps.reader.file_text(pr.repo, server.policy_file, pr.default_branch)
        loaded = repo_policy.parse(text)
        if loaded.problems:
            await self._policy_notice(compensation.Holder(pr, tracked, claim.lease), loaded.problems)
        return repo_policy.effective(
            server.merge, server.min_approvals, loaded.policy, max_rounds=server.max_rounds
        )

    async def _policy_notice(self, holder: compensation.Holder, problems: tuple[str, ...]) -> None:
        pr, tracked = holder.pr, holder.tracked
        key = f"policy:{pr.head_sha}"
        if tracked.record.notice == key:
            return
        body = (
            f"Quorum could not use `{self._deps.policy.policy_file}` from `{pr.default_branch}`; "
            "the server's defaults apply and nothing is merged without a human:\n"
            + "\n".join(f"- {p}" for p in problems)
        )
        tracked.update(notice=key)
        await tracked.save()
        await compensation.comment(self._deps, holder, body)

    async def _report_refusal(self, work: Work, verdict: merge_policy.MergeVerdict) -> None:
        """Say once per head and set of reasons what outside Quorum forbids the merge (who requests
        changes, which checks fail, what GitHub's merge state says)."""
        reasons = "\n".join(f"- {r.text}" for r in verdict.reasons)
        key = f"refuse:{work.pr.head_sha}:{zlib.crc32(reasons.encode()):08x}"
        if work.tracked.record.notice == key:
            return
        work.tracked.update(notice=key)
        await work.tracked.save()
        body = f"Quorum approved this head but does not merge it now:\n{reasons}"
        await compensation.comment(self._deps, work, body)

    async def _report_wait(self, work: Work, verdict: merge_policy.MergeVerdict) -> None:
        if verdict.action is merge_policy.MergeAction.REFUSE and _TOLD.intersection(verdict.blockers):
            await self._report_refusal(work, verdict)
            return
        key = held_check.HELD + work.pr.head_sha
        # Human needs count while anything else only waits, too: the check is held with them.
        outstanding = any(reason.blocker.needs_human for reason in verdict.reasons)
        refused = verdict.action is merge_policy.MergeAction.REFUSE
        if refused or not outstanding or work.tracked.record.notice == key:
            return
        await held_check.hold(self._deps, work, verdict.needs_human_because)
        await work.tracked.save()
        reasons = "\n".join(f"- {why}" for why in verdict.needs_human_because)
        body = (
            "Quorum approved this head, but a human must approve before it is merged:\n"
            f"{reasons}\n\nAn approving review from a maintainer, or `/quorum merge`, lets it proceed."
        )
        await compensation.comment(self._deps, work, body)

    async def _illegal(self, work: Work, exc: IllegalTransition) -> None:
        """An illegal transition escalates, and nothing of the refused step reaches GitHub."""
        log.error("%s: illegal transition %s from %s; escalating", work.pr.job_id, exc.trigger, exc.state)
        ctx = telemetry.DocContext(work.pr.repo, work.pr.number, work.pr.head_sha, job_id=work.pr.job_id)
        self._deps.metrics.emit(
            "guardrail", telemetry.guardrail_error_doc(exc, ctx, at=self._deps.clock.now())
        )
        fresh = await Tracked.load(
            self._deps.store,
            work.pr.repo,
            work.pr.number,
            work.pr.head_sha,
            work.lease.fence,
            self._deps.clock,
        )
        if fresh.state in (State.ESCALATED, State.CLOSED, State.MERGED, State.OPEN):
            return
        fresh.fire("escalate", actor="quorum", reason=f"illegal transition: {exc.message}")
        fresh.update(outbox="")
        await fresh.save()

    def _announce(self, pr: forge.PullRequest, outcome: ReviewOutcome) -> None:
        kind = NotificationKind.DECIDED
        if outcome.decision is Decision.ESCALATED:
            kind = NotificationKind.ESCALATED
            if outcome.reason is Reason.BUDGET_EXCEEDED:
                kind = NotificationKind.BUDGET_EXCEEDED
        title = f"{pr.job_id}: {outcome.decision.value.replace('_', ' ')} ({outcome.reason.value})"
        text = outcome.detail or pr.title
        fields = (("rounds", str(len(outcome.rounds))), ("head", pr.head_sha[:12]))
        self._deps.notifier.notify(Notification(kind, title, text, pr.repo, pr.number, pr.html_url, fields))

    def _on_transition(self, pr: forge.PullRequest) -> Callable[[Transition], None]:
        metrics = self._deps.metrics
        ctx = telemetry.DocContext(pr.repo, pr.number, pr.head_sha, job_id=pr.job_id)

        def emit(t: Transition) -> None:
            metrics.emit("transition", telemetry.transition_doc(t, ctx))

        return emit


def _trailing_approvals(outcome: ReviewOutcome) -> int:
    count = 0
    for result in reversed(outcome.rounds):
        if result.verdict is not Verdict.APPROVE:
            break
        count += 1
    return count
