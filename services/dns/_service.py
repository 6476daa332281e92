"""Wiring of the DNS service: host records and member observations in, DNSEndpoints out.

- durable consumer ``dns`` on KUBEFED_HOST, filtered to Domains, ServiceDNSRecords, IngressDNSRecords,
  KubeFedClusters (readiness, region, zones) and the KubeFedConfig (feature gates);
- an ordered replay of KUBEFED_MEMBER (Services, Endpoints, Ingresses observed by the propagators):
  every replica keeps the whole picture in memory, rebuilt from the last message per subject on start.

Host changes wait until the replay has caught up, so a restarted service never writes records from a
partial view of the members.
"""

from __future__ import annotations

from typing import Any

import msgspec
from opentelemetry.trace import SpanKind

from services.dns._records import DOMAINS, RECORD_KINDS, RecordController
from services.dns._resolver import Resolver, system_resolver
from shared import subjects
from shared.bus import Delivery, PullConsumer, Replayer
from shared.k8s import KUBEFED_CLUSTERS, KUBEFED_CONFIGS
from shared.messages import HostChange, MemberObservation
from shared.runtime import CommonSettings, Manager, ServiceContext, run_service
from shared.telemetry import tracer

__all__ = ["DNSSettings", "run_dns"]


class DNSSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The DNS service's settings."""

    common: CommonSettings = CommonSettings()
    retry_workers: int = 2
    # API groups the DNSEndpoints are written in: KubeFed's by default; add "externaldns.k8s.io" for
    # external-dns v0.22 and later, whose CRD source reads only its own group
    endpoint_groups: tuple[str, ...] = ("multiclusterdns.kubefed.io",)


async def run_dns(settings: DNSSettings, *, resolver: Resolver | None = None, **kw: Any) -> None:
    """Run the DNS service until SIGTERM (or ``stop``); ``resolver`` replaces the system resolver."""

    async def main(ctx: ServiceContext) -> None:
        await _main(ctx, settings, resolver or system_resolver)

    await run_service("dns", settings.common, main, **kw)


async def _main(ctx: ServiceContext, settings: DNSSettings, resolver: Resolver) -> None:
    await ctx.bus.ensure_topology()
    records = RecordController(
        ctx.host,
        ctx.settings.kubefed_namespace,
        resolver,
        settings.endpoint_groups,
        workers=settings.retry_workers,
    )
    replay = Replayer(
        ctx.bus, stream=subjects.STREAM_MEMBER, filter_subject="kubefed.member.>", name="dns-members"
    )

    async def on_observation(delivery: Delivery) -> None:
        msg = delivery.message
        if not isinstance(msg, MemberObservation):
            return
        key = records.observe(msg)
        if key is not None and replay.caught_up.is_set():
            await records.reconcile_or_retry(key)

    async def on_host(delivery: Delivery) -> None:
        msg = delivery.message
        if not isinstance(msg, HostChange):
            return
        await replay.caught_up.wait()
        resource = msg.key.resource
        if resource == KUBEFED_CONFIGS.qualified:
            await records.refresh_config()
            await records.requeue_all()
        elif resource in (KUBEFED_CLUSTERS.qualified, DOMAINS.qualified):
            await records.requeue_all()
        elif resource in RECORD_KINDS:
            await records.record_changed((resource, msg.key.namespace, msg.key.name))

    async def after_replay() -> None:
        await replay.caught_up.wait()
        with tracer().start_as_current_span("sync DNS records", kind=SpanKind.INTERNAL):
            await records.requeue_all()

    filters = [
        subjects.host_filter(r)
        for r in (*RECORD_KINDS, DOMAINS.qualified, KUBEFED_CLUSTERS.qualified, KUBEFED_CONFIGS.qualified)
    ]
    host_consumer = PullConsumer(
        ctx.bus,
        stream=subjects.STREAM_HOST,
        durable="dns",
        filter_subjects=filters,
        controller="dns",
        batch=64,
        records_reconciles=False,  # the records controller counts them
    )
    ctx.readiness.add("replayed", replay.caught_up.is_set)
    manager = Manager("dns", grace_period=ctx.settings.grace_period)
    manager.add_source("replay", lambda stop: replay.run(on_observation, stop))
    manager.add_source("host-consumer", lambda stop: host_consumer.run(on_host, stop))
    manager.add_source("initial-sync", lambda stop: after_replay())
    manager.add_controller(records.controller)
    await manager.run(ctx.stop)
