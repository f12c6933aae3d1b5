"""A wire-level fake of Discord's webhook API on 127.0.0.1 (aiohttp in a background thread).

Implements `POST /api/v10/webhooks/{id}/{token}` (`?wait=0|1`: 204, or the created message) with rate-limit
headers and a per-webhook bucket, scripted failures (429 with `retry_after` JSON, `Retry-After` and `Via`
headers; 5xx; 404 Unknown Webhook), and `GET` of the webhook. Every accepted JSON body is recorded.
discord.py is pointed at it with `with fake.redirect():` (it builds every URL from `Route.BASE`);
`webhook_url` is a real-looking URL, as `Webhook.from_url` insists on one.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

with warnings.catch_warnings():
    # discord.py imports the deprecated `audioop` for voice.
    warnings.simplefilter("ignore", DeprecationWarning)
    import discord.http

WEBHOOK_ID = 112233445566778899
TOKEN = "fAkE-tOkEn_" + "x9Y8z7W6v5" * 6
CHANNEL_ID = 998877665544332211


@dataclass(frozen=True)
class Failure:
    """One scripted reply: `status`, with `retry_after` for a 429 (`via=False`: an edge 429)."""

    status: int
    retry_after: float = 0.0
    via: bool = True


@dataclass(frozen=True)
class Received:
    """One POST the fake saw: its query, its JSON body and the status it answered."""

    query: dict[str, str]
    body: dict[str, Any]
    status: int
    at: float


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py parses JSON only when the content type is exactly `application/json` (no charset).
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


class FakeDiscord:
    """`with FakeDiscord(limit=5, window_s=0.05) as fake, fake.redirect(): ...`; `fake.delivered` holds the
    bodies that were accepted, in order."""

    def __init__(
        self,
        *,
        limit: int = 5,
        window_s: float = 0.05,
        name: str = "quorum-alerts",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window_s, self.name = limit, window_s, name
        self.clock = clock  # stamps `Received.at` (a test's fake clock, to see a client's waits)
        self.deleted = False
        self.received: list[Received] = []
        self.failures: collections.deque[Failure] = collections.deque()
        self.url = ""
        self._remaining, self._reset_at = limit, 0.0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="fake-discord")

    @property
    def webhook_url(self) -> str:
        return f"https://discord.com/api/webhooks/{WEBHOOK_ID}/{TOKEN}"

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/v10"

    @property
    def delivered(self) -> list[dict[str, Any]]:
        return [r.body for r in self.received if r.status < 300]

    def fail_next(self, *failures: Failure) -> None:
        self.failures.extend(failures)

    @contextlib.contextmanager
    def redirect(self) -> Iterator[None]:
        """Point discord.py's API base at this fake for the block."""
        old = discord.http.Route.BASE
        discord.http.Route.BASE = self.api_base
        try:
            yield
        finally:
            discord.http.Route.BASE = old

    # lifecycle

    def __enter__(self) -> FakeDiscord:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v10/webhooks/{id}/{token}", self._execute)
        app.router.add_get("/api/v10/webhooks/{id}/{token}", self._get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    # the wire

    def _known(self, request: web.Request) -> bool:
        return (
            not self.deleted
            and request.match_info["id"] == str(WEBHOOK_ID)
            and request.match_info["token"] == TOKEN
        )

    async def _get(self, request: web.Request) -> web.Response:
        if not self._known(request):
            return _json(404, {"message": "Unknown Webhook", "code": 10015})
        return _json(200, self._webhook_json())

    async def _execute(self, request: web.Request) -> web.Response:
        body = await request.json()
        query = dict(request.query)
        response = self._answer(request, body)
        self.received.append(Received(query, body, response.status, self.clock()))
        return response

    def _answer(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        if not self._known(request):
            return _json(404, {"message": "Unknown Webhook", "code": 10015})
        if self.failures:
            return self._failure(self.failures.popleft())
        now = time.monotonic()
        if now >= self._reset_at:
            self._remaining, self._reset_at = self.limit, now + self.window_s
        if self._remaining <= 0:
            return self._failure(Failure(429, retry_after=round(self._reset_at - now, 3)))
        self._remaining -= 1
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self._remaining),
            "X-RateLimit-Reset": f"{time.time() + (self._reset_at - now):.3f}",
            "X-RateLimit-Reset-After": f"{max(0.0, self._reset_at - now):.3f}",
            "X-RateLimit-Bucket": "fake-bucket",
        }
        if request.query.get("wait") in ("1", "true"):
            return _json(200, self._message_json(body), headers)
        return web.Response(status=204, headers=headers)

    def _failure(self, failure: Failure) -> web.Response:
        if failure.status == 429:
            headers = {"Retry-After": str(max(1, round(failure.retry_after))), "X-RateLimit-Scope": "user"}
            if failure.via:
                headers["Via"] = "1.1 google"
            body = {
                "message": "You are being rate limited.",
                "retry_after": failure.retry_after,
                "global": False,
            }
            return _json(429, body, headers)
        if failure.status == 404:
            return _json(404, {"message": "Unknown Webhook", "code": 10015})
        return _json(failure.status, {"message": "Server error", "code": 0})

    def _webhook_json(self) -> dict[str, Any]:
        return {
            "id": str(WEBHOOK_ID),
            "type": 1,
            "name": self.name,
            "avatar": None,
            "channel_id": str(CHANNEL_ID),
            "guild_id": "123456789012345678",
            "application_id": None,
            "token": TOKEN,
        }

    def _message_json(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(1_000_000_000_000_000_000 + len(self.received)),
            "channel_id": str(CHANNEL_ID),
            "type": 0,
            "content": body.get("content", ""),
            "embeds": body.get("embeds", []),
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
            "timestamp": "2026-01-01T00:00:00.000000+00:00",
            "edited_timestamp": None,
            "flags": 0,
            "webhook_id": str(WEBHOOK_ID),
            "author": {
                "id": str(WEBHOOK_ID),
                "username": body.get("username", self.name),
                "discriminator": "0000",
                "avatar": None,
                "bot": True,
            },
        }
