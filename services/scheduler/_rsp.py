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
from collections.abc import Callable
from typing import Any

import msgspec
from opentelemetry.trace import SpanKind

from services.scheduler._events import EventRecorder
from services.scheduler._failover import Failover, failover_events
from services.scheduler._history import HistoryRecorder
from services.scheduler._state import FederatedType, HostState
from shared import subjects
from shared.bus import Bus, Delivery
from shared.errors import ConflictError, KubefedError, NotFoundError, TemporaryError
from shared.k8s import Resource
from shared.messages import ClusterReason, HostChange, ObjectKey, WorkloadObservation, decode
from shared.planning import (
    EVICTIONS_ANNOTATION,
    ClusterInfo,
    ClusterPreference,
    FailoverPlan,
    SelectorError,
    apply_rsp_result,
    compute_placement,
    decode_evictions,
    encode_evictions,
    placed_replicas,
    plan_replicas,
    rsp_preferences_from_spec,
    scheduling_result,
)
from shared.runtime import Coalesced, Controller, Result
from shared.telemetry import current_carrier, get_logger, metrics, tracer

__all__ = [
    "CAPACITY_ANNOTATION",
    "RSPS",
    "PlannedReplicas",
    "ReplicaScheduler",
    "TARGET_KINDS",
    "replicas_record",
]

log = get_logger(__name__)

RSPS = Resource(
    "scheduling.kubefed.io", "v1alpha1", "replicaschedulingpreferences", kind="ReplicaSchedulingPreference"
)
# federated kind → member workload kind
TARGET_KINDS = {"FederatedDeployment": "Deployment", "FederatedReplicaSet": "ReplicaSet"}
CAPACITY_ANNOTATION = "scheduling.kubefed.io/estimated-capacity"
CAPACITY_MEMORY = 300.0
REPLICAS_PATH = "/spec/replicas"
CLUSTER_RESOURCES = frozenset(
    {
        "kubefedclusters.core.kubefed.io",
        "kubefedconfigs.core.kubefed.io",
        "federatedtypeconfigs.core.kubefed.io",
    }
)


class ReplicaScheduler:
    """Plans replicas for every RSP; entry points are the two message handlers."""

    def __init__(
        self, bus: Bus, state: HostState, *, workers: int = 2, clock: Callable[[], float] = time.time
    ) -> None:
        self.bus = bus
        self.state = state
        self.failover = Failover(clock=clock)
        self.events: EventRecorder | None = None  # failover Events, when wired
        self.history: HistoryRecorder | None = None  # decision history, when wired
        # one reconcile per RSP key at a time; retries with backoff; the queue carries trace context
        self.controller: Controller[tuple[str, str]] = Controller(
            "rsp", self._reconcile_key, workers=workers, base_delay=0.2, max_delay=30.0
        )
        # the latest plan of every RSP this process planned: kubefed_scheduler_replicas_planned
        self._planned: dict[tuple[str, str], dict[str, int]] = {}
        self._exported: set[str] = set()
        self._requeue_all = Coalesced(self._list_and_requeue_all)

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
            await self._reconcile_or_requeue(key.namespace, key.name)

    async def on_member(self, delivery: Delivery) -> None:
        """Member stream (durable ``rsp``): a managed Deployment/ReplicaSet changed in a member."""
        msg = delivery.message
        if isinstance(msg, WorkloadObservation):
            await self._reconcile_or_requeue(msg.namespace, msg.name)

    def _target_type(self, resource: str) -> FederatedType | None:
        fed_type = self.state.types.get(resource)
        if fed_type is not None and fed_type.resource.kind in TARGET_KINDS:
            return fed_type
        return None

    async def _reconcile_or_requeue(self, namespace: str, name: str) -> None:
        """Plan now, before the message is acked; a failure is the controller's to retry."""
        await self.controller.reconcile_now((namespace, name), raise_errors=False)

    async def requeue_all(self) -> None:
        """Re-plan every RSP (a cluster changed); calls made while a listing runs share the next one."""
        await self._requeue_all()

    async def _list_and_requeue_all(self) -> None:
        try:
            items, _ = await self.state.host.list(RSPS)
        except KubefedError as exc:
            log.info("Listing replica scheduling preferences failed", err=str(exc))
            return
        for rsp in items:
            meta = rsp.get("metadata") or {}
            self.controller.add((meta.get("namespace", ""), meta.get("name", "")))

    # -- reconcile -----------------------------------------------------------------------------
    async def _reconcile_key(self, key: tuple[str, str]) -> Result | None:
        """The controller's reconciler. Any failure is retried with backoff, a permanent one too (a
        Forbidden while RBAC is being set up, a patch refused until the RSP is fixed)."""
        try:
            await self.reconcile(*key)
        except TemporaryError:
            raise
        except KubefedError as exc:
            log.info("Replica scheduling failed, requeued", rsp=f"{key[0]}/{key[1]}", err=str(exc))
            return Result(requeue=True)
        return None

    async def reconcile(self, namespace: str, name: str) -> None:
        """Plan one RSP; the controller never runs it twice at once for one key, the resourceVersion
        guards against other scheduler replicas."""
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
        fed = await self.state.host.get_or_none(fed_type.resource, name, namespace)
        if fed is None or (fed.get("metadata") or {}).get("deletionTimestamp"):
            return
        planned = await self.plan(spec, fed, fed_type)
        if planned is None:
            return
        result, failover, patch = planned.result, planned.failover, planned.patch
        rebalance = bool(spec.get("rebalance"))
        if failover.recheck_after is not None:
            self.controller.add((namespace, name), delay=failover.recheck_after)
        self._export_planned((namespace, name), result)
        guard_announced = self.failover.announce_guard((namespace, name), failover.guard_holds)
        if not patch:
            if guard_announced:
                self._record_events(fed, failover, result, rebalance, guard_announced)
            return
        meta = fed.get("metadata") or {}
        patch.setdefault("metadata", {})["resourceVersion"] = meta.get("resourceVersion")
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
                written = await self.state.host.patch(
                    fed_type.resource, name, patch, namespace, patch_type="merge"
                )
            except NotFoundError:
                return
        log.info("Scheduled replicas", rsp=f"{namespace}/{name}", kind=target_kind, replicas=result)
        self._record_events(fed, failover, result, rebalance, guard_announced)
        if self.history is not None and (planned.new_spec is not None or failover.evict or failover.returned):
            await self._record_history(fed_type, fed, written, planned)

    async def plan(
        self, spec: dict[str, Any], fed: dict[str, Any], fed_type: FederatedType, *, dry_run: bool = False
    ) -> PlannedReplicas | None:
        """The plan of RSP ``spec`` for ``fed`` and the patch that would write it (None: nothing to plan).

        Reads only (member observations, the FederatedNamespace); with ``dry_run`` (preview) evictions
        take nothing from the fleet-wide budget.
        """
        meta = fed.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        target_kind = fed_type.resource.kind
        workload_kind = TARGET_KINDS[target_kind]
        observations: dict[str, WorkloadObservation] = {}
        for member in self.state.clusters:
            obs = await self._observation(member.name, workload_kind, namespace, name)
            if obs is not None and not obs.deleted:
                observations[member.name] = obs
        # failover (_failover.py): not-Ready clusters keep their share for the toleration period
        failover = self.failover.plan(
            fed=fed,
            rsp_spec=spec,
            config=self.state.config,
            clusters=self.state.clusters,
            observed_current={c: o.current for c, o in observations.items()},
            reserve=not dry_run,
        )
        candidates = list(failover.candidates)
        if spec.get("intersectWithClusterSelector") and candidates:
            narrowed = await self._intersect(fed, namespace, fed_type, set(candidates))
            if narrowed is None:
                return None
            candidates = [c for c in candidates if c in narrowed]
        if not candidates:
            return None
        current: dict[str, int] = {}
        capacity: dict[str, int] = {}
        for cluster in candidates:
            obs = observations.get(cluster)
            if obs is None:
                continue
            # a returned cluster's stale count (zero_current) is 0 in the assumed counts
            assumed = failover.assumed_current
            current[cluster] = obs.current if assumed is None else assumed.get(cluster, 0)
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
        new_spec = apply_rsp_result(fed, result)
        patch: dict[str, Any] = {}
        if new_spec is not None:
            patch["spec"] = {"placement": new_spec.get("placement"), "overrides": new_spec.get("overrides")}
        annotations = (fed.get("metadata") or {}).get("annotations") or {}
        if capacity_aware:
            annotation = json.dumps(remembered, sort_keys=True) if remembered else None
            if annotations.get(CAPACITY_ANNOTATION) != annotation:
                patch.setdefault("metadata", {}).setdefault("annotations", {})[CAPACITY_ANNOTATION] = (
                    annotation
                )
        evictions = encode_evictions(failover.evictions)
        if annotations.get(EVICTIONS_ANNOTATION) != evictions:
            patch.setdefault("metadata", {}).setdefault("annotations", {})[EVICTIONS_ANNOTATION] = evictions
        return PlannedReplicas(
            result=result,
            new_spec=new_spec,
            patch=patch,
            failover=failover,
            preferences=preferences,
            current=current,
            capacity=capacity,
            candidates=candidates,
        )

    def _record_events(
        self,
        fed: dict[str, Any],
        failover: FailoverPlan,
        result: dict[str, int],
        rebalance: bool,
        guard_announced: bool,
    ) -> None:
        if self.events is None:
            return
        for event in failover_events(
            fed,
            failover,
            placed=placed_replicas(fed),
            result=result,
            rebalance=rebalance,
            guard_announced=guard_announced,
            traceparent=current_carrier().get("traceparent", ""),
        ):
            self.events.record(event)

    async def _record_history(
        self,
        fed_type: FederatedType,
        fed: dict[str, Any],
        written: dict[str, Any],
        planned: PlannedReplicas,
    ) -> None:
        """One ``replicas`` record: the split, each cluster's reason, the plan's inputs; what changed is
        measured against ``fed`` as it was before the write (``written``)."""
        assert self.history is not None
        key, reasons, summary, inputs = replicas_record(fed_type, written, planned, self.state.clusters)
        await self.history.record(
            key=key,
            source="replicas",
            fed=written,
            clusters=summary["clusters"],
            reasons=reasons,
            summary=summary,
            previous=replicas_summary_of(fed),
            inputs=inputs,
        )

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


class PlannedReplicas(msgspec.Struct, frozen=True, kw_only=True):
    """One RSP plan: the result per cluster, the patch that writes it, and the inputs that explain it."""

    result: dict[str, int]
    new_spec: dict[str, Any] | None
    patch: dict[str, Any]
    failover: FailoverPlan
    preferences: dict[str, ClusterPreference]
    current: dict[str, int]
    capacity: dict[str, int]
    candidates: list[str]


def replicas_summary_of(fed: dict[str, Any]) -> dict[str, Any] | None:
    """The ``replicas`` summary of a federated object as it stands: per placement cluster its
    ``/spec/replicas`` override, else the template's ``spec.replicas`` (what the member runs); None
    for an object without placement clusters."""
    spec = fed.get("spec") or {}
    clusters = [
        str(c.get("name")) for c in (spec.get("placement") or {}).get("clusters") or [] if isinstance(c, dict)
    ]
    if not clusters:
        return None
    default = ((spec.get("template") or {}).get("spec") or {}).get("replicas")
    replicas: dict[str, int] = {}
    for cluster in clusters:
        value = default
        for entry in spec.get("overrides") or []:
            if isinstance(entry, dict) and entry.get("clusterName") == cluster:
                for op in entry.get("clusterOverrides") or []:
                    if isinstance(op, dict) and op.get("path") == REPLICAS_PATH:
                        value = op.get("value")
        if isinstance(value, int) and not isinstance(value, bool):
            replicas[cluster] = value
    evicted = decode_evictions((fed.get("metadata") or {}).get("annotations"))
    return {
        "clusters": sorted(c for c in clusters if replicas.get(c, 1) > 0),
        "replicas": dict(sorted(replicas.items())),
        "evicted": sorted(evicted),
        "generation": int((fed.get("metadata") or {}).get("generation") or 0),
    }


def replicas_record(
    fed_type: FederatedType, fed: dict[str, Any], planned: PlannedReplicas, clusters: list[ClusterInfo]
) -> tuple[ObjectKey, list[ClusterReason], dict[str, Any], dict[str, Any]]:
    """Key, per-cluster reasons, summary and inputs of one replica plan (pure)."""
    result, failover, preferences = planned.result, planned.failover, planned.preferences
    meta = fed.get("metadata") or {}
    key = ObjectKey(
        resource=fed_type.resource.qualified, namespace=meta.get("namespace", ""), name=meta["name"]
    )
    reasons = []
    for cluster in sorted({c.name for c in clusters}):
        why = failover.reasons.get(cluster, "")
        if cluster in planned.candidates:
            pref = preferences.get(cluster) or preferences.get("*")
            if pref is None:
                why += ', no preference for it and no "*": 0 replicas'
            else:
                limit = "no max" if pref.max_replicas is None else f"max {pref.max_replicas}"
                why += f", weight {pref.weight}, min {pref.min_replicas}, {limit}"
            if cluster in planned.capacity:
                why += f", capacity {planned.capacity[cluster]}"
        elif cluster in failover.candidates:
            why += ", left out by intersectWithClusterSelector"
        reasons.append(
            ClusterReason(
                cluster=cluster, selected=result.get(cluster, 0) > 0, reason=why, replicas=result.get(cluster)
            )
        )
    inputs = {
        "weights": {c: p.weight for c, p in sorted(preferences.items())},
        "capacity": dict(sorted(planned.capacity.items())),
        "current": dict(sorted(planned.current.items())),
        "readyClusters": sorted(c.name for c in clusters if c.ready),
        "candidates": sorted(planned.candidates),
        "evictions": {c: r.reason for c, r in sorted(failover.evictions.items())},
    }
    summary: dict[str, Any] = {
        "clusters": sorted(c for c, n in result.items() if n > 0),
        "replicas": dict(sorted(result.items())),
        "evicted": sorted(failover.evictions),
        "returned": sorted(failover.returned),
        "generation": int(meta.get("generation") or 0),
    }
    return key, reasons, summary, inputs
