"""Quorum's check on an approved head stays pending until the merge gate's human part holds.

The reviewers' approval is not the whole gate when a human must approve too (protected paths, size,
contributors, the tripwire, unreviewed files). A check at success would let whatever gates on it (branch
protection, auto-merge, a writer merging their own PR) take the reviewers' approval for the human one. So
the merger sets the check of an approved head: success once no human is needed or a human approved that
exact head, held pending with the reasons otherwise. An approval publishes no check on a head Quorum has
not checked yet (the merger's is the first), and a pending one on a head it has (`publisher`), so an
earlier success never stands for the new decision.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot import forge
from bot.daemon.context import DaemonDeps, Work, log
from bot.daemon.publishing import compensation
from bot.errors import PublishRefused

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


async def release(deps: DaemonDeps, work: Work) -> bool:
    """Set the approved head's check to success (the caller found no human outstanding and the check not
    yet green); True when it did. The PR is re-read: a required check that was pending blocked its merge
    state."""
    pr = work.pr
    was_held = work.tracked.record.notice == HELD + pr.head_sha
    title = "Approved, and a human approved this head" if was_held else "Approved by the reviewers"
    await _set(deps, work, forge.TallyState.SUCCESS, title, "")
    work.tracked.update(notice=RELEASED + pr.head_sha)
    await work.tracked.save()
    log.info("%s: check released on %s", pr.job_id, pr.head_sha[:12])
    if pr.mergeable_state == "blocked":
        await deps.sleep(1.0)  # GitHub recomputes the merge state in the background
    work.pr = await deps.reader.pull(pr.repo, pr.number)
    return True


async def _set(deps: DaemonDeps, work: Work, state: forge.TallyState, title: str, summary: str) -> None:
    gate = await deps.gate.check_publish(work.lease, work.pr.head_sha)
    if not gate.allowed:
        raise PublishRefused(gate.reason or "")
    await compensation.set_tally(deps, work, state, title, summary)
