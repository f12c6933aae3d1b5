"""`GET /metrics` on the serve app: Prometheus text, and a middleware counting webhook answers by status.

The shared-state gauges are read from Redis when scraped (under the collector's timeout), then the
registry is rendered; one scrape at a time, so concurrent scrapers never multiply the Redis reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.adapters.prometheus import metrics as prometheus_metrics
from bot.adapters.prometheus import shared as prometheus_shared

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def installer(
    exporter: prometheus_metrics.PrometheusMetrics, shared: prometheus_shared.SharedStateCollector
) -> Callable[[web.Application], None]:
    """What `webhook.make_app` calls to add `/metrics` and the delivery counter to its app."""
    exporter.registry.register(shared)
    lock = asyncio.Lock()

    async def scrape(request: web.Request) -> web.Response:
        async with lock:
            await shared.refresh()
            body = generate_latest(exporter.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    @web.middleware
    async def count_deliveries(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path == "/webhook":
            exporter.delivered(response.status)
        return response

    def install(app: web.Application) -> None:
        app.middlewares.append(count_deliveries)
        app.router.add_get("/metrics", scrape)

    return install
