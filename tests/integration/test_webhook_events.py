"""Every event GitHub documents is acknowledged over HTTP: handled ones reach the intake, the rest 204."""

from __future__ import annotations

from pathlib import Path

import httpx
from aiohttp import web

from bot import events
from bot.entrypoints import webhook
from tests.integration.test_webhook_app import Readiness, RecordingIntake
from tests.support.webhooks import delivery_headers, encode, event_of, load_sample, sample_names

SECRET = b"test-webhook-secret"
EVENT_LIST = Path(__file__).resolve().parents[1] / "samples" / "github-webhook-events.txt"


def documented_events() -> list[str]:
    lines = EVENT_LIST.read_text("utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def body_for(event: str) -> bytes:
    """A recorded sample of the event when there is one, else a small payload shaped like GitHub's."""
    recorded = [name for name in sample_names() if event_of(name) == event]
    if recorded:
        return encode(load_sample(recorded[0]))
    return encode({"action": "created", "sender": {"login": "octocat", "type": "User"}})


async def test_every_documented_event_is_acknowledged() -> None:
    names = documented_events()
    app = webhook.make_app(RecordingIntake(), secret=SECRET, max_body_bytes=1 << 20, ready=Readiness())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    answers: dict[str, int] = {}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:
            for n, event in enumerate(names):
                body = body_for(event)
                headers = delivery_headers(event, f"d-{n}", body, SECRET)
                answers[event] = (await client.post("/webhook", content=body, headers=headers)).status_code
    finally:
        await runner.cleanup()

    assert len(names) >= 70 and "projects_v2_item" in names
    refused = {event: status for event, status in answers.items() if not 200 <= status < 300}
    assert refused == {}
    ignored = {event for event in names if not events.handles(event)}
    assert {event for event, status in answers.items() if status == 204} >= ignored
