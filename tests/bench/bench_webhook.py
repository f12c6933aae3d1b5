"""Bench: a burst of signed deliveries against the webhook app, as a ratio to a bare handler answering 202.

    python -m tests.bench.bench_webhook [--requests 4000] [--concurrency 32]

Serves `make_app` (with an intake that accepts at once) and a bare aiohttp handler on loopback ports,
sends the same burst to each from `concurrency` client tasks, alternating in rounds so drift hits both
alike, and prints one line: throughput and p99 latency of each, and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
import uuid
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from bot import events, health
from bot.entrypoints import webhook
from tests.support.webhooks import delivery_headers, encode, load_sample

_ROUNDS = 2
_SECRET = b"bench-webhook-secret"


@dataclass(frozen=True, slots=True)
class Burst:
    """Throughput and latency of one server over its rounds."""

    per_s: float
    p99_ms: float


@dataclass(frozen=True, slots=True)
class BenchResult:
    requests: int
    concurrency: int
    webhook: Burst
    bare: Burst

    @property
    def throughput_ratio(self) -> float:
        """Webhook deliveries per second per bare 202 per second (1.0: the edge costs nothing)."""
        return self.webhook.per_s / self.bare.per_s

    @property
    def p99_ratio(self) -> float:
        return self.webhook.p99_ms / self.bare.p99_ms

    def line(self) -> str:
        """The one line the command prints."""
        return (
            f"webhook_per_s={self.webhook.per_s:.0f} webhook_p99_ms={self.webhook.p99_ms:.2f} "
            f"bare_per_s={self.bare.per_s:.0f} bare_p99_ms={self.bare.p99_ms:.2f} "
            f"throughput_ratio={self.throughput_ratio:.3f} p99_ratio={self.p99_ratio:.3f} "
            f"requests={self.requests} concurrency={self.concurrency}"
        )


class _FormatAndDrop(logging.Handler):
    """Pays for building and formatting each delivery's log line, as production does, and drops it."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


class _AcceptingIntake:
    async def accept(self, event: events.Event, delivery_id: str) -> str:
        return "queued"


async def _always_ready() -> health.Report:
    return health.Report({"redis": health.DependencyState(True)})


async def _bare_202(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"status": "queued"}, status=202)


def _bare_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/webhook", _bare_202)
    return app


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/webhook"


async def _burst(
    session: aiohttp.ClientSession, url: str, n: int, concurrency: int
) -> tuple[float, list[float]]:
    """Send `n` signed deliveries from `concurrency` tasks; the elapsed time and each request's latency."""
    body = encode(load_sample("pull_request.synchronize"))
    headers = delivery_headers("pull_request", "bench", body, _SECRET)
    latencies: list[float] = []
    remaining = iter(range(n))

    async def worker() -> None:
        for _ in remaining:
            sent = time.perf_counter()
            async with session.post(
                url, data=body, headers=headers | {"X-GitHub-Delivery": str(uuid.uuid4())}
            ) as r:
                await r.read()
                if r.status != 202:
                    raise RuntimeError(f"unexpected status {r.status}")
            latencies.append(time.perf_counter() - sent)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return time.perf_counter() - started, latencies


def _figures(elapsed: float, latencies: list[float]) -> Burst:
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]
    return Burst(len(latencies) / elapsed, p99 * 1000)


async def measure(requests: int, concurrency: int) -> BenchResult:
    """Serve both apps, warm them up, then send `requests` deliveries to each in alternating rounds."""
    app = webhook.make_app(
        _AcceptingIntake(), secret=_SECRET, max_body_bytes=25 * 1024 * 1024, ready=_always_ready
    )
    runners = [await _start(app), await _start(_bare_app())]
    per_round = max(1, requests // _ROUNDS)
    totals: dict[str, tuple[float, list[float]]] = {"webhook": (0.0, []), "bare": (0.0, [])}
    logger, handler = logging.getLogger(webhook.__name__), _FormatAndDrop()
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            for _, url in runners:
                await _burst(session, url, min(per_round, 200), concurrency)  # warm-up, connections opened
            for _ in range(_ROUNDS):
                for (_, url), name in zip(runners, totals, strict=True):
                    elapsed, latencies = await _burst(session, url, per_round, concurrency)
                    total, seen = totals[name]
                    totals[name] = (total + elapsed, seen + latencies)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        for runner, _ in runners:
            await runner.cleanup()
    return BenchResult(
        per_round * _ROUNDS, concurrency, _figures(*totals["webhook"]), _figures(*totals["bare"])
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    print(asyncio.run(measure(args.requests, args.concurrency)).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
