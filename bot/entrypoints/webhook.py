"""The HTTP edge of `quorum serve`: `POST /webhook` (verify, parse, hand to the intake) and health probes.

GitHub gives a delivery 10 s and never retries a failed one, so the handler only verifies and enqueues;
every refusal has a status GitHub's delivery log shows, and the reconciler recovers what was lost.
The body is read up to `max_body_bytes`, within `max_body_bytes_in_flight` held by all requests at once
(`webhook_body`), and verified before it is parsed; it is never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from bot import events, health, version
from bot.entrypoints import webhook_body
from bot.errors import ConfigError, CoordinationUnavailable, InputError

log = logging.getLogger(__name__)

# GitHub sends GUIDs and lower-case event names (with digits: `projects_v2_item`); anything else is
# refused before it reaches a log line.
_DELIVERY_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
_EVENT_NAME = re.compile(r"[a-z0-9_]{1,64}")
_READY_TIMEOUT_S = 2.0
# GitHub gives up on a delivery after 10 s; a body still arriving after that is nobody's delivery.
_BODY_TIMEOUT_S = 10.0
# Seconds a client refused for lack of body budget is asked to wait.
_RETRY_AFTER_S = 5
_NO_SUMMARY = events.Summary()


# Refusals answered without reading the body: the connection is closed after the answer.
_UNREAD = frozenset({401, 408, 413, 503})
_BODY_WORDS = {413: "body too large", 503: "too many bodies in flight", 408: "body too slow"}


@dataclass(frozen=True, slots=True)
class _Outcome:
    """The answer to one delivery and what the log line says about it."""

    status: int
    word: str
    summary: events.Summary = _NO_SUMMARY


def make_app(
    intake: events.Intake,
    *,
    secret: bytes,
    max_body_bytes: int,
    ready: Callable[[], Awaitable[health.Report]],
    intake_timeout_s: float = 5.0,
    max_body_bytes_in_flight: int | None = None,
    body_timeout_s: float = _BODY_TIMEOUT_S,
    extend: Callable[[web.Application], None] | None = None,
) -> web.Application:
    """The webhook and health app; refuses to build without a secret (unsigned deliveries are never taken).

    `max_body_bytes_in_flight` bounds the body bytes all requests hold at once (default: two largest bodies).
    `extend` adds routes and middlewares of its own (`/metrics`).
    """
    if not secret:
        raise ConfigError(
            "the webhook secret is empty: set github.webhook_secret (QUORUM_GITHUB__WEBHOOK_SECRET)",
            ("github.webhook_secret",),
        )
    if max_body_bytes <= 0:
        raise ConfigError("server.max_body_bytes must be positive", ("server.max_body_bytes",))
    in_flight = 2 * max_body_bytes if max_body_bytes_in_flight is None else max_body_bytes_in_flight
    if in_flight < max_body_bytes:
        raise ConfigError(
            "server.max_body_bytes_in_flight must be at least server.max_body_bytes",
            ("server.max_body_bytes_in_flight",),
        )
    budget = webhook_body.BodyBudget(in_flight)
    receiver = _Receiver(intake, secret, max_body_bytes, intake_timeout_s, budget, body_timeout_s)

    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_post("/webhook", receiver.handle)
    return _with_health(app, ready, extend)


def make_health_app(
    *,
    ready: Callable[[], Awaitable[health.Report]],
    extend: Callable[[web.Application], None] | None = None,
) -> web.Application:
    """`/livez`, `/readyz` and what `extend` adds, without `/webhook`: `serve --poll` takes no deliveries but
    is probed and scraped like any replica."""
    return _with_health(web.Application(), ready, extend)


def _with_health(
    app: web.Application,
    ready: Callable[[], Awaitable[health.Report]],
    extend: Callable[[web.Application], None] | None,
) -> web.Application:
    async def readyz(request: web.Request) -> web.Response:
        return await _readyz(ready)

    app.router.add_get("/livez", _livez)
    app.router.add_get("/readyz", readyz)
    if extend is not None:
        extend(app)
    return app


async def _livez(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive", "version": version.VERSION})


async def _readyz(ready: Callable[[], Awaitable[health.Report]]) -> web.Response:
    """200 while webhooks are taken (Redis up), naming any other dependency that is down; else 503."""
    try:
        async with asyncio.timeout(_READY_TIMEOUT_S):
            report = await ready()
    except Exception as exc:  # a probe that fails says "not ready", it does not crash the server
        log.warning("readiness probe failed: %s", type(exc).__name__)
        report = health.Report({health.REQUIRED: health.DependencyState(False, type(exc).__name__)})
    return web.json_response(report.to_json(), status=200 if report.ready else 503)


class _Receiver:
    """Handles `POST /webhook`: each step either refuses with a status or passes on."""

    def __init__(
        self,
        intake: events.Intake,
        secret: bytes,
        cap: int,
        intake_timeout_s: float,
        budget: webhook_body.BodyBudget,
        body_timeout_s: float,
    ) -> None:
        self._intake = intake
        self._secret = secret
        self._cap = cap
        self._intake_timeout_s = intake_timeout_s
        self._budget = budget
        self._body_timeout_s = body_timeout_s

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one delivery and log one line about it."""
        event_name = request.headers.get("X-GitHub-Event", "")
        delivery_id = request.headers.get("X-GitHub-Delivery", "")
        if not _EVENT_NAME.fullmatch(event_name) or not _DELIVERY_ID.fullmatch(delivery_id):
            _log(_Outcome(400, "bad headers"), "-", "-")
            return _refuse(400, "missing or malformed X-GitHub-Event or X-GitHub-Delivery header")
        outcome = await self._process(request, event_name, delivery_id)
        _log(outcome, delivery_id, event_name)
        if outcome.status in _UNREAD:
            # Never read into memory; the server discards what is still in flight for a bounded lingering
            # time (so the client sees this answer, not a reset) and then closes the connection.
            response = _refuse(outcome.status, self._unread_reason(outcome))
            if outcome.status == 503:
                response.headers["Retry-After"] = str(_RETRY_AFTER_S)
            response.force_close()
            return response
        if outcome.status == 204:
            return web.Response(status=204)
        if outcome.status >= 400:
            return _refuse(outcome.status, outcome.word)
        return web.json_response({"status": outcome.word}, status=outcome.status)

    def _unread_reason(self, outcome: _Outcome) -> str:
        if outcome.status == 413:
            return f"body larger than {self._cap} bytes"
        return outcome.word

    async def _process(self, request: web.Request, event_name: str, delivery_id: str) -> _Outcome:
        expected = webhook_body.signature_of(request.headers.get("X-Hub-Signature-256"))
        if expected is None:
            return _Outcome(401, "bad signature")  # no body can match: none is read
        handled = events.handles(event_name)
        with webhook_body.holding(self._budget) as hold:
            body = await webhook_body.read(
                request,
                hold,
                cap=self._cap,
                secret=self._secret,
                keep=handled,
                timeout_s=self._body_timeout_s,
            )
            if body.status:
                return _Outcome(body.status, _BODY_WORDS[body.status])
            if not webhook_body.matches(body, expected):
                return _Outcome(401, "bad signature")
            if not handled:
                return _Outcome(204, "ignored")  # hashed and dropped as it came (push payloads can be large)
            if request.content_type != "application/json":
                return _Outcome(400, "content type must be application/json")
            try:
                payload = json.loads(body.data)
            except (ValueError, RecursionError):
                return _Outcome(400, "body is not JSON")
        if not isinstance(payload, dict):
            return _Outcome(400, "body is not a JSON object")
        summary = events.summarize(payload)
        try:
            event = events.parse_event(event_name, payload)
        except InputError as exc:
            return _Outcome(400, exc.message, summary)
        if event is None:
            return _Outcome(204, "ignored", summary)
        return await self._hand_over(event, delivery_id, summary)

    async def _hand_over(self, event: events.Event, delivery_id: str, summary: events.Summary) -> _Outcome:
        try:
            async with asyncio.timeout(self._intake_timeout_s):
                word = await self._intake.accept(event, delivery_id)
        except (CoordinationUnavailable, TimeoutError) as exc:
            log.error("intake unavailable for delivery %s: %s", delivery_id, type(exc).__name__)
            return _Outcome(503, "coordination store unavailable", summary)
        except Exception:  # the outermost boundary: answer 500 and keep the traceback
            log.exception("intake failed for delivery %s", delivery_id)
            return _Outcome(500, "internal error", summary)
        return _Outcome(202, word, summary)


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _log(outcome: _Outcome, delivery_id: str, event_name: str) -> None:
    summary = outcome.summary
    extra = {
        "delivery_id": delivery_id,
        "event": event_name,
        "action": summary.action,
        "repo": summary.repo,
        "pr": summary.pr,
        "status": outcome.status,
    }
    level = logging.INFO if outcome.status < 400 else logging.WARNING
    log.log(
        level,
        "delivery %s event=%s action=%s repo=%s pr=%s -> %d %s",
        delivery_id,
        event_name,
        summary.action or "-",
        summary.repo or "-",
        summary.pr if summary.pr is not None else "-",
        outcome.status,
        outcome.word,
        extra=extra,
    )
