"""ReplicaSchedulingPreference: spread a FederatedDeployment/ReplicaSet's replicas over clusters (§2.7).

The planner is pure (:func:`shared.planning.plan_replicas`); this module gathers its inputs and writes
the result the way KubeFed's scheduling plugin does: ``spec.placement.clusters`` and per-cluster
``/spec/replicas`` overrides on the federated object (a JSON merge patch guarded by resourceVersion),
other overrides kept. The normal pipeline then propagates the federated object.

Inputs, and what re-plans:

- the RSP itself and the federated object with the same key (host changes, routed here by the
  scheduler's host consumer);
- cluster readiness (KubeFedCluster status in :class:`HostState`; a cluster change re-plans every RSP);
- member state: the propagators publish a :class:`WorkloadObservation` per managed member
  Deployment/ReplicaSet on KUBEFED_MEMBER. The durable consumer ``rsp`` only *triggers* a re-plan; the
  state itself is read back per candidate cluster from the stream (last message per subject), so
  scheduler replicas sharing the consumer need no shared memory.

Beyond KubeFed, ``spec.capacityAware: true`` uses the planner's capacity-aware mode: replicas a full
cluster cannot run move to the others instead of staying there as overflow. Once a cluster was scaled
down to what it can run its pods are no longer unschedulable, so the last estimate is remembered in the
annotation :data:`CAPACITY_ANNOTATION` on the federated object for :data:`CAPACITY_MEMORY` seconds
(after which the cluster is tried again at full share).

A plan that does not change the federated object writes nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from opentelemetry.trace import SpanKind

from services.scheduler._state import FederatedType, HostState
from shared import subjects
from shared.bus import Bus, Delivery
from shared.errors import ConflictError, KubefedError, NotFoundError, TemporaryError
from shared.k8s import Resource
from shared.messages import HostChange, WorkloadObservation, decode
from shared.planning import (
    SelectorError,
    apply_rsp_result,
    compute_placement,
    plan_replicas,
    rsp_preferences_from_spec,
    scheduling_result,
)
from shared.runtime import Controller
from shared.telemetry import get_logger, metrics, tracer

__all__ = ["CAPACITY_ANNOTATION", "RSPS", "ReplicaScheduler", "TARGET_KINDS", "rsp_patch"]

log = get_logger(__name__)

RSPS = Resource(
    "scheduling.kubefed.io", "v1alpha1", "replicaschedulingpreferences", kind="ReplicaSchedulingPreference"
)
# federated kind → member workload kind
TARGET_KINDS = {"FederatedDeployment": "Deployment", "FederatedReplicaSet": "ReplicaSet"}
CAPACITY_ANNOTATION = "scheduling.kubefed.io/estimated-capacity"
CAPACITY_MEMORY = 300.0
CLUSTER_RESOURCES = frozenset(
    {
        "kubefedclusters.core.kubefed.io",
        "kubefedconfigs.core.kubefed.io",
        "federatedtypeconfigs.core.kubefed.io",
    }
)


class ReplicaScheduler:
    """Plans replicas for every RSP; entry points are the two message handlers."""

    def __init__(self, bus: Bus, state: HostState, *, workers: int = 2) -> None:
        self.bus = bus
        self.state = state
        self.controller: Controller[tuple[str, str]] = Controller(
            "rsp", self.reconcile, workers=workers, base_delay=0.2, max_delay=30.0
        )
        # the latest plan of every RSP this process planned: kubefed_scheduler_replicas_planned
        self._planned: dict[tuple[str, str], dict[str, int]] = {}
        self._exported: set[str] = set()

    # -- message entry points ----------------------------------------------------------------
    async def on_host_change(self, delivery: Delivery) -> None:
        """Host stream: RSP changes, federated object changes with the same key, cluster changes."""
        msg = delivery.message
        if not isinstance(msg, HostChange):
            return
        key = msg.key
        if key.resource in CLUSTER_RESOURCES:
            await self.requeue_all()
            return
        if key.resource == RSPS.qualified or self._target_type(key.resource) is not None:
            await self.controller.reconcile_now((key.namespace, key.name), raise_errors=False)

    async def on_member(self, delivery: Delivery) -> None:
        """Member stream (durable ``rsp``): a managed Deployment/ReplicaSet changed in a member."""
        msg = delivery.message
        if isinstance(msg, WorkloadObservation):
            await self.controller.reconcile_now((msg.namespace, msg.name), raise_errors=False)

    def _target_type(self, resource: str) -> FederatedType | None:
        fed_type = self.state.types.get(resource)
        if fed_type is not None and fed_type.resource.kind in TARGET_KINDS:
            return fed_type
        return None

    async def requeue_all(self) -> None:
        try:
            items, _ = await self.state.host.list(RSPS)
        except KubefedError as exc:
            log.info("Listing replica scheduling preferences failed", err=str(exc))
            return
        for rsp in items:
            meta = rsp.get("metadata") or {}
            self.controller.add((meta.get("namespace", ""), meta.get("name", "")))

    # -- reconcile -----------------------------------------------------------------------------
    async def reconcile(self, key: tuple[str, str]) -> None:
        """The controller's reconciler (one key at a time); the resourceVersion guards other replicas.
        A failure is retried by the controller with backoff (messages that triggered it are acked)."""
        namespace, name = key
        for _ in range(5):
            try:
                await self._reconcile(namespace, name)
                return
            except ConflictError:
                continue
        raise TemporaryError(f"federated object {namespace}/{name} kept changing", delay=0.2)

    async def _reconcile(self, namespace: str, name: str) -> None:
        if not self.state.loaded:
            await self.state.refresh()
        if not self.state.feature("SchedulerPreferences", True):
            return
        rsp = await self.state.host.get_or_none(RSPS, name, namespace)
        if rsp is None or (rsp.get("metadata") or {}).get("deletionTimestamp"):
            self._export_planned((namespace, name), None)
            return
        spec = rsp.get("spec") or {}
        target_kind = str(spec.get("targetKind") or "")
        if target_kind not in TARGET_KINDS:
            raise TemporaryError(
                f"RSP {namespace}/{name}: unsupported targetKind {target_kind!r}", delay=10.0
            )
        fed_type = next((t for t in self.state.types.values() if t.resource.kind == target_kind), None)
        if fed_type is None:
            return  # the type is not enabled: nothing to schedule
        candidates = [c.name for c in self.state.clusters if c.ready]
        if not candidates:
            return
        fed = await self.state.host.get_or_none(fed_type.resource, name, namespace)
        if fed is None or (fed.get("metadata") or {}).get("deletionTimestamp"):
            return
        if spec.get("intersectWithClusterSelector"):
            narrowed = await self._intersect(fed, namespace, fed_type, set(candidates))
            if narrowed is None:
                return
            candidates = [c for c in candidates if c in narrowed]
            if not candidates:
                return
        workload_kind = TARGET_KINDS[target_kind]
        current: dict[str, int] = {}
        capacity: dict[str, int] = {}
        for cluster in candidates:
            obs = await self._observation(cluster, workload_kind, namespace, name)
            if obs is None or obs.deleted:
                continue
            current[cluster] = obs.current
            if obs.capacity is not None:
                capacity[cluster] = obs.capacity
        capacity_aware = bool(spec.get("capacityAware"))
        remembered: dict[str, dict[str, float]] = {}
        if capacity_aware:
            remembered = _remember(fed, capacity, candidates, time.time())
            for cluster, entry in remembered.items():
                capacity.setdefault(cluster, int(entry["pods"]))
        try:
            preferences = rsp_preferences_from_spec(spec)
        except (ValueError, TypeError) as exc:
            raise TemporaryError(f"RSP {namespace}/{name}: {exc}", delay=10.0) from exc
        plan, overflow = plan_replicas(
            total=int(spec.get("totalReplicas") or 0),
            preferences=preferences,
            clusters=sorted(candidates),
            key=f"{namespace}/{name}",
            current=current,
            capacity=capacity,
            rebalance=bool(spec.get("rebalance")),
            capacity_aware=capacity_aware,
        )
        result = scheduling_result(plan, overflow, clusters_with_objects=sorted(current))
        self._export_planned((namespace, name), result)
        patch = rsp_patch(fed, result, remembered if capacity_aware else None)
        if patch is None:
            return
        with tracer().start_as_current_span(
            "schedule replicas",
            kind=SpanKind.INTERNAL,
            attributes={
                "k8s.object": f"{namespace}/{name}",
                "kubefed.resource": fed_type.resource.qualified,
                "kubefed.replicas": json.dumps(result, sort_keys=True),
            },
        ):
            try:
                await self.state.host.patch(fed_type.resource, name, patch, namespace, patch_type="merge")
            except NotFoundError:
                return
        log.info("Scheduled replicas", rsp=f"{namespace}/{name}", kind=target_kind, replicas=result)

    def _export_planned(self, key: tuple[str, str], result: dict[str, int] | None) -> None:
        """Replicas planned per cluster, summed over the RSPs this process planned last (every
        replica re-plans every RSP each resync period, so replicas agree within one period)."""
        if result is None:
            self._planned.pop(key, None)
        else:
            self._planned[key] = dict(result)
        totals: dict[str, int] = {}
        for plan in self._planned.values():
            for cluster, n in plan.items():
                totals[cluster] = totals.get(cluster, 0) + n
        for cluster, n in totals.items():
            metrics.scheduler_replicas.labels(cluster).set(n)
        for cluster in self._exported - totals.keys():
            metrics.scheduler_replicas.remove(cluster)
        self._exported = set(totals)

    async def _observation(
        self, cluster: str, kind: str, namespace: str, name: str
    ) -> WorkloadObservation | None:
        last = await self.bus.get_last(
            subjects.STREAM_MEMBER, subjects.member_subject(cluster, kind, namespace, name)
        )
        if last is None:
            return None
        msg = decode(last[0])
        return msg if isinstance(msg, WorkloadObservation) else None

    async def _intersect(
        self, fed: dict[str, Any], namespace: str, fed_type: FederatedType, candidates: set[str]
    ) -> frozenset[str] | None:
        """KubeFed's intersectWithClusterSelector: the clusterSelector only (∩ FederatedNamespace)."""
        placement = dict((fed.get("spec") or {}).get("placement") or {})
        placement.pop("clusters", None)
        try:
            selected = compute_placement(placement, self.state.clusters)
        except SelectorError:
            return None
        ns_type = self.state.namespace_type()
        if fed_type.resource.namespaced and ns_type is not None:
            fed_ns = await self.state.host.get_or_none(ns_type.resource, namespace, namespace)
            if fed_ns is None:
                return None
            try:
                selected &= compute_placement(
                    (fed_ns.get("spec") or {}).get("placement"), self.state.clusters
                )
            except SelectorError:
                return None
        return selected & candidates


def rsp_patch(
    fed: dict[str, Any], result: dict[str, int], remembered: dict[str, dict[str, float]] | None
) -> dict[str, Any] | None:
    """The JSON merge patch that writes a replica plan into a federated object (pure), or None when the
    object already says exactly this.

    ``spec.placement`` and ``spec.overrides`` as KubeFed's scheduling plugin sets them (other overrides
    kept); with ``remembered`` (capacity-aware RSPs), the capacity annotation too (None removes it). The
    patch is guarded by the object's resourceVersion.
    """
    new_spec = apply_rsp_result(fed, result)
    patch: dict[str, Any] = {}
    if new_spec is not None:
        patch["spec"] = {"placement": new_spec.get("placement"), "overrides": new_spec.get("overrides")}
    if remembered is not None:
        annotation = json.dumps(remembered, sort_keys=True) if remembered else None
        if ((fed.get("metadata") or {}).get("annotations") or {}).get(CAPACITY_ANNOTATION) != annotation:
            patch["metadata"] = {"annotations": {CAPACITY_ANNOTATION: annotation}}
    if not patch:
        return None
    patch.setdefault("metadata", {})["resourceVersion"] = (fed.get("metadata") or {}).get("resourceVersion")
    return patch


def _remember(
    fed: dict[str, Any], observed: dict[str, int], candidates: list[str], now: float
) -> dict[str, dict[str, float]]:
    """Capacity estimates to keep: fresh observations, plus unexpired earlier ones."""
    raw = ((fed.get("metadata") or {}).get("annotations") or {}).get(CAPACITY_ANNOTATION) or ""
    try:
        previous = json.loads(raw) if raw else {}
    except ValueError:
        previous = {}
    kept: dict[str, dict[str, float]] = {}
    for cluster, entry in previous.items() if isinstance(previous, dict) else ():
        if cluster not in candidates or not isinstance(entry, dict):
            continue
        try:
            pods, at = int(entry["pods"]), float(entry["at"])
        except (KeyError, TypeError, ValueError):
            continue
        if now - at < CAPACITY_MEMORY:
            kept[cluster] = {"pods": pods, "at": at}
    for cluster, pods in observed.items():
        old = kept.get(cluster)
        if old is None or old["pods"] != pods:
            kept[cluster] = {"pods": pods, "at": float(int(now))}
    return kept
