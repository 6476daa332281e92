"""Probing member clusters the way KubeFed's cluster controller does (reference §2.2).

``GET /healthz`` must answer ``ok``; on success ``/version`` gives ``status.kubernetesVersion`` and the
nodes' topology labels give region and zones. The raw probe goes through KubeFed's threshold smoothing
(:func:`shared.planning.next_cluster_health`) here, in the one process that owns the cluster, and the
smoothed conditions are published on ``kubefed.health.<cluster>`` for the scheduler to write.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from services.propagator._members import Member
from shared.errors import ApiUnavailableError, KubefedError
from shared.k8s import NODES, Resource
from shared.messages import ClusterHealthReport
from shared.planning import (
    ClusterHealth,
    HealthThresholds,
    ProbeResult,
    next_cluster_health,
    topology_from_node_labels,
)
from shared.timefmt import now_rfc3339

__all__ = ["probe_member", "probe_members", "pod_counts"]

PODS = Resource("", "v1", "pods", kind="Pod")


def pod_counts(nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> tuple[int, int]:
    """(pods the nodes can hold, pods not finished) (pure): the inputs of Karmada's available replicas."""
    allocatable = 0
    for node in nodes:
        value = str(((node.get("status") or {}).get("allocatable") or {}).get("pods") or "0")
        allocatable += int(value) if value.isdigit() else 0
    running = sum(1 for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed"))
    return allocatable, running


async def probe_member(
    member: Member, previous: ClusterHealth | None, thresholds: HealthThresholds, timeout: float
) -> tuple[ClusterHealth, ClusterHealthReport]:
    """Probe once and fold the result into the smoothed health."""
    version = ""
    region = ""
    zones: tuple[str, ...] = ()
    allocatable: int | None = None
    running: int | None = None
    error = ""
    if member.client is None:
        probe = ProbeResult(reachable=False, healthy=False, error=member.config_error, config_malformed=True)
    else:
        try:
            body = await member.client.healthz(timeout=timeout)
            healthy = body.strip().lower() == "ok"
            probe = ProbeResult(reachable=True, healthy=healthy)
            if healthy:
                version = str((await member.client.version(timeout=timeout)).get("gitVersion") or "")
                try:
                    nodes, _ = await member.client.list(NODES)
                    region, zones = topology_from_node_labels(nodes)
                    pods, _ = await member.client.list(PODS)
                    allocatable, running = pod_counts(nodes, pods)
                except KubefedError:
                    pass
        except ApiUnavailableError as exc:
            if exc.status >= 500:
                probe = ProbeResult(reachable=True, healthy=False, error=str(exc))
            else:
                error = str(exc)
                probe = ProbeResult(reachable=False, healthy=False, error=error)
        except KubefedError as exc:
            error = str(exc)
            probe = ProbeResult(reachable=False, healthy=False, error=error)
    now = now_rfc3339()
    health = next_cluster_health(previous, probe, thresholds, now)
    report = ClusterHealthReport(
        cluster=member.name,
        reachable=probe.reachable,
        healthy=probe.healthy,
        config_malformed=probe.config_malformed,
        error=error[:500],
        kubernetes_version=version,
        region=region,
        zones=list(zones),
        probed_at=now,
        ready=health.ready,
        conditions=[dict(c) for c in health.conditions],
        allocatable_pods=allocatable,
        running_pods=running,
    )
    return health, report


async def probe_members(
    members: Sequence[Member],
    previous: Mapping[str, ClusterHealth],
    thresholds: HealthThresholds,
    timeout: float,
    concurrency: int,
) -> list[tuple[ClusterHealth, ClusterHealthReport] | BaseException]:
    """One probe of every member, at most ``concurrency`` in flight, results in ``members``' order.

    A probe's timeout starts when the probe is sent: thousands of members started at once would all
    time out against one slow endpoint (or their own TLS handshakes) and be marked offline together.
    """
    in_flight = asyncio.Semaphore(concurrency)

    async def one(member: Member) -> tuple[ClusterHealth, ClusterHealthReport]:
        async with in_flight:
            return await probe_member(member, previous.get(member.name), thresholds, timeout)

    return await asyncio.gather(*(one(m) for m in members), return_exceptions=True)
