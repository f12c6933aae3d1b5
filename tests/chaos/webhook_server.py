"""The webhook app alone in a process, for the flood run: prints its port, serves until stdin closes.

python -m tests.chaos.webhook_server SECRET MAX_BODY_BYTES [MAX_BODIES_BYTES]
"""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from bot import events
from bot.entrypoints import webhook


class AcceptingIntake:
    """Takes every verified event at once, as the Redis intake does in milliseconds."""

    async def accept(self, event: events.Event, delivery_id: str) -> str:
        return "queued"


async def _ready() -> bool:
    return True


async def main(secret: bytes, max_body: int, max_bodies: int | None) -> None:
    options = {} if max_bodies is None else {"max_body_bytes_in_flight": max_bodies}
    app = webhook.make_app(AcceptingIntake(), secret=secret, max_body_bytes=max_body, ready=_ready, **options)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    # The parent closes stdin to stop this process (no signal handling to get wrong).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)  # a line per refused delivery would drown the figures
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else None
    asyncio.run(main(sys.argv[1].encode(), int(sys.argv[2]), limit))
