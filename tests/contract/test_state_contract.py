"""One suite for every `StateStore`, in memory and on Redis: fenced compare-and-set (invariants 5, 9, 10)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.domain import Finding, OpenFinding, Severity, Side
from bot.errors import InputError
from guardrails import admission, lease
from statemachine import records
from tests.contract.conftest import Coordination

SHORT = lease.LeasePolicy(ttl_s=0.2, max_hold_s=600.0)


def record(state: str = "in_review", head: str = "a1", at: float = 1.25) -> records.PullRequestRecord:
    return records.PullRequestRecord("o/x", 1, state, head, updated_at=at)


def entry(to_state: str, at: float = 2.5) -> records.AuditEntry:
    return records.AuditEntry(at, "quorum", "open", to_state, "review_started", "new head")


async def claim(
    coord: Coordination, policy: lease.LeasePolicy = SHORT, claim_id: str = "c1"
) -> admission.Claim:
    scheduler = coord.scheduler(policy=policy)
    await scheduler.enqueue("o/x#1", "a1")
    held = await scheduler.claim(claim_id)
    assert held is not None
    return held


async def test_save_under_the_current_fence_creates_version_one(coord: Coordination) -> None:
    store, held = coord.state(), await claim(coord)

    saved = await store.save(record(), expected_version=0, fence=held.fence)

    assert saved
    assert await store.load("o/x#1") == record().saved(1, held.fence)


async def test_unknown_record_loads_as_none(coord: Coordination) -> None:
    assert await coord.state().load("o/x#404") is None


async def test_stale_version_is_rejected(coord: Coordination) -> None:
    store, held = coord.state(), await claim(coord)
    assert await store.save(record(), expected_version=0, fence=held.fence)
    assert await store.save(record("approved", at=2.0), expected_version=1, fence=held.fence)

    lost_update = await store.save(record("changes_requested", at=3.0), expected_version=1, fence=held.fence)

    assert not lost_update
    stored = await store.load("o/x#1")
    assert stored is not None and (stored.state, stored.version) == ("approved", 2)


async def test_resent_save_is_reported_done_and_changes_nothing(coord: Coordination) -> None:
    store, held = coord.state(), await claim(coord)

    first = await store.save(record(), expected_version=0, fence=held.fence)
    resent = await store.save(record(), expected_version=0, fence=held.fence)

    assert first and resent
    stored = await store.load("o/x#1")
    assert stored is not None and stored.version == 1


async def test_stale_fence_is_rejected_after_the_pr_changed_hands(coord: Coordination) -> None:
    store, old = coord.state(), await claim(coord)
    assert await store.save(record(), expected_version=0, fence=old.fence)
    await asyncio.sleep(0.3)
    new = await coord.scheduler(policy=SHORT).claim("c2")
    assert new is not None

    zombie = await store.save(record("approved", at=9.0), expected_version=1, fence=old.fence)
    current = await store.save(record("changes_requested", at=9.5), expected_version=1, fence=new.fence)

    assert (zombie, current) == (False, True)
    stored = await store.load("o/x#1")
    assert stored is not None and (stored.state, stored.fence) == ("changes_requested", new.fence)


async def test_pr_never_claimed_is_written_with_fence_zero_until_claimed(coord: Coordination) -> None:
    store = coord.state()
    assert await store.save(record("open"), expected_version=0, fence=0)

    held = await claim(coord)

    assert not await store.save(record("closed", at=5.0), expected_version=1, fence=0)
    assert await store.save(record("in_review", at=5.0), expected_version=1, fence=held.fence)


async def test_audit_is_fenced_and_a_resent_entry_is_not_doubled(coord: Coordination) -> None:
    store = coord.state()
    old = await claim(coord)
    assert await store.append_audit("o/x#1", entry("in_review"), old.fence)
    assert await store.append_audit("o/x#1", entry("in_review"), old.fence)
    await asyncio.sleep(0.3)
    new = await coord.scheduler(policy=SHORT).claim("c2")
    assert new is not None

    stale = await store.append_audit("o/x#1", entry("approved", 3.0), old.fence)
    fresh = await store.append_audit("o/x#1", entry("approved", 3.0), new.fence)

    assert (stale, fresh) == (False, True)
    assert await store.audit("o/x#1") == [entry("in_review"), entry("approved", 3.0)]


async def test_open_blockers_survive_a_save_and_a_load(coord: Coordination) -> None:
    blockers = (
        OpenFinding(
            Finding("auth.py", 2, Side.RIGHT, Severity.CRITICAL, "skips the\ncheck"), "a" * 40, "x\ny"
        ),
        OpenFinding(Finding("old.py", 9, Side.LEFT, Severity.MAJOR, "ünïcode"), "b" * 40, "", placed=False),
    )
    store, held = coord.state(), await claim(coord)
    kept = dataclasses.replace(record(), open_blockers=records.encode_blockers(blockers))

    await store.save(kept, expected_version=0, fence=held.fence)
    loaded = await store.load("o/x#1")

    assert loaded is not None and records.decode_blockers(loaded.open_blockers) == blockers
    assert records.decode_blockers("") == () and records.encode_blockers(()) == ""


def test_unreadable_open_blockers_stop_the_job_instead_of_vanishing() -> None:
    for text in ("not json", '[{"path": "a"}]', '[{"path": "a", "line": 1, "side": "UP"}]'):
        with pytest.raises(InputError):
            records.decode_blockers(text)


async def test_a_note_is_appended_without_a_fence_and_not_doubled(coord: Coordination) -> None:
    held = await claim(coord)
    store = coord.state()
    note = records.AuditEntry(3.5, "quorum", "in_review", "in_review", "withdraw", "withdrew review 7")

    await store.append_audit("o/x#1", entry("in_review"), held.fence)
    await store.append_note("o/x#1", note)
    await store.append_note("o/x#1", note)  # a re-sent note

    assert await store.audit("o/x#1") == [entry("in_review"), note]
