"""The start-up check: Redis >= 6.2 passes, an older server is refused by name, no server fails closed."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator

import pytest

from bot import errors
from bot.adapters.redis import conn as redis_conn
from tests.support.redis_server import free_port

pytestmark = pytest.mark.redis

OLD_INFO = b"# Server\r\nredis_version:6.0.16\r\nredis_mode:standalone\r\nos:Linux\r\n"


class _FakeRedis(socketserver.StreamRequestHandler):
    """Speaks just enough RESP2 for a connect and `INFO server`, as a Redis 6.0.16 would."""

    server: _FakeServer

    def handle(self) -> None:
        while True:
            command = self._read_command()
            if command is None:
                return
            self.server.seen.append(command[0].upper())
            self.wfile.write(self._reply(command))

    def _read_command(self) -> list[bytes] | None:
        header = self.rfile.readline()
        if not header:
            return None
        if not header.startswith(b"*"):
            return header.split()  # an inline command
        parts = []
        for _ in range(int(header[1:])):
            size = int(self.rfile.readline()[1:])
            parts.append(self.rfile.read(size + 2)[:-2])
        return parts

    @staticmethod
    def _reply(command: list[bytes]) -> bytes:
        name = command[0].upper()
        if name == b"INFO":
            return b"$%d\r\n%s\r\n" % (len(OLD_INFO), OLD_INFO)
        if name == b"PING":
            return b"+PONG\r\n"
        if name == b"HELLO":
            return _hello(command[1] if len(command) > 1 else b"2")
        return b"+OK\r\n"  # CLIENT SETINFO, SELECT and whatever else a client sends on connect


def _hello(protover: bytes) -> bytes:
    """HELLO as Redis 6.0 answers it: a flat array in RESP2, a map once the client asks for RESP3."""
    pairs = [(b"server", b"redis"), (b"version", b"6.0.16"), (b"proto", protover)]
    body = b"".join(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v) for k, v in pairs)
    return (b"%%%d\r\n" % len(pairs) if protover == b"3" else b"*%d\r\n" % (2 * len(pairs))) + body


class _FakeServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FakeRedis)
        self.seen: list[bytes] = []


@pytest.fixture
def old_redis_url() -> Iterator[tuple[str, _FakeServer]]:
    server = _FakeServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.server_address[1]}/0", server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def test_a_real_server_passes_and_reports_its_version(redis_url: str) -> None:
    client = redis_conn.client(redis_url)

    version = await redis_conn.check_server(client)
    reported = (await client.info("server"))["redis_version"]
    await client.aclose()

    assert version >= (6, 2)
    assert version == redis_conn.parse_version(str(reported))


async def test_a_server_older_than_6_2_is_refused_by_name(old_redis_url: tuple[str, _FakeServer]) -> None:
    url, server = old_redis_url
    client = redis_conn.client(url, socket_timeout=2.0)

    with pytest.raises(errors.ConfigError) as refused:
        await redis_conn.check_server(client)
    await client.aclose()

    assert "6.2" in refused.value.message
    assert "6.0.16" in refused.value.message
    assert refused.value.problems == ("redis.url: server version below 6.2",)
    assert b"INFO" in server.seen


async def test_no_server_fails_closed_and_may_be_retried() -> None:
    port = free_port()  # bound and closed again: nothing listens there
    client = redis_conn.client(f"redis://127.0.0.1:{port}/0", socket_timeout=0.5)

    with pytest.raises(errors.CoordinationUnavailable) as unreachable:
        await redis_conn.check_server(client)
    await client.aclose()

    assert unreachable.value.retryable is True
    assert "cannot reach Redis" in unreachable.value.message
