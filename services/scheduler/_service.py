"""Wiring of the scheduler: three durable consumers, the requeue workers, the status flusher.

Every replica binds the same durable consumers, so adding a replica adds throughput; per-object
consistency comes from the compare-and-set on each object's decision subject, not from partitioning.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from services.scheduler._events import EventRecorder
from services.scheduler._history import HistoryRecorder
from services.scheduler._queries import QueryServer
from services.scheduler._reconciler import Reconciler
from services.scheduler._rsp import ReplicaScheduler
from services.scheduler._state import HostState
from services.scheduler._status_writer import StatusWriter
from services.scheduler._versions import VersionRecorder
from shared import subjects
from shared.bus import Delivery, PullConsumer, serve_queries
from shared.errors import KubefedError
from shared.runtime import CommonSettings, ServiceContext, connect_host, guarded_task, run_service, stop_tasks
from shared.telemetry import get_logger, metrics

__all__ = ["SchedulerSettings", "run_scheduler"]

log = get_logger(__name__)


class SchedulerSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The scheduler's settings."""

    common: CommonSettings = CommonSettings()
    workers: int = 8
    resync_period: float = 300.0
    event_qps: int = 20
    propagated_versions: bool = False  # write KubeFed's PropagatedVersion records (_versions.py)


async def run_scheduler(settings: SchedulerSettings, **kw: Any) -> None:
    """Run the scheduler service until SIGTERM (or ``stop``)."""

    async def main(ctx: ServiceContext) -> None:
        await _main(ctx, settings)

    await run_service("scheduler", settings.common, main, **kw)


async def _main(ctx: ServiceContext, settings: SchedulerSettings) -> None:
    await ctx.bus.ensure_topology()
    state = HostState(ctx.host, ctx.settings.kubefed_namespace)
    ctx.readiness.add("host-state", lambda: state.loaded)
    while not ctx.stop.is_set():
        try:
            await state.refresh()
            break
        except KubefedError as exc:
            log.info("Reading host state failed, retrying", err=str(exc))
            await asyncio.sleep(1.0)
    reconciler = Reconciler(ctx.bus, state, workers=settings.workers)
    events_client = await connect_host(ctx.settings, qps=settings.event_qps, burst=settings.event_qps * 2)
    events = EventRecorder(events_client)
    reconciler.events = events
    versions = VersionRecorder(ctx.host) if settings.propagated_versions else None
    writer = StatusWriter(ctx.bus, state, reconciler, events, versions=versions)
    rsp = ReplicaScheduler(ctx.bus, state)
    # failover Events and the decision history (kubefedctl explain); preview/explain queries
    history = HistoryRecorder(ctx.bus)
    reconciler.history = rsp.history = history
    rsp.events = events
    queries = QueryServer(ctx.bus, state, reconciler, rsp)

    async def handle_host(delivery: Delivery) -> None:
        await reconciler.handle(delivery)
        await rsp.on_host_change(delivery)

    metrics.max_concurrent.labels("scheduler").set(settings.workers)
    host_consumer = PullConsumer(
        ctx.bus,
        stream=subjects.STREAM_HOST,
        durable="scheduler",
        filter_subjects=["kubefed.host.>", "kubefed.relist.>"],
        controller="scheduler",
    )
    status_consumer = PullConsumer(
        ctx.bus,
        stream=subjects.STREAM_STATUS,
        durable="status-writer",
        filter_subjects=["kubefed.status.>"],
        controller="status-writer",
        batch=64,
    )
    health_consumer = PullConsumer(
        ctx.bus,
        stream=subjects.STREAM_HEALTH,
        durable="health-writer",
        filter_subjects=["kubefed.health.>"],
        controller="health-writer",
        batch=32,
    )
    rsp_consumer = PullConsumer(
        ctx.bus,
        stream=subjects.STREAM_MEMBER,
        durable="rsp",
        filter_subjects=[subjects.member_filter("Deployment"), subjects.member_filter("ReplicaSet")],
        controller="rsp",
    )
    # in-flight work finishes on its own stop event, set only after intake stopped
    drain = asyncio.Event()
    tasks = [
        guarded_task(host_consumer.run(handle_host, ctx.stop), name="scheduler-host-consumer"),
        guarded_task(status_consumer.run(writer.handle_status, ctx.stop), name="scheduler-status-consumer"),
        guarded_task(health_consumer.run(writer.handle_health, ctx.stop), name="scheduler-health-consumer"),
        guarded_task(rsp_consumer.run(rsp.on_member, ctx.stop), name="scheduler-rsp-consumer"),
        guarded_task(
            serve_queries(ctx.bus, f"{subjects.QUERY_PREFIX}.*", "scheduler", queries.handle, ctx.stop),
            name="scheduler-queries",
        ),
        guarded_task(reconciler.run_requeues(drain), name="scheduler-requeue"),
        guarded_task(rsp.run_requeues(drain), name="scheduler-rsp-requeue"),
        guarded_task(writer.run_flusher(drain), name="scheduler-status-flusher"),
        guarded_task(events.run(drain), name="scheduler-events"),
        guarded_task(_resync(reconciler, settings.resync_period, ctx.stop), name="scheduler-resync"),
        guarded_task(_backlog(ctx, ctx.stop), name="scheduler-backlog"),
    ]
    await ctx.stop.wait()
    await asyncio.gather(*tasks[:5], return_exceptions=True)
    drain.set()
    await asyncio.wait(tasks[5:], timeout=ctx.settings.grace_period)
    await stop_tasks(tasks, timeout=5)
    await events_client.close()


async def _resync(reconciler: Reconciler, period: float, stop: asyncio.Event) -> None:
    """Periodic level-triggered resync: re-decide everything; unchanged decisions publish nothing."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=period)
            return
        except TimeoutError:
            pass
        await reconciler.requeue_all()


async def _backlog(ctx: ServiceContext, stop: asyncio.Event) -> None:
    """Export consumer backlogs (``kubefed_consumer_pending_messages``) every few seconds."""
    consumers = (
        (subjects.STREAM_HOST, "scheduler"),
        (subjects.STREAM_STATUS, "status-writer"),
        (subjects.STREAM_HEALTH, "health-writer"),
        (subjects.STREAM_MEMBER, "rsp"),
    )
    while not stop.is_set():
        for stream, durable in consumers:
            metrics.consumer_pending.labels(durable).set(await ctx.bus.pending(stream, durable))
        try:
            await asyncio.wait_for(stop.wait(), timeout=5.0)
        except TimeoutError:
            pass
