"""Unsigned large bodies sent at once cannot grow `serve`'s webhook edge past its documented ceiling."""

from __future__ import annotations

from config import sections
from tests.chaos import webhook_flood

# The ceiling config/quorum.example.toml documents: max_body_bytes_in_flight plus 32 MiB over idle.
_SLACK_MIB = 32


async def test_a_flood_of_unsigned_bodies_stays_under_the_ceiling_and_a_signed_delivery_still_gets_202() -> (
    None
):
    in_flight_mib = sections.ServerSettings().max_body_bytes_in_flight / webhook_flood.MIB

    figures = await webhook_flood.run(senders=40, body_mib=20)

    print(figures.line())
    assert figures.growth_mib < in_flight_mib + _SLACK_MIB, figures.line()
    assert figures.signed_status == 202, figures.line()
    # Nothing unsigned was taken; the bodies over the budget were refused unread and told when to retry.
    assert set(figures.statuses) <= {"401", "503", "reset"}, figures.line()
    assert figures.statuses["503"] >= 30 and figures.retry_after == figures.statuses["503"], figures.line()
