"""A provider that rate-limits one chat call with `Retry-After`, and says what arrived in the pause."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from tests.fakes.llm_servers import RecordedRequest, Reply


@dataclass
class RateLimitOnce:
    """The script of a `FakeLLMServer`. The first chat request is held until `batch` requests have
    arrived (at most `hold_s`), so the calls sent at once are all in; then it gets HTTP 429 with
    `Retry-After: retry_after_s`, and the pause starts as that answer is written. Every other request
    gets `answer` after `answer_delay_s`. A request that arrives in the pause came from a client that
    had been told to wait: `arrived_in_pause` lists them."""

    answer: str
    batch: int = 8
    retry_after_s: int = 2
    hold_s: float = 3.0
    answer_delay_s: float = 0.4
    limited: RecordedRequest | None = None
    paused_at: float | None = None
    arrivals: list[float] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._arrived:
            self.arrivals.append(request.received_at)
            self._arrived.notify_all()
            first = self.limited is None
            if first:
                self.limited = request
                self._arrived.wait_for(lambda: len(self.arrivals) >= self.batch, timeout=self.hold_s)
                self.paused_at = time.monotonic()  # the 429 is written right after this returns
        if first:
            headers = {"Retry-After": str(self.retry_after_s)}
            return Reply(status=429, headers=headers, error_message="rate limited")
        return Reply(text=self.answer, delay_s=self.answer_delay_s)

    def pause(self) -> tuple[float, float]:
        """(start, end) of the pause the 429 asked for, on the server's clock (time.monotonic)."""
        assert self.paused_at is not None, "no request was rate limited"
        return self.paused_at, self.paused_at + self.retry_after_s

    def arrived_in_pause(self) -> list[float]:
        """Seconds into the pause at which requests arrived (none, for a client that honours it)."""
        start, end = self.pause()
        with self._arrived:
            return [round(at - start, 3) for at in self.arrivals if start <= at < end]
