"""The PR inbox, in memory and on Redis: items come out once, in order, and the index follows them."""

from __future__ import annotations

import asyncio

from bot.ports import InboxItem, ItemKind
from tests.contract.conftest import Coordination


async def test_items_come_out_in_order_once(coord: Coordination) -> None:
    inbox = coord.inbox()
    first = InboxItem(ItemKind.COMMAND, actor="maria", verb="pause", delivery_id="d1")
    second = InboxItem(ItemKind.HUMAN_REVIEW, actor="li", state="approved", sha="a" * 40)
    await inbox.push("o/x#1", first)
    await inbox.push("o/x#1", second)
    await inbox.push("o/x#2", InboxItem(ItemKind.CHECKS, sha="b" * 40))

    assert await inbox.waiting() == ["o/x#1", "o/x#2"]
    assert await inbox.drain("o/x#1") == [first, second]
    assert await inbox.drain("o/x#1") == []
    assert await inbox.waiting() == ["o/x#2"]


async def test_concurrent_drains_hand_each_item_out_once(coord: Coordination) -> None:
    inbox = coord.inbox()
    for n in range(50):
        await inbox.push("o/x#1", InboxItem(ItemKind.COMMAND, verb="status", comment_id=n))

    batches = await asyncio.gather(*(coord.inbox().drain("o/x#1") for _ in range(5)))

    ids = sorted(item.comment_id for batch in batches for item in batch)
    assert ids == list(range(50))


async def test_record_fields_survive_a_round_trip(coord: Coordination) -> None:
    from statemachine import records

    scheduler, store = coord.scheduler(), coord.state()
    await scheduler.enqueue("o/x#3", "a1")
    claim = await scheduler.claim("w1")
    assert claim is not None
    record = records.PullRequestRecord(
        "o/x", 3, "approved", "a1", updated_at=12.5, paused=True, reviewed_sha="a1", decision="approved",
        approvals=2, review_id=77, review_sha="a1", review_blocking=True, outbox='{"x": 1}',
        human_approved_sha="a1", notice="policy:abc",
    )  # fmt: skip
    assert await store.save(record, expected_version=0, fence=claim.fence)

    loaded = await store.load("o/x#3")

    assert loaded == record.saved(1, claim.fence)
