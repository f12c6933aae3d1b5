"""The provider fault run: a fake provider that over-bills or fails, spender processes on one Redis.

The fake (`Provider`) answers like an honest OpenAI-compatible service (input counted from the request,
output capped at its `max_tokens`) except where the scenario says otherwise, and records when each request
arrived and was answered, and what it billed: the figures are taken from its side of the wire.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from guardrails.pricing import Price
from tests.fakes.llm_servers import RecordedRequest, Reply

ROOT = Path(__file__).resolve().parents[2]
PRICE = Price.from_usd(1.0, 2.0)  # the spenders' price (tests.chaos.provider_spender.PRICE)


@dataclass
class Served:
    """One request as the provider saw it."""

    n: int
    label: str
    arrived: float
    answered: float
    over: bool
    billed_micro: int


@dataclass
class Provider:
    """The fake's script: honest usage, but over-billing (100x `max_tokens`) where `over_bills(n)` says."""

    over_bills: Callable[[int], bool] = lambda n: False
    latency_s: Callable[[int], float] = lambda n: 0.1
    served: list[Served] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: RecordedRequest) -> Reply:
        content = " ".join(str(m.get("content", "")) for m in request.body["messages"])
        max_tokens = int(request.body["max_tokens"])
        with self._lock:
            n = len(self.served)
            over = self.over_bills(n)
            delay = self.latency_s(n)
            # A real tokenizer: about 4 bytes a token; the output stops at max_tokens.
            output = 100 * max_tokens if over else min(50, max_tokens)
            reply = Reply(
                text="{}", input_tokens=len(content.encode()) // 4 + 8, output_tokens=output, delay_s=delay
            )
            now = time.monotonic()
            billed = PRICE.cost_micro(reply.input_tokens, reply.output_tokens)
            self.served.append(Served(n, content.split(" ", 1)[0], now, now + delay, over, billed))
        return reply


def spawn(redis_url: str, llm_url: str, name: str, start_at: float, *extra: str) -> subprocess.Popen[bytes]:
    """One replica of spenders (`tests.chaos.provider_spender`) as its own process."""
    args = [sys.executable, "-m", "tests.chaos.provider_spender", redis_url, llm_url, "--name", name,
            "--start-at", str(start_at), *extra]  # fmt: skip
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE)


async def collect(procs: list[subprocess.Popen[bytes]], timeout_s: float = 120.0) -> list[dict[str, Any]]:
    """Every JSON line the replicas printed; each must exit 0."""
    lines: list[dict[str, Any]] = []
    for proc in procs:
        out, _ = await asyncio.to_thread(proc.communicate, timeout=timeout_s)
        assert proc.returncode == 0, f"spender exited {proc.returncode}"
        lines += [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    return lines


@dataclass(frozen=True)
class OverBillFigures:
    """What the provider saw around the first over-billed answer."""

    requests: int
    over_billed: int
    first_over_at: float
    in_flight_then: int
    started_after: int

    def line(self) -> str:
        return (
            f"requests={self.requests} over_billed={self.over_billed} "
            f"in_flight_at_first_over={self.in_flight_then} started_after_first_over={self.started_after}"
        )


def over_bill_figures(served: list[Served]) -> OverBillFigures:
    """Calls in flight when the first over-billed answer left, and calls that arrived after it."""
    first = min((s for s in served if s.over), key=lambda s: s.answered)
    t0 = first.answered
    in_flight = sum(1 for s in served if s is not first and s.arrived <= t0 < s.answered)
    after = sum(1 for s in served if s.arrived > t0)
    return OverBillFigures(len(served), sum(s.over for s in served), t0, in_flight, after)
