"""Health probes for the load balancer."""

import socket

TIMEOUT_S = 2.0


def redis_alive(host, port):
    """True when a Redis server answers PING."""
    sock = socket.create_connection((host, port), timeout=TIMEOUT_S)
    sock.sendall(b"PING\r\n")
    return sock.recv(16).startswith(b"+PONG")
