"""Discord notifications through a webhook, sent from a bounded background queue.

`notify()` never blocks and never raises: it filters by kind, redacts, renders one embed within Discord's
limits and queues it (the oldest is dropped, and counted, when the queue is full). One task sends the
queue in order through discord.py's `Webhook`, which waits out rate limits itself; an edge 429 (no `Via`),
5xx and connection errors are retried a bounded number of times (`bot.retry_policy`, `Retry-After`
honoured), a deleted webhook (404) stops sending for good, and the queue is flushed on shutdown within a
deadline. Limits: discord-api-docs "Embed Limits".
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import logging
import re
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from bot import errors, retry_policy
from bot.ports import Notification, NotificationKind
from config import sections
from guardrails.text import redaction

with warnings.catch_warnings():
    # discord.py imports the deprecated `audioop` for voice, which Quorum never uses.
    warnings.simplefilter("ignore", DeprecationWarning)
    import discord

log = logging.getLogger(__name__)

TITLE_MAX, DESCRIPTION_MAX, FOOTER_MAX, EMBED_MAX = 256, 4096, 2048, 6000
FIELDS_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX = 25, 256, 1024
ELLIPSIS = "…"
COLOURS: dict[NotificationKind, int] = {
    NotificationKind.DECIDED: 0x5865F2,
    NotificationKind.MERGED: 0x57F287,
    NotificationKind.ESCALATED: 0xFEE75C,
    NotificationKind.BUDGET_EXCEEDED: 0xED4245,
    NotificationKind.FAILURES: 0xEB459E,
    NotificationKind.BUDGET_ALERT: 0xE67E22,
    NotificationKind.PROVIDER_ALERT: 0xED4245,
}
# Statuses after which the URL will not work again: sending on would only count toward Discord's
# 10,000-errors-per-10-minutes ban of the whole IP.
_GONE = frozenset({401, 403, 404})
# The shape discord.py's `Webhook.from_url` accepts (webhook/async_.py); anything else it refuses.
_URL = re.compile(r"discord(?:app)?\.com/api/webhooks/(?P<id>[0-9]{17,20})/(?P<token>[A-Za-z0-9.\-_]{60,})")


def secret_parts(webhook_url: str) -> list[str]:
    """The values to treat as secrets: the URL and its token (discord.py logs the API URL at DEBUG)."""
    match = _URL.search(webhook_url)
    return [webhook_url, match["token"]] if match else [webhook_url]


def api_base() -> str:
    """The API base discord.py sends to (tests point it at a fake)."""
    return discord.http.Route.BASE


def trim(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def _clean(text: str, redactor: redaction.Redactor) -> str:
    # Redact first (a secret could contain '@'), then defuse @everyone, @here, <@id>, <@&role>.
    return discord.utils.escape_mentions(redactor.redact(text)[0])


def render(notification: Notification, redactor: redaction.Redactor) -> discord.Embed:
    """One embed for `notification`, redacted, without live mentions, within every Discord limit."""
    n = notification
    title = trim(_clean(n.title, redactor) or n.kind.value.replace("_", " "), TITLE_MAX)
    where = f"{n.repo}#{n.number}" if n.repo and n.number else n.repo
    footer = trim(_clean(f"Quorum · {n.kind.value}" + (f" · {where}" if where else ""), redactor), FOOTER_MAX)
    fields = [
        (
            trim(_clean(name, redactor), FIELD_NAME_MAX) or "-",
            trim(_clean(value, redactor), FIELD_VALUE_MAX) or "-",
        )
        for name, value in n.fields[:FIELDS_MAX]
    ]
    fixed = len(title) + len(footer)
    # Fields give way to the description when the total would pass 6000: keep at least a short text.
    while fields and fixed + sum(len(a) + len(b) for a, b in fields) > EMBED_MAX - 200:
        fields.pop()
    room = EMBED_MAX - fixed - sum(len(a) + len(b) for a, b in fields)
    embed = discord.Embed(
        title=title,
        description=trim(_clean(n.text, redactor), min(DESCRIPTION_MAX, room)) or None,
        url=_link(n.url, redactor),
        colour=COLOURS.get(n.kind, 0x99AAB5),
        timestamp=datetime.datetime.now(datetime.UTC),
    )
    for name, value in fields:
        embed.add_field(name=name, value=value, inline=False)
    embed.set_footer(text=footer)
    return embed


def _link(url: str, redactor: redaction.Redactor) -> str | None:
    """The PR link, if it is an http(s) URL that holds no secret (Discord refuses other schemes)."""
    if not url or len(url) > 2048 or urlsplit(url).scheme not in ("http", "https"):
        return None
    return url if redactor.redact(url)[0] == url else None


@dataclass
class NotifierStats:
    """What happened to the notifications so far."""

    queued: int = 0
    sent: int = 0
    filtered: int = 0
    retries: int = 0
    dropped_queue_full: int = 0
    dropped_failed: int = 0
    dropped_unsent: int = 0
    disabled: bool = False
    last_failure: str = ""  # why the last send failed, "" once one succeeds (for `/readyz`)


@dataclass
class _Item:
    embed: discord.Embed
    attempts: int = 0


class DiscordNotifier:
    """`Notifier` over a Discord webhook; send with `async with notifier.running():`."""

    def __init__(
        self,
        webhook_url: str,
        *,
        events: Collection[str],
        redactor: redaction.Redactor,
        queue_size: int = 500,
        retry: retry_policy.RetryPolicy | None = None,
        send_timeout_s: float = 30.0,
        shutdown_flush_s: float = 5.0,
        username: str = "Quorum",
        sleep: retry_policy.Sleep = asyncio.sleep,
    ) -> None:
        self._url = webhook_url
        parse_url(webhook_url)  # refuse a malformed URL now, not at the first send
        self._events = frozenset(str(e) for e in events)
        self._redactor = redactor
        self._size = max(1, queue_size)
        self._retry = retry or retry_policy.for_discord(sections.DiscordSettings())
        self._send_timeout_s, self._shutdown_flush_s = send_timeout_s, shutdown_flush_s
        self._sleep = sleep
        self._username = username
        self._queue: collections.deque[_Item] = collections.deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._inflight: _Item | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id = 0
        self.stats = NotifierStats()

    @classmethod
    def from_settings(
        cls, settings: sections.DiscordSettings, *, redactor: redaction.Redactor
    ) -> DiscordNotifier:
        """A notifier for `[discord]` (its webhook URL must be set)."""
        assert settings.webhook_url is not None
        return cls(
            settings.webhook_url.get_secret_value(),
            events=settings.events,
            redactor=redactor,
            retry=retry_policy.for_discord(settings),
        )

    def notify(self, notification: Notification) -> None:
        """Queue one notification (dropped when its kind is not enabled); never blocks, never raises."""
        try:
            if notification.kind.value not in self._events:
                self.stats.filtered += 1
                return
            item = _Item(render(notification, self._redactor))
            loop = self._loop
            if loop is not None and threading.get_ident() != self._thread_id:
                loop.call_soon_threadsafe(self._enqueue, item)
            else:
                self._enqueue(item)
        except Exception:
            log.warning("discord: could not queue a %s notification", notification.kind, exc_info=True)
            self.stats.dropped_failed += 1

    def _enqueue(self, item: _Item) -> None:
        if self.stats.disabled:
            self.stats.dropped_failed += 1
            return
        if len(self._queue) >= self._size:
            self._queue.popleft()
            self.stats.dropped_queue_full += 1
        self._queue.append(item)
        self.stats.queued += 1
        self._wake.set()

    @property
    def pending(self) -> int:
        """Notifications waiting to be sent."""
        return len(self._queue)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[DiscordNotifier]:
        """Send in the background while the block runs; then flush for up to `shutdown_flush_s`."""
        self._loop, self._thread_id = asyncio.get_running_loop(), threading.get_ident()
        self._closing = False
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._send_timeout_s))
        webhook = discord.Webhook.from_url(self._url, session=session)
        task = asyncio.create_task(self._run(webhook), name="discord-notifier")
        try:
            yield self
        finally:
            self._closing = True
            self._wake.set()
            try:
                await asyncio.wait([task], timeout=self._shutdown_flush_s)
            finally:
                task.cancel()
                await asyncio.wait([task])
                unsent = len(self._queue) + (self._inflight is not None)
                if unsent:
                    log.warning("discord: %d notifications unsent at shutdown", unsent)
                self.stats.dropped_unsent += unsent
                self._queue.clear()
                self._inflight = None
                self._loop = None
                await session.close()

    async def _run(self, webhook: discord.Webhook) -> None:
        while True:
            if not self._queue:
                if self._closing or self.stats.disabled:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._inflight = self._queue.popleft()
            await self._send(webhook, item)
            self._inflight = None

    async def _send(self, webhook: discord.Webhook, item: _Item) -> None:
        """Send one item, retrying what may work the next time; count it as sent or dropped."""
        retrying = self._retry.retrying(
            retry_policy.on_exception(_transient),
            retry_after=_retry_after,
            sleep=self._sleep,
            before_retry=self._will_retry,
        )
        try:
            await retrying(self._deliver, webhook, item)
        except discord.HTTPException as exc:
            self._failed(item, exc.status, _describe(exc))
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self._failed(item, 0, _describe(exc))
        else:
            self.stats.sent += 1
            self.stats.last_failure = ""

    async def _deliver(self, webhook: discord.Webhook, item: _Item) -> None:
        item.attempts += 1
        # discord.py sleeps through 429s inside send(): the timeout bounds a long Retry-After.
        async with asyncio.timeout(self._send_timeout_s):
            await webhook.send(
                embed=item.embed,
                username=self._username,
                allowed_mentions=discord.AllowedMentions.none(),
                wait=True,
            )

    def _will_retry(self, failure: BaseException | None, wait: float) -> None:
        self.stats.retries += 1
        self.stats.last_failure = _describe(failure)

    def _failed(self, item: _Item, status: int, what: str) -> None:
        self.stats.last_failure = what
        if status in _GONE:
            log.error("discord: the webhook answered %s; notifications are off until its URL is fixed", what)
            self.stats.disabled = True
            self.stats.dropped_failed += 1 + len(self._queue)
            self._queue.clear()
            return
        log.warning("discord: dropped a notification after %d attempts (%s)", item.attempts, what)
        self.stats.dropped_failed += 1


def _transient(exc: BaseException) -> bool:
    """No answer, or a status worth another try (an edge 429, a 5xx); never a gone webhook or a 4xx."""
    if isinstance(exc, discord.HTTPException):
        return retry_policy.transient_status(exc.status)
    return isinstance(exc, aiohttp.ClientError | OSError | TimeoutError)


def _describe(exc: BaseException | None) -> str:
    return f"HTTP {exc.status}" if isinstance(exc, discord.HTTPException) else type(exc).__name__


def parse_url(url: str) -> tuple[int, str]:
    """The webhook's id and token; ConfigError (never echoing the URL) if it is not a webhook URL."""
    match = _URL.search(url)
    if match is None:
        raise errors.ConfigError(
            "discord.webhook_url is not a Discord webhook URL",
            (
                "discord.webhook_url (env QUORUM_DISCORD__WEBHOOK_URL): not https://discord.com/api/webhooks/ID/TOKEN",
            ),
        )
    return int(match["id"]), match["token"]


def _retry_after(exc: BaseException) -> float | None:
    """Seconds to wait after a 429 that discord.py did not wait out itself (no `Via`: an edge limit)."""
    if not isinstance(exc, discord.HTTPException) or exc.status != 429:
        return None
    value = exc.response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class RepeatedFailures:
    """Says when failures deserve one notification: `threshold` within `window_s`, then quiet for a window."""

    def __init__(
        self, threshold: int, window_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold, self._window_s, self._clock = max(1, threshold), window_s, clock
        self._times: collections.deque[float] = collections.deque()
        self._last_alert: float | None = None

    def record(self) -> bool:
        """Count one failure now; True when this one should be notified."""
        now = self._clock()
        self._times.append(now)
        while self._times and self._times[0] <= now - self._window_s:
            self._times.popleft()
        if len(self._times) < self._threshold:
            return False
        if self._last_alert is not None and now - self._last_alert < self._window_s:
            return False
        self._last_alert = now
        self._times.clear()
        return True
