"""A provider's `Retry-After` pauses every call to it: one pause per endpoint (URL + credential) per process.

The parts of a round, the rounds started together and other reviews in this process all call the same
endpoint: a rate limit told to one of them holds back the others too. A call made during the pause is
not sent; it fails as an unbilled, retryable 429 whose `retry_after` is what is left of the pause, so the
caller's retry policy (a budget reservation per attempt, never past the deadline) waits it out.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping

from bot import errors


def endpoint(url: str, headers: Mapping[str, str]) -> str:
    """The identity of what a rate limit applies to: the URL and the credential sent to it (hashed, so no
    key is kept in clear)."""
    digest = hashlib.sha256(url.encode())
    for name, value in sorted((k.lower(), v) for k, v in headers.items()):
        digest.update(f"\0{name}\0{value}".encode())
    return digest.hexdigest()


class EndpointPauses:
    """When each endpoint may be called again, as its latest `Retry-After` said."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}

    def hold(self, key: str, seconds: float) -> None:
        """Pause `key` for `seconds` from now (a pause already longer is kept)."""
        until = self._clock() + max(seconds, 0.0)
        self._until[key] = max(until, self._until.get(key, until))

    def remaining(self, key: str) -> float:
        """Seconds left of `key`'s pause; 0 when it may be called."""
        until = self._until.get(key)
        if until is None:
            return 0.0
        left = until - self._clock()
        if left <= 0:
            del self._until[key]
            return 0.0
        return left

    def check(self, key: str, provider: str) -> None:
        """Raise the unsent call's 429 while `key` is paused."""
        left = self.remaining(key)
        if left > 0:
            raise errors.ProviderError(
                f"{provider} asked for a pause (HTTP 429, Retry-After); {left:.1f}s of it left, not sent",
                provider=provider,
                status_code=429,
                retry_after=left,
                retryable=True,
                billed=False,
                sent=False,
            )


# This process's pauses: every adapter of every review shares them.
PAUSES = EndpointPauses()
