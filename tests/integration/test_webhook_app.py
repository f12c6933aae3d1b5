"""The webhook app over real HTTP on 127.0.0.1: statuses, size caps, signatures, intake hand-over, probes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web

from bot import events, health
from bot.entrypoints import webhook
from bot.errors import ConfigError, CoordinationUnavailable
from tests.support.webhooks import delivery_headers, encode, load_sample

SECRET = b"test-webhook-secret"
CAP = 64 * 1024


class RecordingIntake:
    """Keeps what it accepts; raises `error` or waits `delay` first when told to."""

    def __init__(self, word: str = "queued", error: Exception | None = None, delay: float = 0.0) -> None:
        self.word = word
        self.error = error
        self.delay = delay
        self.accepted: list[tuple[events.Event, str]] = []

    async def accept(self, event: events.Event, delivery_id: str) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.accepted.append((event, delivery_id))
        return self.word


class Readiness:
    """Redis as the test says; GitHub always down (it must not make the server unready)."""

    def __init__(self) -> None:
        self.ready = False

    async def __call__(self) -> health.Report:
        github = health.DependencyState(False, "503 Service Unavailable")
        return health.Report({"redis": health.DependencyState(self.ready), "github": github})


Serve = Callable[..., Awaitable[tuple[httpx.AsyncClient, int]]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start `make_app` on a free loopback port; give an httpx client on it and the port."""
    runners: list[web.AppRunner] = []
    clients: list[httpx.AsyncClient] = []

    async def start(intake: events.Intake, ready: Readiness | None = None, **options: float) -> tuple:
        app = webhook.make_app(
            intake, secret=SECRET, max_body_bytes=CAP, ready=ready or Readiness(), **options
        )
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0)
        clients.append(client)
        return client, port

    yield start
    for client in clients:
        await client.aclose()
    for runner in runners:
        await runner.cleanup()


def signed(name: str, delivery_id: str = "d-1", **overrides: object) -> tuple[bytes, dict[str, str]]:
    body = encode(load_sample(name, **overrides))
    return body, delivery_headers(name.split(".")[0], delivery_id, body, SECRET)


async def test_a_signed_delivery_reaches_the_intake_and_gets_202(serve):
    intake = RecordingIntake()
    client, _ = await serve(intake)
    body, headers = signed("pull_request.synchronize", "72d3162e-cc78-11e3-81ab-4c9367dc0958")

    response = await client.post("/webhook", content=body, headers=headers)

    assert response.status_code == 202
    assert response.json() == {"status": "queued"}
    [(event, delivery_id)] = intake.accepted
    assert isinstance(event, events.PullRequestChanged) and event.action == "synchronize"
    assert delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"


async def test_the_intakes_word_is_the_status(serve):
    client, _ = await serve(RecordingIntake(word="duplicate"))
    body, headers = signed("issue_comment.created-command")

    response = await client.post("/webhook", content=body, headers=headers)

    assert (response.status_code, response.json()) == (202, {"status": "duplicate"})


@pytest.mark.parametrize(
    "signature", [None, "sha256=" + "0" * 64, "sha1=0123456789abcdef0123456789abcdef01234567"]
)
async def test_a_bad_or_missing_signature_is_401_and_nothing_is_accepted(serve, signature):
    intake = RecordingIntake()
    client, _ = await serve(intake)
    body, headers = signed("pull_request.opened")
    del headers["X-Hub-Signature-256"]
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature

    response = await client.post("/webhook", content=body, headers=headers)

    assert response.status_code == 401
    assert intake.accepted == []


async def test_a_body_altered_after_signing_is_401(serve):
    intake = RecordingIntake()
    client, _ = await serve(intake)
    body, headers = signed("pull_request.opened")

    response = await client.post(
        "/webhook", content=body.replace(b'"number":42', b'"number":43'), headers=headers
    )

    assert response.status_code == 401
    assert intake.accepted == []


async def test_a_declared_length_over_the_cap_is_413_before_the_body_is_sent(serve):
    intake = RecordingIntake()
    _, port = await serve(intake)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    headers = delivery_headers("pull_request", "d-big", b"", SECRET)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    # The body is never sent: an answer can only come from the declared length alone.
    writer.write(
        f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}Content-Length: {10**9}\r\n\r\n".encode()
    )
    await writer.drain()

    status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    writer.close()
    await writer.wait_closed()

    assert status_line.startswith(b"HTTP/1.1 413")
    assert intake.accepted == []


async def test_a_sent_body_over_the_cap_is_413(serve):
    intake = RecordingIntake()
    client, _ = await serve(intake)
    body = b"x" * (CAP + 1)

    response = await client.post(
        "/webhook", content=body, headers=delivery_headers("pull_request", "d-2", body, SECRET)
    )

    assert response.status_code == 413
    assert intake.accepted == []


async def test_a_streamed_body_over_the_cap_is_413(serve):
    intake = RecordingIntake()
    client, _ = await serve(intake)
    chunk = b"x" * 8192
    chunks = CAP // len(chunk) + 2
    headers = delivery_headers("pull_request", "d-3", chunk * chunks, SECRET)

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(chunks):
            yield chunk

    response = await client.post("/webhook", content=stream(), headers=headers)

    assert "content-length" not in {k.lower() for k in response.request.headers}
    assert response.status_code == 413
    assert intake.accepted == []


async def test_a_streamed_body_under_the_cap_is_accepted(serve):
    intake = RecordingIntake()
    client, _ = await serve(intake)
    body, headers = signed("check_run.completed")

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = await client.post("/webhook", content=stream(), headers=headers)

    assert response.status_code == 202
    assert len(intake.accepted) == 1


@pytest.mark.parametrize("missing", ["X-GitHub-Event", "X-GitHub-Delivery"])
async def test_a_missing_github_header_is_400(serve, missing):
    intake = RecordingIntake()
    client, _ = await serve(intake)
    body, headers = signed("pull_request.opened")
    del headers[missing]

    response = await client.post("/webhook", content=body, headers=headers)

    assert response.status_code == 400
    assert intake.accepted == []


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (b"{not json", "application/json", "not JSON"),
        (b"[1, 2]", "application/json", "not a JSON object"),
        (b"payload=%7B%7D", "application/x-www-form-urlencoded", "application/json"),
    ],
)
async def test_an_unreadable_body_is_400_with_a_reason(serve, body, content_type, reason):
    client, _ = await serve(RecordingIntake())
    headers = delivery_headers("pull_request", "d-4", body, SECRET) | {"Content-Type": content_type}

    response = await client.post("/webhook", content=body, headers=headers)

    assert response.status_code == 400
    assert reason in response.json()["error"]


async def test_a_malformed_handled_payload_is_400_naming_the_field(serve):
    intake = RecordingIntake()
    client, _ = await serve(intake)
    body, headers = signed("pull_request.opened", pull_request__head__sha=12345)

    response = await client.post("/webhook", content=body, headers=headers)

    assert response.status_code == 400
    assert "pull_request.head.sha" in response.json()["error"]
    assert "12345" not in response.text
    assert intake.accepted == []


@pytest.mark.parametrize(("event", "name"), [("push", "ping"), ("pull_request", "pull_request.edited-title")])
async def test_unhandled_events_and_actions_are_204(serve, event, name):
    intake = RecordingIntake()
    client, _ = await serve(intake)
    body = encode(load_sample(name))

    response = await client.post(
        "/webhook", content=body, headers=delivery_headers(event, "d-5", body, SECRET)
    )

    assert response.status_code == 204
    assert intake.accepted == []


async def test_get_on_the_webhook_is_405(serve):
    client, _ = await serve(RecordingIntake())

    response = await client.get("/webhook")

    assert response.status_code == 405


async def test_coordination_unavailable_is_503(serve):
    client, _ = await serve(RecordingIntake(error=CoordinationUnavailable("redis down")))
    body, headers = signed("pull_request.opened")

    response = await client.post("/webhook", content=body, headers=headers)

    assert response.status_code == 503


async def test_an_intake_that_hangs_is_503_within_its_timeout(serve):
    client, _ = await serve(RecordingIntake(delay=5.0), intake_timeout_s=0.1)
    body, headers = signed("pull_request.opened")

    response = await client.post("/webhook", content=body, headers=headers)

    assert response.status_code == 503
    assert response.elapsed.total_seconds() < 2


async def test_an_intake_bug_is_500_and_logged_with_its_traceback(serve, caplog):
    client, _ = await serve(RecordingIntake(error=RuntimeError("bug")))
    body, headers = signed("pull_request.opened")

    with caplog.at_level(logging.ERROR, logger="bot.entrypoints.webhook"):
        response = await client.post("/webhook", content=body, headers=headers)

    assert response.status_code == 500
    assert any(r.exc_info for r in caplog.records)


async def test_livez_is_always_200_and_readyz_follows_the_callback(serve):
    readiness = Readiness()
    client, _ = await serve(RecordingIntake(), readiness)

    live = await client.get("/livez")
    not_ready = await client.get("/readyz")
    readiness.ready = True
    ready = await client.get("/readyz")

    assert live.status_code == 200
    assert (not_ready.status_code, ready.status_code) == (503, 200)
    assert (not_ready.json()["status"], ready.json()["status"]) == ("not ready", "degraded")
    assert ready.json()["down"] == ["github"]
    assert ready.json()["dependencies"]["github"] == {"up": False, "detail": "503 Service Unavailable"}


async def test_readyz_is_503_when_the_callback_fails(serve):
    async def broken() -> health.Report:
        raise CoordinationUnavailable("redis down")

    client, _ = await serve(RecordingIntake(), broken)

    response = await client.get("/readyz")

    assert response.status_code == 503


def test_an_empty_secret_refuses_to_start():
    with pytest.raises(ConfigError):
        webhook.make_app(RecordingIntake(), secret=b"", max_body_bytes=CAP, ready=Readiness())


async def test_one_log_line_per_delivery_with_context_and_no_body_or_signature(serve, caplog):
    client, _ = await serve(RecordingIntake())
    body, headers = signed("issue_comment.created-command", "d-log")

    with caplog.at_level(logging.INFO, logger="bot.entrypoints.webhook"):
        await client.post("/webhook", content=body, headers=headers)

    [record] = [r for r in caplog.records if r.name == "bot.entrypoints.webhook"]
    assert (record.delivery_id, record.repo, record.pr) == ("d-log", "octo-org/hello-world", 42)
    assert record.action == "created" and record.event == "issue_comment"
    text = record.getMessage() + repr(record.__dict__)
    assert "/quorum merge" not in text
    assert headers["X-Hub-Signature-256"].removeprefix("sha256=") not in text


def test_a_body_budget_smaller_than_one_body_refuses_to_start():
    with pytest.raises(ConfigError, match="max_body_bytes_in_flight"):
        webhook.make_app(
            RecordingIntake(),
            secret=SECRET,
            max_body_bytes=CAP,
            ready=Readiness(),
            max_body_bytes_in_flight=CAP - 1,
        )


async def test_bodies_over_the_shared_budget_are_503_with_retry_after_and_the_budget_comes_back(serve):
    intake = RecordingIntake(delay=0.3)
    client, _ = await serve(intake, max_body_bytes_in_flight=CAP)
    body, headers = signed("pull_request.synchronize")
    padded = body[:-1] + b',"pad":"' + b"x" * (CAP - len(body) - 20) + b'"}'
    headers = delivery_headers("pull_request", "d-big", padded, SECRET)

    async def slow_body():
        yield padded[:100]
        await asyncio.sleep(0.5)  # holds the whole declared length of the budget meanwhile
        yield padded[100:]

    first = asyncio.create_task(
        client.post("/webhook", content=slow_body(), headers={**headers, "Content-Length": str(len(padded))})
    )
    await asyncio.sleep(0.2)
    refused = await client.post(
        "/webhook", content=body, headers=delivery_headers("pull_request", "d-2", body, SECRET)
    )

    assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit()
    assert (await first).status_code == 202
    again = await client.post(
        "/webhook", content=body, headers=delivery_headers("pull_request", "d-3", body, SECRET)
    )
    assert again.status_code == 202
