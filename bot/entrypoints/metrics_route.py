"""`GET /metrics` on the serve app: Prometheus text, and a middleware counting webhook answers by status.

The page comes from the composition root (`bot.bootstrap.outlets`); here it is only served. Its shared
gauges are read from Redis when scraped, one scrape at a time, so concurrent scrapers never multiply the
Redis reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.bootstrap import outlets as outlets_root

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def installer(page: outlets_root.MetricsPage) -> Callable[[web.Application], None]:
    """What `webhook.make_app` calls to add `/metrics` and the delivery counter to its app."""
    lock = asyncio.Lock()

    async def scrape(request: web.Request) -> web.Response:
        async with lock:
            body = await page.render()
        return web.Response(body=body, headers={"Content-Type": page.content_type})

    @web.middleware
    async def count_deliveries(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path == "/webhook":
            page.delivered(response.status)
        return response

    def install(app: web.Application) -> None:
        app.middlewares.append(count_deliveries)
        app.router.add_get("/metrics", scrape)

    return install
