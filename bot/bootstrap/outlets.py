"""What `quorum serve` shows the world around it, built here like every adapter: the service manager it
reports to (systemd's notify protocol) and the Prometheus metrics behind `GET /metrics`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.adapters import systemd_notify
from bot.adapters.prometheus import metrics as prometheus_metrics
from bot.bootstrap import serve as serve_root
from bot.ports import MetricsSink
from config.settings import Settings
from guardrails import lease


class Supervisor:
    """The service manager: systemd when it set `NOTIFY_SOCKET`, else every call does nothing."""

    def ready(self, status: str) -> None:
        """Up: the unit leaves "activating"."""
        systemd_notify.ready(status)

    def stopping(self, status: str) -> None:
        systemd_notify.stopping(status)

    def status(self, text: str) -> None:
        """The one line `systemctl status` shows."""
        systemd_notify.status(text)

    def extend_timeout(self, seconds: float) -> None:
        """Ask for `seconds` more to stop (a long drain), counted from now."""
        systemd_notify.extend_timeout(seconds)


@asynccontextmanager
async def supervised() -> AsyncIterator[Supervisor]:
    """The supervisor, with systemd's watchdog (when armed) pinged from this loop while the block runs."""
    async with systemd_notify.watchdog_task():
        yield Supervisor()


@dataclass(frozen=True, slots=True)
class MetricsPage:
    """`GET /metrics`: `render` reads the shared gauges from Redis and renders every metric; `delivered`
    counts one webhook answer by its status."""

    content_type: str
    render: Callable[[], Awaitable[bytes]]
    delivered: Callable[[int], None]


class Exporter:
    """This process's Prometheus metrics, on a registry of their own: a sink for every metric document,
    a meter on lease renewals, and the `/metrics` page once the runtime is up."""

    def __init__(self) -> None:
        self._metrics = prometheus_metrics.PrometheusMetrics()

    @property
    def sink(self) -> MetricsSink:
        return self._metrics

    def metered(self, leases: lease.LeaseManager) -> lease.LeaseManager:
        """`leases` with each renewal counted."""
        return self._metrics.metered(leases)

    def page(self, settings: Settings, rt: serve_root.Runtime) -> MetricsPage:
        """The page, with the gauges every replica reads alike (queue, spend, breakers) added; once."""
        shared = serve_root.shared_state(settings, rt)
        registry = self._metrics.registry
        registry.register(shared)

        async def render() -> bytes:
            await shared.refresh()
            return generate_latest(registry)

        return MetricsPage(CONTENT_TYPE_LATEST, render, self._metrics.delivered)
