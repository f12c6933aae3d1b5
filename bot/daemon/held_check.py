"""Quorum's check on a head that waits for a human: pending, not success.

The reviewers' approval is not the whole gate when a human must approve too (protected paths, size,
contributors, the tripwire, unreviewed files). A check left at success would let whatever gates on it
(branch protection, auto-merge, a writer merging their own PR) take the reviewers' approval for the human
one. So the check is held pending with the reasons, and released to success once a human approved that
exact head, right before Quorum merges.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot import forge
from bot.daemon import compensation
from bot.daemon.context import DaemonDeps, Work, log
from bot.daemon.publisher import PublishRefused

HELD = "human:"  # the record's notice while the check is held on a head
RELEASED = "released:"


async def hold(deps: DaemonDeps, work: Work, reasons: Sequence[str]) -> None:
    """Set the head's check to pending with why a human must approve (once per head; the caller saves)."""
    summary = "A human with write access must approve this exact head:\n" + "\n".join(
        f"- {r}" for r in reasons
    )
    await _set(
        deps, work, forge.TallyState.PENDING, "Approved by the reviewers; waiting for a human", summary
    )
    work.tracked.update(notice=HELD + work.pr.head_sha)


async def release(deps: DaemonDeps, work: Work, human_approved: bool) -> bool:
    """Set a held check to success once a human approved this head; True when it did (the PR is re-read,
    since GitHub recomputes whether it can be merged)."""
    pr = work.pr
    if not human_approved or work.tracked.record.notice != HELD + pr.head_sha:
        return False
    await _set(deps, work, forge.TallyState.SUCCESS, "Approved, and a human approved this head", "")
    work.tracked.update(notice=RELEASED + pr.head_sha)
    await work.tracked.save()
    log.info("%s: check released after a human approved %s", pr.job_id, pr.head_sha[:12])
    await deps.sleep(1.0)  # GitHub recomputes the merge state in the background
    work.pr = await deps.reader.pull(pr.repo, pr.number)
    return True


async def _set(deps: DaemonDeps, work: Work, state: forge.TallyState, title: str, summary: str) -> None:
    gate = await deps.gate.check_publish(work.lease, work.pr.head_sha)
    if not gate.allowed:
        raise PublishRefused(gate)
    await compensation.set_tally(deps, work, state, title, summary)
