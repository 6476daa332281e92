"""From a native object on the host and the policy that claims it to a :class:`PlacementDecision` (pure).

The same decision a ``Federated<Kind>`` gets, so the propagators, the status writer and the bus need
nothing new: the template is the host object itself (status, server-set metadata and Karmada's claim
labels left out), the clusters are the policy's ``clusterAffinity`` over the KubeFedClusters, Divided
replicas become a ``/spec/replicas`` override per cluster (the division is
:func:`shared.policy.divide_replicas`, on KubeFed's RSP planner), and the matching
(Cluster)OverridePolicies become per-cluster JSON-patch overrides: what :func:`shared.policy.apply_overriders`
changes, as ``add``/``remove`` operations on the object the propagator renders before overrides.

* Duplicated placement keeps a cluster while it is not Ready (KubeFed's behaviour: the object stays,
  status says the cluster is not ready); Divided placement divides over Ready clusters only.
* ``dynamicWeight: AvailableReplicas``: a cluster's weight is what it can still run plus what it
  already runs of this workload (the previous decision's share), so a placed workload does not move
  because its own pods filled the cluster.
* No policy (released, or the policy deleted) or an object being deleted: a removal decision for the
  clusters of the previous one (the members' copies are deleted).
* A division that fails (not enough available replicas) keeps the previous placement and says why.
* ``conflictResolution``: ``Overwrite`` adopts an object that already exists in a member (KubeFed's
  adoption), ``Abort`` (the default) leaves it alone and reports ``AlreadyExists``.
* ``propagateDeps``: a workload's decision lists the ConfigMaps, Secrets, ServiceAccounts and PVCs its
  pod template references (``dependencies``); a dependency's own decision places it in every cluster of
  the workloads that list it (``dependency_clusters``), merged with a policy's placement of it if one
  selects it directly, and removes it once none does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from shared.messages import ClusterReason, ObjectKey, PlacementDecision, TargetType
from shared.planning import APPLY_OVERRIDES_FAILED, object_for_cluster
from shared.planning._copy import clone
from shared.policy import (
    CLAIM_LABELS,
    Dependency,
    Override,
    OverriderError,
    Policy,
    PolicyCluster,
    ReplicaDivisionError,
    apply_overriders,
    candidate_clusters,
    dependencies_of,
    divide_replicas,
    is_divided,
)

__all__ = [
    "DEPENDENCY_RESOURCES",
    "REPLICA_DIVISION_FAILED",
    "dependency_keys",
    "divided_replicas_of",
    "native_reasons",
    "native_template",
    "overrider_ops",
    "decide_native",
]

REPLICA_DIVISION_FAILED = "ReplicaDivisionFailed"
# the resource (plural, core group) of each kind a pod template depends on
DEPENDENCY_RESOURCES = {
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "ServiceAccount": "serviceaccounts",
    "PersistentVolumeClaim": "persistentvolumeclaims",
}
_CLAIM_KEYS = frozenset(CLAIM_LABELS.values())
_REPLICAS_PATH = "/spec/replicas"
# what the host's API server sets and a member must set for itself
_SERVER_FIELDS = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink")


def native_template(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The host object as a template: no status, no server-set metadata, annotations or claim labels; a
    Service without its cluster IPs (each member allocates its own)."""
    doc: dict[str, Any] = {k: clone(v) for k, v in obj.items() if k != "status"}
    meta = dict(doc.get("metadata") or {})
    # annotations never reach a member (the propagator's render drops them, as KubeFed's does); keeping
    # them out also keeps the scheduler's own kubefed.io/member-status writes out of the decision's hash
    drop = ("deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "annotations", "finalizers")
    for name in (*_SERVER_FIELDS, *drop):
        meta.pop(name, None)
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in _CLAIM_KEYS}
    if labels:
        meta["labels"] = labels
    else:
        meta.pop("labels", None)
    doc["metadata"] = meta
    if obj.get("kind") == "Service" and isinstance(doc.get("spec"), dict):
        for name in ("clusterIP", "clusterIPs"):
            doc["spec"].pop(name, None)
    return doc


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def overrider_ops(base: Any, rendered: Any, path: str = "") -> list[dict[str, Any]]:
    """JSON-patch ``add``/``remove`` operations that turn ``base`` into ``rendered`` (maps are compared key
    by key, any other changed value is set whole); deterministic, so the decision's hash is stable."""
    if not (isinstance(base, dict) and isinstance(rendered, dict)):
        return [] if base == rendered else [{"op": "add", "path": path, "value": rendered}]
    ops: list[dict[str, Any]] = []
    for key in sorted(base.keys() - rendered.keys()):
        ops.append({"op": "remove", "path": f"{path}/{_escape(key)}"})
    for key in sorted(rendered):
        where = f"{path}/{_escape(key)}"
        if key not in base:
            ops.append({"op": "add", "path": where, "value": rendered[key]})
        elif base[key] != rendered[key]:
            ops.extend(overrider_ops(base[key], rendered[key], where))
    return ops


def dependency_keys(obj: Mapping[str, Any]) -> list[ObjectKey]:
    """The keys of what ``obj``'s pod template references (:func:`shared.policy.dependencies_of`)."""
    deps: frozenset[Dependency] = dependencies_of(obj)
    return [
        ObjectKey(resource=DEPENDENCY_RESOURCES[d.kind], namespace=d.namespace, name=d.name)
        for d in sorted(deps)
    ]


def divided_replicas_of(decision: PlacementDecision | None) -> dict[str, int]:
    """The replicas per cluster a decision divided (from its ``/spec/replicas`` overrides)."""
    if decision is None or decision.deleting:
        return {}
    out: dict[str, int] = {}
    for cluster, ops in decision.overrides.items():
        for op in ops:
            if op.get("path") == _REPLICAS_PATH and isinstance(op.get("value"), int):
                out[cluster] = op["value"]
    return out


def _removal(
    previous: PlacementDecision | None, base: PlacementDecision, *, deleting: bool
) -> PlacementDecision:
    clusters = sorted(previous.clusters) if previous is not None else []
    return msgspec.structs.replace(
        base,
        clusters=clusters,
        deleting=True,
        collect_status=False,
        aggregate_reason="" if deleting else "NoPolicy",
    )


def decide_native(
    *,
    obj: Mapping[str, Any],
    key: ObjectKey,
    target: TargetType,
    policy: Policy | None,
    overrides: Sequence[Override],
    clusters: Sequence[PolicyCluster],
    available: Mapping[str, int] | None,
    previous: PlacementDecision | None,
    collect_status: bool,
    trace: dict[str, str],
    host_uid: str = "",
    dependency_clusters: frozenset[str] = frozenset(),
) -> tuple[PlacementDecision, str]:
    """The decision for ``obj`` under ``policy`` (None: no policy claims it) and a warning ("" if none).

    ``available``: replicas each cluster can still run (only read for ``dynamicWeight``);
    ``dependency_clusters``: where propagated workloads that reference ``obj`` are placed."""
    meta = obj.get("metadata") or {}
    template = native_template(obj)
    base = PlacementDecision(
        key=key,
        target=target,
        template=template,
        generation=int(meta.get("generation") or 0),
        source_rv=str(meta.get("resourceVersion") or ""),
        source_uid=str(meta.get("uid") or ""),
        host_uid=host_uid,
        collect_status=collect_status,
        trace=trace,
    )
    deleting = bool(meta.get("deletionTimestamp"))
    if deleting or (policy is None and not dependency_clusters):
        return _removal(previous, base, deleting=deleting), ""
    placement_spec = policy.spec.placement if policy is not None else None
    affinity = placement_spec.clusterAffinity if placement_spec else None
    strategy = placement_spec.replicaScheduling if placement_spec else None
    same_object = previous is not None and previous.source_uid == base.source_uid
    warning = ""
    replicas: dict[str, int] | None = None
    if is_divided(strategy):
        ready = [c for c in clusters if c.ready]
        candidates = set(candidate_clusters(affinity, ready))
        eligible = [c for c in ready if c.name in candidates]
        wanted = (template.get("spec") or {}).get("replicas")
        total = wanted if isinstance(wanted, int) else 1
        weights = None
        if available is not None:
            already = divided_replicas_of(previous) if same_object else {}
            weights = {c.name: max(0, available.get(c.name, 0)) + already.get(c.name, 0) for c in eligible}
        try:
            replicas = divide_replicas(strategy, total, eligible, key=str(key), available=weights)
        except ReplicaDivisionError as exc:
            warning = f"{REPLICA_DIVISION_FAILED}: {exc}"
            if same_object and previous is not None and not previous.deleting:
                kept = divided_replicas_of(previous)
                replicas = {c: n for c, n in kept.items() if c in candidates} or kept
            else:
                replicas = {}
        placed = sorted(replicas or {})
    else:
        everyone = [PolicyCluster(c.name, c.labels, c.region, c.zones, True) for c in clusters]
        placed = candidate_clusters(affinity, everyone) if policy is not None else []
    known = {c.name for c in clusters}
    placed = sorted(set(placed) | (dependency_clusters & known))
    by_name = {c.name: c for c in clusters}
    probe = object_for_cluster(
        template,
        api_version=target.api_version,
        kind=target.kind,
        name=key.name,
        namespace=key.namespace if target.namespaced else None,
    )
    per_cluster: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for cluster in placed:
        ops: list[dict[str, Any]] = []
        if overrides:
            try:
                rendered = apply_overriders(probe, by_name[cluster], overrides)
            except OverriderError as exc:
                errors[cluster] = f"{APPLY_OVERRIDES_FAILED}: {exc}"
            else:
                ops = overrider_ops(probe, rendered)
        if replicas is not None and cluster in replicas:
            ops.append({"op": "add", "path": _REPLICAS_PATH, "value": replicas[cluster]})
        if ops:
            per_cluster[cluster] = ops
    decision = msgspec.structs.replace(
        base,
        clusters=placed,
        overrides=per_cluster,
        cluster_errors=errors,
        adopt=policy is not None and policy.spec.conflictResolution == "Overwrite",
        aggregate_reason=warning.partition(":")[0],
        dependencies=dependency_keys(obj) if policy is not None and policy.spec.propagateDeps else [],
    )
    return decision, warning


def native_reasons(
    decision: PlacementDecision, policy: str, clusters: Sequence[PolicyCluster]
) -> list[ClusterReason]:
    """Why each cluster is (not) part of a native object's decision (``kubefedctl preview``/``explain``)."""
    replicas = divided_replicas_of(decision)
    out: list[ClusterReason] = []
    for cluster in sorted(clusters, key=lambda c: c.name):
        if decision.deleting:
            reason = "being removed: no propagation policy places it" if policy == "" else "being removed"
            out.append(ClusterReason(cluster=cluster.name, selected=False, reason=reason))
        elif cluster.name in decision.cluster_errors:
            out.append(
                ClusterReason(
                    cluster=cluster.name, selected=False, reason=decision.cluster_errors[cluster.name]
                )
            )
        elif cluster.name in decision.clusters:
            out.append(
                ClusterReason(
                    cluster=cluster.name,
                    selected=True,
                    reason=f"placed by {policy}" if policy else "a dependency of a propagated workload",
                    replicas=replicas.get(cluster.name),
                )
            )
        elif replicas and not cluster.ready:
            out.append(
                ClusterReason(cluster=cluster.name, selected=False, reason="not Ready (Divided placement)")
            )
        elif not policy:
            out.append(
                ClusterReason(cluster=cluster.name, selected=False, reason="no propagation policy selects it")
            )
        else:
            out.append(
                ClusterReason(
                    cluster=cluster.name,
                    selected=False,
                    reason=f"not selected by {policy} (clusterAffinity, or no replica in the division)",
                )
            )
    return out
