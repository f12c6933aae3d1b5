"""Webhook bodies read within one byte budget shared by every request, the HMAC computed as bytes arrive.

Nobody is authenticated until the whole body is read, so the memory bodies take must not depend on what
senders do: a request whose body would push the bytes held by all requests past the budget is refused
(503 with Retry-After) before it is read, and a body Quorum does not parse (an ignored event) is hashed
and dropped chunk by chunk instead of kept.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import web

_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")


class BodyBudget:
    """The bytes of request bodies held at once, across every request of the process."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        """Reserve `size` bytes; False (nothing reserved) when that would pass the limit."""
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        self.held -= size


@dataclass(slots=True)
class Hold:
    """What one request reserved; given back whole when the request is done with its body."""

    budget: BodyBudget
    taken: int = 0

    def take(self, size: int) -> bool:
        if not self.budget.take(size):
            return False
        self.taken += size
        return True


@contextmanager
def holding(budget: BodyBudget) -> Iterator[Hold]:
    """A hold on `budget` for one request, released on leaving the block whatever happened."""
    hold = Hold(budget)
    try:
        yield hold
    finally:
        budget.give(hold.taken)


@dataclass(slots=True)
class Body:
    """A body read: `status` 0 when complete, else the refusal (413, 503, 408); `data` only when kept."""

    status: int = 0
    data: bytearray = field(default_factory=bytearray)
    digest: str = ""


def signature_of(header: str | None) -> str | None:
    """The hex digest of a well-formed `X-Hub-Signature-256` value (lower case), else None."""
    if header is None:
        return None
    match = _SIGNATURE.fullmatch(header.strip())
    return None if match is None else match.group(1).lower()


def matches(body: Body, expected: str) -> bool:
    """True when the body's HMAC is the signature's (constant-time)."""
    return bool(body.digest) and hmac.compare_digest(body.digest, expected)


async def read(
    request: web.Request, hold: Hold, *, cap: int, secret: bytes, keep: bool, timeout_s: float
) -> Body:
    """Read the body under `hold`, at most `cap` bytes within `timeout_s`, hashing it as it arrives."""
    declared = request.content_length
    if declared is not None and declared > cap:
        return Body(413)
    # A declared length is reserved whole before the first byte is read, so a flood is refused at once.
    if keep and declared is not None and not hold.take(declared):
        return Body(503)
    mac = hmac.new(secret, digestmod=hashlib.sha256)
    # One buffer of the declared size: growing one by appends would briefly hold two copies.
    data = bytearray(declared) if keep and declared is not None else bytearray()
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.content.iter_any():
                end = size + len(chunk)
                if end > cap:
                    return Body(413)
                mac.update(chunk)
                if keep and declared is not None:
                    data[size:end] = chunk
                elif keep:
                    if not hold.take(len(chunk)):
                        return Body(503)
                    data += chunk
                size = end
    except TimeoutError:
        return Body(408)
    if declared is not None and keep:
        del data[size:]  # a body cut short stays what arrived, and its HMAC says so
    return Body(0, data, mac.hexdigest())
