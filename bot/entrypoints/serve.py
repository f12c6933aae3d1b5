"""`quorum serve`: the webhook server, the review workers, the reconciler and the timeout monitor in one
process, stopped cleanly by SIGTERM (intake first, then running reviews within a grace period).

Only Redis must answer at start: webhooks are acknowledged and queued while GitHub, the model,
Elasticsearch or Discord are down (`/readyz` names them). systemd's READY=1 is sent once Redis answered
and the webhook server listens; the workers and the reconciler start when GitHub first answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass

from aiohttp import web

from bot import health, telemetry
from bot.bootstrap import outlets as outlets_root
from bot.bootstrap import serve as serve_root
from bot.entrypoints import metrics_route, webhook
from bot.errors import ConfigError, QuorumError
from bot.ports import MetricsSink, Notifier
from config.settings import Settings

log = logging.getLogger("quorum.serve")
STOP_MARGIN_S = 15.0  # past the grace period, a stop that has not ended is stuck
EXIT_STOP_STUCK = 1


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT; 0 on a clean stop."""
    if not args.poll and settings.github.webhook_secret is None:
        raise ConfigError(
            "quorum serve refuses to accept unsigned webhooks",
            ("github.webhook_secret (env QUORUM_GITHUB__WEBHOOK_SECRET): missing; or run with --poll",),
        )
    _drop_git_environment()
    watch = StopWatch(settings.server.shutdown_grace_s + STOP_MARGIN_S)
    try:
        asyncio.run(serve(settings, poll=args.poll, watch=watch))
    finally:
        watch.cancel()
    return 0


class StopWatch:
    """Bounds a stop: once started, a stop still running after `limit_s` is stuck. It then logs why, writes
    the stack of every thread and every task still running to stderr, and ends the process with
    `EXIT_STOP_STUCK`, so a service manager restarts it at once and the log says what held it (running
    jobs were handed back during the grace period, or their leases end on their own)."""

    def __init__(self, limit_s: float) -> None:
        self._limit_s = limit_s
        self._timer: threading.Timer | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = threading.Timer(self._limit_s, self._stuck, args=(loop,))
        self._timer.daemon = True
        self._timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _stuck(self, loop: asyncio.AbstractEventLoop) -> None:
        log.error("stopping has taken over %.0f s: exiting; what still runs follows", self._limit_s)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        for _ in range(3):  # the loop's thread may change the set of tasks while it is read from here
            with contextlib.suppress(RuntimeError):
                for task in list(asyncio.all_tasks(loop)):
                    task.print_stack(limit=25, file=sys.stderr)
                break
        sys.stderr.flush()
        os._exit(EXIT_STOP_STUCK)


def _drop_git_environment() -> None:
    # An inherited GIT_DIR or GIT_WORK_TREE would point every git call of the workspace somewhere else.
    for name in [n for n in os.environ if n.startswith("GIT_")]:
        del os.environ[name]


@dataclass(frozen=True, slots=True)
class _Outlets:
    """What `serve` hands the running parts besides the sinks: the service manager it reports to, the
    /metrics exporter, the /readyz probes."""

    supervisor: outlets_root.Supervisor
    exporter: outlets_root.Exporter
    probes: dict[str, health.Probe]


async def serve(
    settings: Settings, *, poll: bool, stopping: asyncio.Event | None = None, watch: StopWatch | None = None
) -> None:
    """Run every part until `stopping` is set (by a signal when not given); `watch` bounds the stop."""
    stopping = stopping or _on_signals()
    probes: dict[str, health.Probe] = {}
    async with contextlib.AsyncExitStack() as outlets:
        supervisor = await outlets.enter_async_context(outlets_root.supervised())
        shipper = await outlets.enter_async_context(serve_root.metrics(settings, probes))
        notifier = await outlets.enter_async_context(serve_root.notifier(settings, probes))
        # Every document goes to Elasticsearch (when configured) and is counted for /metrics.
        exporter = outlets_root.Exporter()
        sink = telemetry.FanOutSink(shipper, exporter.sink)
        await _run(settings, poll, stopping, sink, notifier, _Outlets(supervisor, exporter, probes), watch)
    log.info("stopped")


async def _run(
    settings: Settings,
    poll: bool,
    stopping: asyncio.Event,
    metrics: MetricsSink,
    notifier: Notifier,
    outlets: _Outlets,
    watch: StopWatch | None = None,
) -> None:
    async with serve_root.runtime(settings, metrics=metrics, notifier=notifier, probes=outlets.probes) as rt:
        runner = await _start_http(settings, rt, outlets.exporter, poll=poll)
        background = [
            asyncio.create_task(rt.link.run(stopping), name="github-link"),
            asyncio.create_task(rt.reconciler.run(stopping), name="reconciler"),
            asyncio.create_task(rt.monitor.run(), name="monitor"),
        ]
        working = asyncio.create_task(_work(settings, rt, outlets, stopping), name="workers")
        log.info("quorum serve %s%s", rt.instance, ": polling only" if poll else "")
        # READY: Redis answered and webhooks are taken; GitHub and the rest may still be down.
        outlets.supervisor.ready("polling" if poll else "webhooks accepted")
        await stopping.wait()
        if watch is not None:
            watch.start(asyncio.get_running_loop())
        log.info("stopping: no new deliveries; running reviews get %.0f s", settings.server.shutdown_grace_s)
        outlets.supervisor.stopping("finishing running reviews")
        outlets.supervisor.extend_timeout(settings.server.shutdown_grace_s + 30)
        await runner.cleanup()
        log.info("stopping: the HTTP server is closed")
        await working
        log.info("stopping: the workers are done")
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        log.info("stopping: closing connections")


async def _work(
    settings: Settings,
    rt: serve_root.Runtime,
    outlets: _Outlets,
    stopping: asyncio.Event,
) -> None:
    """Run the workers once GitHub first answered, until `stopping`; then drain them."""
    if not await rt.link.wait_up(stopping):
        return
    workers = rt.workers(outlets.exporter.metered(rt.scheduler.leases))  # renewals counted for /metrics
    working = [asyncio.create_task(w.run(stopping), name=w.name) for w in workers]
    log.info("GitHub answered as %s: %d workers", rt.link.identity.login, len(workers))
    outlets.supervisor.status(f"{len(workers)} workers")
    await stopping.wait()
    await _drain(working, settings.server.shutdown_grace_s)


async def _start_http(
    settings: Settings,
    rt: serve_root.Runtime,
    exporter: outlets_root.Exporter,
    *,
    poll: bool,
) -> web.AppRunner:
    """The HTTP server: webhooks and health, or in poll mode health and metrics only (so probes and the
    container's health check work in both modes)."""

    async def ready() -> health.Report:
        return await health.report(rt.probes, timeout_s=1.5)

    extend = metrics_route.installer(exporter.page(settings, rt))
    secret = settings.github.webhook_secret
    if poll or secret is None:
        app = webhook.make_health_app(ready=ready, extend=extend)
    else:
        server = settings.server
        app = webhook.make_app(
            rt.intake, secret=secret.get_secret_value().encode(), max_body_bytes=server.max_body_bytes,
            ready=ready, max_body_bytes_in_flight=server.max_body_bytes_in_flight, extend=extend,
        )  # fmt: skip
    runner = web.AppRunner(app, shutdown_timeout=min(5.0, settings.server.shutdown_grace_s))
    await runner.setup()
    site = web.TCPSite(runner, settings.server.host, settings.server.port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise QuorumError(f"cannot listen on {settings.server.host}:{settings.server.port}: {exc}") from exc
    where = "/livez" if poll else "/webhook"
    log.info("listening on http://%s:%d%s", settings.server.host, settings.server.port, where)
    return runner


async def _drain(working: list[asyncio.Task[None]], grace_s: float) -> None:
    """Let running jobs finish within the grace period, then cancel them (they hand their jobs back)."""
    _, pending = await asyncio.wait(working, timeout=grace_s) if working else (set(), set())
    for task in pending:
        task.cancel()
    results = await asyncio.gather(*working, return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.error("worker ended with %r", result)


def _on_signals() -> asyncio.Event:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stopping.set)
    return stopping
