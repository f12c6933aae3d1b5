"""Flood the webhook app with concurrent unsigned large bodies over loopback; print the server's peak RSS.

    python -m tests.chaos.webhook_flood [--senders 40] [--body-mib 20]

Starts `tests.chaos.webhook_server` in its own process, sends `senders` deliveries at once, each a
`pull_request` with a well-formed but wrong signature and a `body-mib` body, then one signed delivery,
and reads the server's VmHWM (peak resident set) from /proc. One line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.webhooks import encode, load_sample, sign

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"flood-webhook-secret"
MIB = 1024 * 1024
_CHUNK = 256 * 1024


@dataclass
class Figures:
    senders: int
    body_mib: int
    idle_rss_kib: int = 0
    peak_rss_kib: int = 0
    after_rss_kib: int = 0
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    retry_after: int = 0  # 503 answers that said when to come back
    signed_status: int = 0
    seconds: float = 0.0

    @property
    def growth_mib(self) -> float:
        """How far the peak rose above the idle process."""
        return (self.peak_rss_kib - self.idle_rss_kib) / 1024

    def line(self) -> str:
        answers = " ".join(f"{k}:{v}" for k, v in sorted(self.statuses.items()))
        return (
            f"senders={self.senders} body_mib={self.body_mib} idle_rss_mib={self.idle_rss_kib / 1024:.0f} "
            f"peak_rss_mib={self.peak_rss_kib / 1024:.0f} growth_mib={self.growth_mib:.0f} "
            f"after_rss_mib={self.after_rss_kib / 1024:.0f} answers=[{answers}] "
            f"retry_after={self.retry_after} signed_after={self.signed_status} seconds={self.seconds:.1f}"
        )


def memory_kib(pid: int, field_name: str) -> int:
    """One `Vm*` line of /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise LookupError(field_name)


def _head(port: int, event: str, delivery: str, length: int, signature: str) -> bytes:
    lines = [
        "POST /webhook HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        f"X-GitHub-Event: {event}",
        f"X-GitHub-Delivery: {delivery}",
        f"X-Hub-Signature-256: {signature}",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def post(port: int, event: str, delivery: str, body: memoryview, signature: str) -> tuple[str, bool]:
    """Send one delivery on its own connection; its status (or why there was none), and a Retry-After."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        with contextlib.suppress(ConnectionError):
            writer.write(_head(port, event, delivery, len(body), signature))
            for start in range(0, len(body), _CHUNK):
                writer.write(body[start : start + _CHUNK])
                await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        return head.split()[1].decode(), b"\r\nretry-after:" in head.lower()
    except (ConnectionError, asyncio.IncompleteReadError):
        return "reset", False
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def flood(port: int, pid: int, senders: int, body_mib: int) -> Figures:
    figures = Figures(senders, body_mib, idle_rss_kib=memory_kib(pid, "VmRSS"))
    big = memoryview(b'{"x":"' + b"a" * (body_mib * MIB - 9) + b'"}')
    wrong = "sha256=" + "0" * 64
    started = time.monotonic()
    answers = await asyncio.gather(
        *(post(port, "pull_request", f"flood-{n}", big, wrong) for n in range(senders))
    )
    figures.seconds = time.monotonic() - started
    figures.statuses.update(status for status, _ in answers)
    figures.retry_after = sum(1 for status, retry in answers if status == "503" and retry)
    body = encode(load_sample("pull_request.opened"))
    signed, _ = await post(port, "pull_request", "after-1", memoryview(body), sign(SECRET, body))
    figures.signed_status = int(signed)
    figures.peak_rss_kib = memory_kib(pid, "VmHWM")
    figures.after_rss_kib = memory_kib(pid, "VmRSS")
    return figures


async def run(
    senders: int, body_mib: int, max_body: int = 25 * MIB, max_bodies: int | None = None
) -> Figures:
    """Start the server, flood it, stop it; the figures."""
    argv = [sys.executable, "-m", "tests.chaos.webhook_server", SECRET.decode(), str(max_body)]
    if max_bodies is not None:
        argv.append(str(max_bodies))
    proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline))
        return await flood(port, proc.pid, senders, body_mib)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=40)
    parser.add_argument("--body-mib", type=int, default=20)
    args = parser.parse_args()
    print(asyncio.run(run(args.senders, args.body_mib)).line())


if __name__ == "__main__":
    main()
