"""`quorum jobs` run as an operator would (the real entry point, a child process) against a real Redis:
the queue shown, dead letters requeued, and a running job cancelled so its holder is fenced out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.adapters.redis import conn as redis_conn
from bot.adapters.redis import scheduler as redis_scheduler
from guardrails import admission, lease

pytestmark = pytest.mark.redis
ROOT = Path(__file__).resolve().parents[2]
Outcome = admission.FinishOutcome


def quorum(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process, configured by `env` alone."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("QUORUM_", "CREDENTIALS_", "STATE_"))}
    clean.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "bot.entrypoints.cli", *argv],
        env=clean, cwd=env["HOME"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip


Replica = tuple[redis_scheduler.RedisScheduler, dict[str, str]]


@pytest.fixture
async def replica(redis_url: str, tmp_path: Path) -> AsyncIterator[Replica]:
    """A scheduler as a serving replica holds it, and the environment of an operator's shell."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    client = redis_conn.client(redis_url)
    scheduler = redis_scheduler.RedisScheduler(
        client, redis_conn.Keys(prefix), policy=lease.LeasePolicy(ttl_s=60, max_hold_s=3600)
    )
    env = {
        "HOME": str(tmp_path),
        "QUORUM_REDIS__URL": redis_url,
        "QUORUM_REDIS__KEY_PREFIX": prefix,
        "QUORUM_WORKSPACE__STATE_DIR": str(tmp_path / "state"),
    }
    yield scheduler, env
    await client.aclose()


async def _seed(scheduler: redis_scheduler.RedisScheduler) -> admission.Claim:
    """A dead letter (o/b#3), a running job (o/a#1, held by `w1:abc`) and a waiting one (o/a#2)."""
    await scheduler.enqueue("o/b#3", "c" * 40)
    doomed = await scheduler.claim("w0:xyz")
    assert doomed is not None
    await scheduler.finish(doomed, Outcome.FAILED, "ConfigError: bad prompt version")
    await scheduler.enqueue("o/a#1", "a" * 40)
    await scheduler.enqueue("o/a#2", "b" * 40)
    held = await scheduler.claim("w1:abc")
    assert held is not None and held.job.id == "o/a#1"
    return held


async def test_jobs_lists_queued_running_and_dead_with_holder_and_error(replica: Replica) -> None:
    scheduler, env = replica
    held = await _seed(scheduler)

    shown = quorum(env, "jobs", "--format", "json")
    text = quorum(env, "jobs")

    assert shown.returncode == 0, shown.stderr
    listing = json.loads(shown.stdout)
    assert [(j["job_id"], j["head_sha"], j["delayed"]) for j in listing["queued"]] == [
        ("o/a#2", "b" * 40, False)
    ]
    [running] = listing["running"]
    assert held.token not in shown.stdout + text.stdout
    assert (running["job_id"], running["claim_id"], running["token_prefix"], running["fence"]) == (
        "o/a#1", "w1:abc", held.token[:8], held.fence,
    )  # fmt: skip
    assert [(d["job_id"], d["error"]) for d in listing["dead"]] == [
        ("o/b#3", "ConfigError: bad prompt version")
    ]
    assert text.returncode == 0, text.stderr
    assert f"o/a#1  holder w1:abc (token {held.token[:8]})  fence {held.fence}  age " in text.stdout
    assert "o/b#3  head cccccccccccc  attempts 1  died " in text.stdout
    assert "last error: ConfigError: bad prompt version" in text.stdout


async def test_cancel_fences_out_the_running_holder_and_is_audited(replica: Replica) -> None:
    scheduler, env = replica
    held = await _seed(scheduler)

    running = quorum(env, "jobs", "cancel", "o/a#1", "--format", "json")
    waiting = quorum(env, "jobs", "cancel", "o/a#2")
    unknown = quorum(env, "jobs", "cancel", "o/z#9")

    assert running.returncode == 0, running.stderr
    assert json.loads(running.stdout) == {"job_id": "o/a#1", "result": "revoked"}
    assert (waiting.returncode, waiting.stdout) == (0, "o/a#2: removed from the queue\n")
    assert unknown.returncode == 1 and "nothing to cancel" in unknown.stdout
    gate = await scheduler.leases.check_publish(held.lease, "a" * 40)
    assert not gate.allowed
    assert not await scheduler.renew(held)
    assert await scheduler.finish(held, Outcome.DONE) is admission.FinishResult.NOT_HELD
    assert await scheduler.running() == [] and await scheduler.queued() == []
    audit = await scheduler._redis.xrange(redis_conn.Keys(env["QUORUM_REDIS__KEY_PREFIX"])("q", "audit"))
    cancels = [fields for _, fields in audit if fields["event"] == "cancel"]
    assert [(c["job"], c["was"], c["token"]) for c in cancels] == [
        ("o/a#1", "running", held.token), ("o/a#2", "queued", ""),
    ]  # fmt: skip
    assert all(c["actor"].startswith("cli:") for c in cancels)


async def test_requeue_puts_dead_letters_back_in_line(replica: Replica) -> None:
    scheduler, env = replica
    await _seed(scheduler)

    all_dead = quorum(env, "jobs", "requeue", "--dead")
    again = quorum(env, "jobs", "requeue", "o/b#3", "--format", "json")
    neither = quorum(env, "jobs", "requeue")

    assert (all_dead.returncode, all_dead.stdout) == (0, "o/b#3: requeued\n")
    assert again.returncode == 1 and json.loads(again.stdout) == {"not_dead": ["o/b#3"], "requeued": []}
    assert neither.returncode == 2 and "--dead" in neither.stderr
    assert await scheduler.dead_letters() == []
    assert [(q.job_id, q.attempts) for q in await scheduler.queued()] == [("o/a#2", 0), ("o/b#3", 0)]


async def test_jobs_without_redis_says_so_and_exits_1(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "QUORUM_REDIS__URL": "redis://127.0.0.1:1/0",
           "QUORUM_WORKSPACE__STATE_DIR": str(tmp_path / "state")}  # fmt: skip

    done = quorum(env, "jobs")

    assert done.returncode == 1 and "redis" in done.stderr.lower() and done.stdout == ""
