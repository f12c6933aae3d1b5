"""systemd's notify protocol: readiness, status and watchdog pings as datagrams to `$NOTIFY_SOCKET`.

The protocol is one `AF_UNIX`/`SOCK_DGRAM` datagram of `KEY=value` lines (sd_notify(3)); a leading `@`
names an abstract socket. Without `NOTIFY_SOCKET` (a terminal, a container) every call is a no-op. The
environment is passed in by the caller or read at call time, never at import.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

log = logging.getLogger(__name__)


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _address(path: str) -> str:
    # An abstract socket name has no file: the kernel wants a leading NUL where systemd writes '@'.
    return "\0" + path[1:] if path.startswith("@") else path


def notify(message: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification; True if a datagram left, False without a socket or on any socket error."""
    path = _environ(environ).get("NOTIFY_SOCKET", "")
    if not path or path[0] not in "/@":
        return False  # unset, or a transport we do not speak (vsock:)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_address(path))
            sock.sendall(message.encode())
    except OSError as exc:
        # The service manager may be restarting; a missed ping is not worth failing a review for.
        log.debug("sd_notify to %s failed: %s", path, exc)
        return False
    return True


def _one_line(text: str) -> str:
    return " ".join(text.split())


def ready(status: str = "", *, environ: Mapping[str, str] | None = None) -> bool:
    """Tell systemd the service is up (`Type=notify` units stay "activating" until this)."""
    message = "READY=1" + (f"\nSTATUS={_one_line(status)}" if status else "")
    return notify(message, environ=environ)


def stopping(status: str = "", *, environ: Mapping[str, str] | None = None) -> bool:
    """Tell systemd the service is shutting down on purpose."""
    message = "STOPPING=1" + (f"\nSTATUS={_one_line(status)}" if status else "")
    return notify(message, environ=environ)


def status(text: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Set the one-line status `systemctl status` shows."""
    return notify(f"STATUS={_one_line(text)}", environ=environ)


def watchdog(*, environ: Mapping[str, str] | None = None) -> bool:
    """Reset the watchdog timer once."""
    return notify("WATCHDOG=1", environ=environ)


def extend_timeout(seconds: float, *, environ: Mapping[str, str] | None = None) -> bool:
    """Ask for more time to start or stop (a long drain), counted from now."""
    return notify(f"EXTEND_TIMEOUT_USEC={max(0, round(seconds * 1_000_000))}", environ=environ)


@dataclass(frozen=True, slots=True)
class Watchdog:
    """The watchdog systemd armed for this process: pinged every half period from the event loop, so a
    blocked loop misses its pings and systemd restarts the service."""

    interval_s: float
    environ: Mapping[str, str]

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Watchdog | None:
        """The watchdog for this process, or None when none is armed (or it is meant for another PID)."""
        env = _environ(environ)
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if not env.get("NOTIFY_SOCKET") or not usec.isdigit() or int(usec) == 0:
            return None
        if pid and (not pid.isdigit() or int(pid) != os.getpid()):
            return None
        return cls(interval_s=int(usec) / 1_000_000 / 2, environ=dict(env))

    async def run(self) -> None:
        """Ping until cancelled."""
        while True:
            watchdog(environ=self.environ)
            await asyncio.sleep(self.interval_s)


@asynccontextmanager
async def watchdog_task(environ: Mapping[str, str] | None = None) -> AsyncIterator[Watchdog | None]:
    """Ping the armed watchdog from a task of the running loop while the block runs (a no-op if none)."""
    dog = Watchdog.from_environ(environ)
    if dog is None:
        yield None
        return
    log.debug("systemd watchdog: pinging every %.1fs", dog.interval_s)
    task = asyncio.create_task(dog.run(), name="systemd-watchdog")
    try:
        yield dog
    finally:
        task.cancel()
        # wait() does not re-raise the task's CancelledError, so a cancellation of our caller still
        # propagates from here untouched.
        await asyncio.wait([task])
