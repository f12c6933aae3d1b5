"""The Discord notifier against a wire-level fake Discord reached through discord.py's own API base."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot import errors
from bot.adapters.discord import notifier as discord_notifier
from bot.adapters.discord.notifier import DiscordNotifier, RepeatedFailures
from bot.ports import Notification, NotificationKind
from bot.retry_policy import RetryPolicy
from config import sections
from guardrails.text import redaction
from tests.fakes.discord_server import TOKEN, Failure, FakeDiscord
from tests.support.clock import FakeClock

SECRET = "sk-configured-llm-key-0123456789"
Make = Callable[..., DiscordNotifier]


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    with FakeDiscord(limit=5, window_s=0.05) as server, server.redirect():
        yield server


@pytest.fixture
def make(fake: FakeDiscord) -> Make:
    def build(**options: Any) -> DiscordNotifier:
        options.setdefault("events", sections.DISCORD_EVENTS)
        secrets = [SECRET, *discord_notifier.secret_parts(fake.webhook_url)]
        return DiscordNotifier(fake.webhook_url, redactor=redaction.Redactor(secrets), **options)

    return build


def note(title: str, kind: NotificationKind = NotificationKind.ESCALATED, **fields: Any) -> Notification:
    defaults: dict[str, Any] = {"text": "needs a human", "repo": "acme/app", "number": 7}
    return Notification(kind, title, **(defaults | fields))


def embed(body: dict[str, Any]) -> dict[str, Any]:
    (only,) = body["embeds"]
    return dict(only)


async def test_an_escalation_is_one_embed_with_link_colour_and_no_mentions(
    make: Make, fake: FakeDiscord
) -> None:
    notifier = make()

    async with notifier.running():
        notifier.notify(
            note(
                "@everyone PR needs you",
                text="ping @here and <@123456789012345678> and <@&123456789012345678>",
                url="https://github.com/acme/app/pull/7",
                fields=(("why", "max rounds reached"),),
            )
        )

    (body,) = fake.delivered
    sent = embed(body)
    assert fake.received[0].query["wait"] == "1"
    assert body["allowed_mentions"]["parse"] == []
    assert sent["url"] == "https://github.com/acme/app/pull/7"
    assert sent["color"] == discord_notifier.COLOURS[NotificationKind.ESCALATED]
    assert sent["fields"] == [{"name": "why", "value": "max rounds reached", "inline": False}]
    assert "acme/app#7" in sent["footer"]["text"]
    text = json.dumps(body, ensure_ascii=False)
    for live in ("@everyone", "@here", "<@123456789012345678>", "<@&123456789012345678>"):
        assert live not in text


async def test_every_part_is_trimmed_to_discord_limits(make: Make, fake: FakeDiscord) -> None:
    notifier = make()
    many = tuple((f"name-{i}-" + "n" * 300, f"value-{i}-" + "v" * 2000) for i in range(30))

    async with notifier.running():
        notifier.notify(note("t" * 300, text="d" * 10_000, fields=many))
        notifier.notify(note("short", text="d" * 10_000))

    first, second = (embed(b) for b in fake.delivered)
    for sent in (first, second):
        fields = sent.get("fields", [])
        total = len(sent["title"]) + len(sent.get("description", "")) + len(sent["footer"]["text"])
        total += sum(len(f["name"]) + len(f["value"]) for f in fields)
        assert total <= 6000
        assert len(sent["title"]) <= 256 and len(sent.get("description", "")) <= 4096
        assert len(fields) <= 25
        assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in fields)
        assert all(f["value"].endswith("…") for f in fields)
    assert first["title"] == "t" * 255 + "…"
    assert second["description"] == "d" * 4095 + "…"


async def test_no_secret_reaches_any_body(make: Make, fake: FakeDiscord) -> None:
    notifier = make()
    token = "ghp_" + "Ab3D" * 9

    async with notifier.running():
        notifier.notify(
            note(
                f"key {SECRET}",
                text=f"failed with {SECRET} and {token} and {fake.webhook_url}",
                url=f"https://github.com/acme/app/pull/7?k={SECRET}",
                fields=((f"f {SECRET}", f"v {SECRET}"),),
            )
        )

    (body,) = fake.delivered
    text = json.dumps(body)
    assert SECRET not in text and token not in text and TOKEN not in text
    assert "[REDACTED:" in text
    assert "url" not in embed(body)  # a link holding a secret is left out, not sent masked


async def test_a_429_is_waited_out_and_the_message_delivered_once(make: Make, fake: FakeDiscord) -> None:
    fake.fail_next(Failure(429, retry_after=0.2))
    notifier = make()

    async with notifier.running():
        notifier.notify(note("once"))

    assert [r.status for r in fake.received] == [429, 200]
    assert fake.received[1].at - fake.received[0].at >= 0.2
    assert [embed(b)["title"] for b in fake.delivered] == ["once"]


async def test_an_edge_429_without_via_is_retried_after_retry_after(make: Make, fake: FakeDiscord) -> None:
    fake.fail_next(Failure(429, retry_after=0.1, via=False))
    notifier = make()

    async with notifier.running():
        notifier.notify(note("edge"))

    assert [r.status for r in fake.received] == [429, 200]
    assert notifier.stats.retries == 1 and notifier.stats.sent == 1


async def test_only_enabled_events_are_sent(make: Make, fake: FakeDiscord) -> None:
    notifier = make(events=["escalated", "budget_exceeded"])

    async with notifier.running():
        notifier.notify(note("decided", NotificationKind.DECIDED))
        notifier.notify(note("escalated", NotificationKind.ESCALATED))
        notifier.notify(note("failures", NotificationKind.FAILURES))
        notifier.notify(note("budget", NotificationKind.BUDGET_EXCEEDED))

    assert [embed(b)["title"] for b in fake.delivered] == ["escalated", "budget"]
    assert notifier.stats.filtered == 2


async def test_a_burst_of_200_arrives_in_order_under_rate_limits(make: Make, fake: FakeDiscord) -> None:
    notifier = make(shutdown_flush_s=60)

    async with notifier.running():
        for i in range(200):
            notifier.notify(note(f"n-{i}"))
        await asyncio.sleep(0)

    assert [embed(b)["title"] for b in fake.delivered] == [f"n-{i}" for i in range(200)]
    assert notifier.stats.sent == 200 and notifier.stats.dropped_queue_full == 0
    # 5 per 50 ms: 200 messages cannot have taken less than 39 windows.
    assert fake.received[-1].at - fake.received[0].at >= 39 * 0.05


async def test_past_the_queue_size_the_oldest_are_dropped_and_counted(make: Make, fake: FakeDiscord) -> None:
    notifier = make(queue_size=10)

    async with notifier.running():
        for i in range(50):  # no await: the sender has not run yet
            notifier.notify(note(f"n-{i}"))

    assert [embed(b)["title"] for b in fake.delivered] == [f"n-{i}" for i in range(40, 50)]
    assert notifier.stats.dropped_queue_full == 40


async def test_a_deleted_webhook_is_logged_once_and_never_called_again(
    make: Make, fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    fake.deleted = True
    notifier = make()

    with caplog.at_level(logging.WARNING, logger="bot.adapters.discord.notifier"):
        async with notifier.running():
            for i in range(3):
                notifier.notify(note(f"n-{i}"))
            await asyncio.sleep(0.2)
            notifier.notify(note("later"))

    assert [r.status for r in fake.received] == [404]
    assert notifier.stats.disabled and notifier.stats.dropped_failed == 4
    errors_logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors_logged) == 1 and TOKEN not in caplog.text


async def test_a_transient_5xx_is_retried_and_delivered_once(make: Make, fake: FakeDiscord) -> None:
    fake.fail_next(Failure(503))
    notifier = make()

    async with notifier.running():
        notifier.notify(note("after 503"))

    assert [r.status for r in fake.received] == [503, 200]
    assert [embed(b)["title"] for b in fake.delivered] == ["after 503"]


async def test_a_persistent_5xx_drops_after_bounded_attempts_and_moves_on(
    make: Make, fake: FakeDiscord
) -> None:
    fake.fail_next(Failure(502), Failure(502), Failure(502))
    # discord.py sleeps a second after each 5xx: the send timeout cuts that, one 502 per attempt.
    notifier = make(retry=RetryPolicy(2, 0.01, 60.0, jitter=0.0), send_timeout_s=0.3)

    async with notifier.running():
        notifier.notify(note("doomed"))
        notifier.notify(note("fine"))

    assert [r.status for r in fake.received] == [502, 502, 502, 200]
    assert [embed(b)["title"] for b in fake.delivered] == ["fine"]
    assert notifier.stats.dropped_failed == 1 and notifier.stats.retries == 2


async def test_a_long_retry_after_does_not_hold_shutdown(make: Make, fake: FakeDiscord) -> None:
    fake.fail_next(Failure(429, retry_after=120))
    notifier = make(shutdown_flush_s=0.5)

    started = time.monotonic()
    async with notifier.running():
        notifier.notify(note("stuck"))
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - started

    assert elapsed < 2.0
    assert notifier.stats.dropped_unsent == 1 and fake.delivered == []


async def test_notify_from_another_thread_is_delivered(make: Make, fake: FakeDiscord) -> None:
    notifier = make()

    async with notifier.running():
        thread = threading.Thread(target=notifier.notify, args=(note("from a thread"),))
        thread.start()
        await asyncio.to_thread(thread.join)
        await asyncio.sleep(0.05)

    assert [embed(b)["title"] for b in fake.delivered] == ["from a thread"]


def test_a_malformed_url_is_a_config_error_that_does_not_echo_it() -> None:
    url = "https://example.com/hooks/secret-token-value"

    with pytest.raises(errors.ConfigError) as caught:
        DiscordNotifier(url, events=["merged"], redactor=redaction.Redactor())

    assert "secret-token-value" not in str(caught.value) + " ".join(caught.value.problems)


def test_repeated_failures_notify_once_per_window() -> None:
    now = [0.0]
    failures = RepeatedFailures(3, 60.0, clock=lambda: now[0])

    def at(t: float) -> bool:
        now[0] = t
        return failures.record()

    assert [at(0), at(10), at(20)] == [False, False, True]  # third within a minute
    assert [at(30), at(40), at(50)] == [False, False, False]  # quiet for a window after notifying
    assert [at(200), at(300), at(400)] == [False, False, False]  # spread out: never three in a window
    assert [at(401), at(402)] == [False, True]


@pytest.fixture
def timed() -> Iterator[tuple[FakeDiscord, FakeClock]]:
    """A fake Discord stamping arrivals on a fake clock, the one the notifier's waits move."""
    clock = FakeClock()
    with FakeDiscord(clock=clock.monotonic) as server, server.redirect():
        yield server, clock


def timed_notifier(fake: FakeDiscord, clock: FakeClock, **options: Any) -> DiscordNotifier:
    secrets = discord_notifier.secret_parts(fake.webhook_url)
    options.setdefault("events", sections.DISCORD_EVENTS)
    return DiscordNotifier(
        fake.webhook_url, redactor=redaction.Redactor(secrets), sleep=clock.skip, **options
    )


async def test_an_edge_429_is_sent_again_no_earlier_than_its_retry_after(
    timed: tuple[FakeDiscord, FakeClock],
) -> None:
    fake, clock = timed
    fake.fail_next(Failure(429, retry_after=3.0, via=False))  # `Retry-After: 3`, and no `Via`
    notifier = timed_notifier(fake, clock)

    async with notifier.running():
        notifier.notify(note("edge"))

    assert [r.status for r in fake.received] == [429, 200]
    assert fake.received[1].at - fake.received[0].at >= 3.0
    assert clock.slept == [3.0]  # Discord's wait, longer than the 1 s backoff


async def test_a_retry_after_past_the_longest_wait_is_cut_to_it(timed: tuple[FakeDiscord, FakeClock]) -> None:
    fake, clock = timed
    fake.fail_next(Failure(429, retry_after=600.0, via=False))
    notifier = timed_notifier(fake, clock, retry=RetryPolicy(4, 1.0, 60.0, jitter=0.0, max_wait_s=60.0))

    async with notifier.running():
        notifier.notify(note("edge"))

    assert [r.status for r in fake.received] == [429, 200] and clock.slept == [60.0]


async def test_a_4xx_is_sent_once_and_dropped_and_the_next_one_still_goes(
    timed: tuple[FakeDiscord, FakeClock],
) -> None:
    fake, clock = timed
    fake.fail_next(Failure(400))
    notifier = timed_notifier(fake, clock)

    async with notifier.running():
        notifier.notify(note("refused"))
        notifier.notify(note("fine"))

    assert [r.status for r in fake.received] == [400, 200] and clock.slept == []
    assert [embed(b)["title"] for b in fake.delivered] == ["fine"]
    assert notifier.stats.dropped_failed == 1 and not notifier.stats.disabled


async def test_5xx_after_5xx_backs_off_doubling_then_gives_up_after_max_attempts(
    timed: tuple[FakeDiscord, FakeClock],
) -> None:
    fake, clock = timed
    fake.fail_next(*[Failure(502)] * 3)
    # discord.py itself sleeps a second after each 5xx: the send timeout cuts that, one 502 per attempt.
    notifier = timed_notifier(fake, clock, retry=RetryPolicy(2, 1.0, 60.0, jitter=0.0), send_timeout_s=0.3)

    async with notifier.running():
        notifier.notify(note("doomed"))

    assert [r.status for r in fake.received] == [502, 502, 502] and clock.slept == [1.0, 2.0]
    assert notifier.stats.dropped_failed == 1 and notifier.stats.retries == 2
