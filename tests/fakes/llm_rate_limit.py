"""A provider that rate-limits its first chat call with `Retry-After`, and says what arrived in the pause."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tests.fakes.llm_servers import RecordedRequest, Reply


@dataclass
class RateLimitOnce:
    """The script of a `FakeLLMServer`: the first chat request waits `hold_s`, then gets HTTP 429 with
    `Retry-After: retry_after_s`; every other one gets `answer` after `answer_delay_s`. The pause starts
    when the 429 is written, so a request that arrives in it was sent by a client that had been told."""

    answer: str
    retry_after_s: int = 1
    hold_s: float = 0.3
    answer_delay_s: float = 0.6
    limited: RecordedRequest | None = None
    arrivals: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.arrivals.append(request.received_at)
            first = self.limited is None
            if first:
                self.limited = request
        if first:
            headers = {"Retry-After": str(self.retry_after_s)}
            return Reply(status=429, headers=headers, delay_s=self.hold_s, error_message="rate limited")
        return Reply(text=self.answer, delay_s=self.answer_delay_s)

    def pause(self) -> tuple[float, float]:
        """(start, end) of the pause the 429 asked for, on the server's clock (time.monotonic)."""
        assert self.limited is not None, "no request was rate limited"
        start = self.limited.received_at + self.hold_s
        return start, start + self.retry_after_s

    def arrived_in_pause(self) -> list[float]:
        """Seconds into the pause at which requests arrived (none, for a client that honours it)."""
        start, end = self.pause()
        with self._lock:
            return [round(at - start, 3) for at in self.arrivals if start <= at < end]
