"""systemd notifications on a real unix datagram socket: readiness, status, stopping and watchdog pings."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters import systemd_notify


class Receiver:
    """A bound SOCK_DGRAM socket that records every datagram with its arrival time."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), data.decode()))

    def messages(self, settle_s: float = 0.1) -> list[str]:
        time.sleep(settle_s)
        return [text for _, text in self.received]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, dict[str, str]]]:
    # A short directory: unix socket paths are limited to 108 bytes, pytest's tmp_path may be longer.
    with tempfile.TemporaryDirectory(prefix="qn") as directory:
        path = str(Path(directory) / "notify.sock")
        recv = Receiver(path)
        try:
            yield recv, {"NOTIFY_SOCKET": path}
        finally:
            recv.close()


def test_ready_stopping_and_status_reach_the_socket(receiver: tuple[Receiver, dict[str, str]]) -> None:
    recv, env = receiver

    sent = [
        systemd_notify.ready("serving on 127.0.0.1:8080", environ=env),
        systemd_notify.status("2 reviews\nrunning", environ=env),
        systemd_notify.stopping(environ=env),
        systemd_notify.extend_timeout(1.5, environ=env),
    ]

    assert sent == [True, True, True, True]
    assert recv.messages() == [
        "READY=1\nSTATUS=serving on 127.0.0.1:8080",
        "STATUS=2 reviews running",
        "STOPPING=1",
        "EXTEND_TIMEOUT_USEC=1500000",
    ]


def test_everything_is_a_no_op_without_notify_socket() -> None:
    assert systemd_notify.ready(environ={}) is False
    assert systemd_notify.watchdog(environ={"WATCHDOG_USEC": "1000000"}) is False
    assert systemd_notify.Watchdog.from_environ({"WATCHDOG_USEC": "1000000"}) is None


def test_a_missing_socket_returns_false_instead_of_raising(tmp_path: Path) -> None:
    env = {"NOTIFY_SOCKET": str(tmp_path / "absent.sock")}

    assert systemd_notify.ready(environ=env) is False


def test_abstract_socket_names_are_supported() -> None:
    name = f"quorum-test-{uuid.uuid4().hex}"
    recv = Receiver("\0" + name)
    try:
        ok = systemd_notify.ready(environ={"NOTIFY_SOCKET": "@" + name})

        assert ok is True
        assert recv.messages() == ["READY=1"]
    finally:
        recv.close()


def test_watchdog_is_armed_only_for_this_process() -> None:
    env = {"NOTIFY_SOCKET": "/run/x.sock", "WATCHDOG_USEC": "30000000"}

    mine = systemd_notify.Watchdog.from_environ({**env, "WATCHDOG_PID": str(os.getpid())})
    other = systemd_notify.Watchdog.from_environ({**env, "WATCHDOG_PID": str(os.getpid() + 1)})

    assert mine is not None and mine.interval_s == 15.0
    assert other is None


async def test_watchdog_pings_every_half_period(receiver: tuple[Receiver, dict[str, str]]) -> None:
    recv, env = receiver
    env = {**env, "WATCHDOG_USEC": "200000"}  # 0.2 s: a ping every 0.1 s

    async with systemd_notify.watchdog_task(env) as dog:
        await asyncio.sleep(0.55)

    assert dog is not None
    pings = recv.messages()
    assert set(pings) == {"WATCHDOG=1"}
    assert 5 <= len(pings) <= 7


async def test_a_blocked_loop_sends_no_pings(receiver: tuple[Receiver, dict[str, str]]) -> None:
    recv, env = receiver
    env = {**env, "WATCHDOG_USEC": "100000"}  # a ping every 0.05 s

    async with systemd_notify.watchdog_task(env):
        await asyncio.sleep(0.2)
        blocked_from = time.monotonic()
        time.sleep(0.6)  # the loop is stuck: no task runs, so no ping may leave
        blocked_to = time.monotonic()
        await asyncio.sleep(0.2)

    recv.messages()
    times = [t for t, _ in recv.received]
    during = [t for t in times if blocked_from + 0.02 < t < blocked_to - 0.02]
    assert during == []
    assert any(t < blocked_from for t in times) and any(t > blocked_to for t in times)


async def test_no_watchdog_task_without_watchdog_usec(receiver: tuple[Receiver, dict[str, str]]) -> None:
    recv, env = receiver

    async with systemd_notify.watchdog_task(env) as dog:
        await asyncio.sleep(0.1)

    assert dog is None
    assert recv.messages() == []
