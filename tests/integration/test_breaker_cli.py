"""Operators see breakers in `quorum doctor` and `quorum breaker list`, and close one with `reset`, for
every replica at once (the breakers live in Redis)."""

from __future__ import annotations

import argparse
import asyncio
import io
import re
from pathlib import Path

import pytest

from bot.adapters.redis import breakers as redis_breakers
from bot.adapters.redis import conn as redis_conn
from bot.entrypoints import cli_args
from bot.entrypoints.doctor import checks as doctor_checks
from bot.entrypoints.operator import breaker as breaker_cmd
from config.settings import Settings, load_settings
from guardrails import breaker

pytestmark = pytest.mark.redis
KEYS = redis_conn.Keys("quorum")


def settings(tmp_path: Path, redis_url: str) -> Settings:
    return load_settings(secrets_dirs=[], workspace={"state_dir": tmp_path}, redis={"url": redis_url})


def cli(s: Settings, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    cli_args.add_breaker(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    return breaker_cmd.run(s, parser.parse_args(["breaker", *argv]), out=out), out.getvalue()


async def trip(redis_url: str, name: str) -> breaker.Permit:
    """Another replica over-billed by `name`: trip its breaker, then ask as a third replica would."""
    client = redis_conn.client(redis_url)
    breakers = redis_breakers.RedisCircuitBreakers(client, KEYS)
    await breakers.observe(name, "c1", breaker.Event.TRIP, "usage_over_reservation")
    permit = await breakers.admit(name, "c2")
    await client.aclose()
    return permit


async def admitted(redis_url: str, name: str) -> bool:
    client = redis_conn.client(redis_url)
    permit = await redis_breakers.RedisCircuitBreakers(client, KEYS).admit(name, "c3")
    await client.aclose()
    return permit.allowed


async def test_doctor_warns_about_an_open_breaker_and_names_the_reset(tmp_path: Path, redis_url: str) -> None:
    s = settings(tmp_path, redis_url)
    healthy = await doctor_checks.breakers(s, 5.0)
    await trip(redis_url, "openai/gpt-4o")

    row = await doctor_checks.breakers(s, 5.0)

    assert (healthy.status, healthy.detail) == ("ok", "all closed (0 model(s) seen failing)")
    assert row.status == "warn" and not row.required
    assert re.fullmatch(r"openai/gpt-4o open for (299|300)s more \(usage_over_reservation\)", row.detail)
    assert "quorum breaker reset PROVIDER/MODEL" in row.hint


def test_breaker_reset_closes_it_for_every_replica(tmp_path: Path, redis_url: str) -> None:
    s = settings(tmp_path, redis_url)
    refused = asyncio.run(trip(redis_url, "anthropic/claude-sonnet-4"))

    listed = cli(s, "list")
    reset = cli(s, "reset", "anthropic/claude-sonnet-4")
    again = cli(s, "reset", "anthropic/claude-sonnet-4")

    assert not refused.allowed
    assert (
        listed[0] == 0
        and "anthropic/claude-sonnet-4 open for" in listed[1]
        and "opened 1 time(s)" in listed[1]
    )
    assert reset == (0, "anthropic/claude-sonnet-4: closed\n")
    assert again == (1, "anthropic/claude-sonnet-4: was not open (nothing to do)\n")
    assert asyncio.run(admitted(redis_url, "anthropic/claude-sonnet-4"))


def test_breaker_reset_without_a_name_is_a_usage_error(tmp_path: Path, redis_url: str) -> None:
    code, out = cli(settings(tmp_path, redis_url), "reset")

    assert code == 2 and "PROVIDER/MODEL" in out
