"""Wiring of the scheduler: four durable consumers and two timers feed two controllers (decisions,
bounded by ``--workers``, and replica scheduling); the status flusher and the event recorder run
beside them. The :class:`shared.runtime.Manager` runs them and stops them in that order.

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
from shared.runtime import CommonSettings, Manager, ServiceContext, connect_host, every, run_service
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

    manager = Manager("scheduler", grace_period=ctx.settings.grace_period)
    # sources: the four durable consumers and two timers
    host_consumer = consumer(ctx, subjects.STREAM_HOST, "scheduler", ["kubefed.host.>", "kubefed.relist.>"])
    manager.add_source("host-consumer", lambda stop: host_consumer.run(handle_host, stop))
    status_consumer = consumer(ctx, subjects.STREAM_STATUS, "status-writer", ["kubefed.status.>"], batch=64)
    manager.add_source("status-consumer", lambda stop: status_consumer.run(writer.handle_status, stop))
    health_consumer = consumer(ctx, subjects.STREAM_HEALTH, "health-writer", ["kubefed.health.>"], batch=32)
    manager.add_source("health-consumer", lambda stop: health_consumer.run(writer.handle_health, stop))
    member_filters = [subjects.member_filter("Deployment"), subjects.member_filter("ReplicaSet")]
    rsp_consumer = consumer(ctx, subjects.STREAM_MEMBER, "rsp", member_filters)
    manager.add_source("rsp-consumer", lambda stop: rsp_consumer.run(rsp.on_member, stop))
    # level-triggered resync: re-decide everything; unchanged decisions publish nothing
    manager.add_source(
        "resync", every(settings.resync_period, reconciler.requeue_all, name="scheduler-resync")
    )
    manager.add_source("backlog", every(5.0, lambda: _export_backlog(ctx), name="scheduler-backlog"))
    manager.add_source(
        "queries",
        lambda stop: serve_queries(ctx.bus, f"{subjects.QUERY_PREFIX}.*", "scheduler", queries.handle, stop),
    )
    # controllers: decisions (bounded by --workers) and replica plans
    manager.add_controller(reconciler.controller)
    manager.add_controller(rsp.controller)
    # helpers the reconcilers use, stopped after the controllers drained
    manager.add_runnable("status-flusher", writer.run_flusher)
    manager.add_runnable("events", events.run)
    manager.on_shutdown(events_client.close)
    await manager.run(ctx.stop)


def consumer(
    ctx: ServiceContext, stream: str, durable: str, filters: list[str], *, batch: int = 256
) -> PullConsumer:
    """A durable consumer of the scheduler; ``scheduler`` hands keys to the controller of that name,
    which counts the reconciles."""
    return PullConsumer(
        ctx.bus,
        stream=stream,
        durable=durable,
        filter_subjects=filters,
        controller=durable,
        batch=batch,
        records_reconciles=durable != "scheduler",
    )


BACKLOG_CONSUMERS = (
    (subjects.STREAM_HOST, "scheduler"),
    (subjects.STREAM_STATUS, "status-writer"),
    (subjects.STREAM_HEALTH, "health-writer"),
    (subjects.STREAM_MEMBER, "rsp"),
)


async def _export_backlog(ctx: ServiceContext) -> None:
    """Export consumer backlogs (``kubefed_consumer_pending_messages``)."""
    for stream, durable in BACKLOG_CONSUMERS:
        metrics.consumer_pending.labels(durable).set(await ctx.bus.pending(stream, durable))
