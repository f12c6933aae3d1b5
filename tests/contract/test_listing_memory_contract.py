"""The reconciler's memory of open PRs, in this process and on Redis: replaced whole, per repository."""

from __future__ import annotations

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import listings as redis_listings
from bot.daemon import reconciler
from tests.contract.conftest import Coordination


def memory(coord: Coordination) -> reconciler.ListingMemory:
    if coord.redis is None:
        return reconciler.ProcessListingMemory()
    return redis_listings.RedisListingMemory(coord.redis, redis_conn.Keys("quorum"))


async def test_a_listing_replaces_the_last_one_of_its_repository_only(coord: Coordination) -> None:
    listings = memory(coord)
    await listings.remember("o/x", {"o/x#1", "o/x#2"})
    await listings.remember("o/y", {"o/y#5"})

    await listings.remember("o/x", {"o/x#2", "o/x#3"})
    await listings.remember("o/y", set())

    assert await listings.recall("o/x") == {"o/x#2", "o/x#3"}
    assert await listings.recall("o/y") == set()
    assert await listings.recall("o/never") == set()
