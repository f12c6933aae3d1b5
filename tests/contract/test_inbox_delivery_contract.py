"""A delivery and its inbox items are recorded as one step, in memory and on Redis: none lost between."""

from __future__ import annotations

import asyncio

import pytest

from bot import events
from bot.daemon.intake import QueueIntake
from bot.errors import CoordinationUnavailable
from bot.ports import InboxItem, ItemKind
from tests.contract.conftest import Coordination


def command(delivery_id: str, comment_id: int = 1) -> InboxItem:
    return InboxItem(
        ItemKind.COMMAND, actor="maria", verb="merge", delivery_id=delivery_id, comment_id=comment_id
    )


async def test_a_delivery_appends_its_items_once(coord: Coordination) -> None:
    inbox = coord.inbox()
    checks = InboxItem(ItemKind.CHECKS, sha="c" * 40, delivery_id="d1")

    first = await inbox.push_delivery("d1", [("o/x#1", checks), ("o/x#2", checks)])
    again = await inbox.push_delivery("d1", [("o/x#1", checks), ("o/x#2", checks)])

    assert (first, again) == (True, False)
    assert await inbox.waiting() == ["o/x#1", "o/x#2"]
    assert await inbox.drain("o/x#1") == [checks]
    assert await inbox.drain("o/x#2") == [checks]


async def test_racing_replicas_take_a_delivery_once(coord: Coordination) -> None:
    item = command("d7")

    taken = await asyncio.gather(*(coord.inbox().push_delivery("d7", [("o/x#1", item)]) for _ in range(8)))

    assert sorted(taken) == [False] * 7 + [True]
    assert await coord.inbox().drain("o/x#1") == [item]


async def test_a_delivery_seen_by_the_scheduler_adds_nothing_to_the_inbox(coord: Coordination) -> None:
    await coord.scheduler().enqueue("o/x#1", "a1", "d9")

    taken = await coord.inbox().push_delivery("d9", [("o/x#1", command("d9"))])

    assert taken is False
    assert await coord.inbox().waiting() == []


async def test_the_dedupe_and_the_inbox_share_delivery_ids(coord: Coordination) -> None:
    await coord.inbox().push_delivery("d3", [("o/x#1", command("d3"))])

    assert await coord.dedupe().first_seen("d3") is False


@pytest.mark.redis
async def test_a_command_whose_push_failed_is_taken_when_github_redelivers_it(
    redis_coord: Coordination,
) -> None:
    # A write that fails between "seen" and "in the inbox" (here a key of the wrong type; in life a crash,
    # a failover or OOM) must not leave the delivery marked seen: the manual redelivery would be dropped.
    assert redis_coord.redis is not None
    scheduler, inbox = redis_coord.scheduler(), redis_coord.inbox()
    intake = QueueIntake(scheduler, inbox, check_name="quorum")
    event = events.CommandIssued(
        repo="o/x", number=1, actor="maria", command=events.Command(events.Verb.MERGE), comment_id=11
    )
    await redis_coord.redis.set("{quorum}:inbox:o/x#1", "not a list")

    with pytest.raises(CoordinationUnavailable):
        await intake.accept(event, "d-lost")
    await redis_coord.redis.delete("{quorum}:inbox:o/x#1")
    answer = await intake.accept(event, "d-lost")

    assert answer == "queued"
    assert [(i.verb, i.delivery_id) for i in await inbox.drain("o/x#1")] == [("merge", "d-lost")]


async def test_a_command_keeps_its_comment_id_and_time_through_intake_and_inbox(coord: Coordination) -> None:
    # The job orders `/quorum merge` against the head's push by the comment's own time: it must survive
    # the inbox's serialisation exactly, and an item without it reads as "no time" (approves nothing).
    intake = QueueIntake(coord.scheduler(), coord.inbox(), check_name="quorum")
    event = events.CommandIssued(
        "o/x", 1, "maria", events.Command(events.Verb.MERGE), comment_id=42, created_at=1_800_000_000.0
    )

    await intake.accept(event, "d-at")
    (item,) = await coord.inbox().drain("o/x#1")

    assert (item.comment_id, item.at) == (42, 1_800_000_000.0)
    legacy = '{"kind":"command","actor":"maria","verb":"merge","comment_id":42}'
    assert InboxItem.from_json(legacy).at == 0.0
