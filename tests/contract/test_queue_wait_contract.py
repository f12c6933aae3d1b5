"""A claim says how long its job waited in line, in memory and on Redis (the queue-wait panel's figure)."""

from __future__ import annotations

import asyncio

from guardrails import admission
from tests.contract.conftest import Coordination


async def test_a_claim_reports_the_time_its_job_waited_since_it_got_in_line(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    await scheduler.enqueue("o/x#1", "a1")
    await asyncio.sleep(0.3)
    await scheduler.enqueue("o/x#1", "a2")  # an update in place keeps its place, and its wait

    claim = await scheduler.claim("w1")

    assert claim is not None and 0.25 <= claim.queued_s < 5


async def test_a_job_back_in_line_waits_from_its_return(coord: Coordination) -> None:
    scheduler = coord.scheduler()
    await scheduler.enqueue("o/x#2", "a1")
    await asyncio.sleep(0.3)
    first = await scheduler.claim("w1")
    assert first is not None
    await scheduler.finish(first, admission.FinishOutcome.RETRY, "flaky")  # backoff of 0.05 s, then in line

    await asyncio.sleep(0.1)
    second = await scheduler.claim("w2")

    assert second is not None and second.queued_s < 0.25
