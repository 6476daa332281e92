"""The one way a service process runs: signals → stop event → grace period → cancel → drain.

SIGTERM and SIGINT only set the stop event (kopf's ``running.py``). The service's ``run`` is expected
to stop taking new work when it sees the event and to finish what is in flight; if it has not returned
after ``grace_period`` seconds it is cancelled, and stragglers are logged. NATS is drained last, so
acks and publishes of finished work still reach the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import msgspec

from shared.bus import Bus
from shared.k8s import KubeClient, client_from_kubeconfig, client_in_cluster
from shared.runtime._health import HealthServer, Readiness
from shared.runtime._settings import CommonSettings
from shared.runtime._tasks import stop_tasks
from shared.telemetry import configure_logging, configure_tracing, get_logger, metrics, shutdown_tracing
from shared.version import version

__all__ = ["ServiceContext", "connect_host", "run_service"]

log = get_logger(__name__)


@dataclass
class ServiceContext:
    """What a running service gets: its bus, host client, readiness, and the stop event."""

    name: str
    settings: CommonSettings
    bus: Bus
    host: KubeClient
    readiness: Readiness
    stop: asyncio.Event
    identity: str
    health_port: int = 0
    extras: dict[str, object] = field(default_factory=dict)


ServiceMain = Callable[[ServiceContext], Coroutine[Any, Any, None]]


async def connect_host(
    settings: CommonSettings, *, qps: float | None = None, burst: int | None = None
) -> KubeClient:
    """A host-cluster client (in-cluster config or a kubeconfig context) with its own rate limit
    (the settings' ``host_qps`` / ``host_burst`` unless given)."""
    qps = settings.host_qps if qps is None else qps
    burst = settings.host_burst if burst is None else burst
    if settings.in_cluster:
        return client_in_cluster(name="host", qps=qps, burst=burst)
    return await client_from_kubeconfig(
        settings.kubeconfig, settings.context, name="host", qps=qps, burst=burst
    )


def raise_open_files_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit, as Go programs do at start: a propagator holds a
    connection pool and one watch per resource for each of its member clusters."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def run_service(
    name: str,
    settings: CommonSettings,
    main: ServiceMain,
    *,
    stop: asyncio.Event | None = None,
    install_signals: bool = True,
    on_ready: Callable[[ServiceContext], None] | None = None,
) -> None:
    """Run ``main`` as service ``name`` until stopped; returns after a clean shutdown."""
    configure_logging()
    raise_open_files_limit()
    configure_tracing(f"kubefed-{name}")
    metrics.init_controller(name)
    metrics.build_info.labels(version(), name).set(1)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if install_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    identity = settings.identity or f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    readiness = Readiness()
    health = HealthServer(readiness, host=settings.http_host, port=settings.http_port)
    await health.start()
    bus = await Bus.connect(msgspec.structs.replace(settings.bus, name=f"kubefed-{name}"))
    readiness.add("nats", lambda: bus.connected)
    metrics.nats_connected.labels(name).set_function(lambda: 1.0 if bus.connected else 0.0)
    # not ready until the service's main has registered its own checks (caches, replays, leases)
    readiness.add("initialized", lambda: len(readiness) > 2)
    host = await connect_host(settings)
    ctx = ServiceContext(name, settings, bus, host, readiness, stop, identity, health.port)
    log.info("Started service", service=name, healthPort=health.port, identity=identity)
    task = asyncio.create_task(main(ctx), name=f"{name}-main")
    ready_task: asyncio.Task[None] | None = None
    if on_ready is not None:
        ready_task = asyncio.create_task(_notify_ready(ctx, on_ready), name=f"{name}-ready")
    stop_wait = asyncio.create_task(stop.wait(), name=f"{name}-stop")
    try:
        done, _ = await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # surface a crash of the main task
        else:
            log.info("Stopping service", service=name, gracePeriod=settings.grace_period)
            finished, _ = await asyncio.wait({task}, timeout=settings.grace_period)
            if not finished:
                log.warning("Grace period expired, cancelling", service=name)
                await stop_tasks([task], timeout=5.0)
            elif not task.cancelled() and task.exception() is not None:
                log.error("Service failed during shutdown", service=name, err=repr(task.exception()))
    finally:
        stop.set()
        await stop_tasks([t for t in (stop_wait, ready_task) if t is not None], timeout=1.0)
        await bus.close()
        with contextlib.suppress(KeyError):  # two services of one name in one process (tests)
            metrics.nats_connected.remove(name)
        await host.close()
        await health.stop()
        shutdown_tracing()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("Stopped service", service=name)


async def _notify_ready(ctx: ServiceContext, on_ready: Callable[[ServiceContext], None]) -> None:
    while not ctx.readiness.ready:
        await asyncio.sleep(0.05)
    on_ready(ctx)
