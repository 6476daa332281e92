"""Propagation status of a federated resource (contract §1.3, §2.5.7, §2.6).

The per-cluster status values and aggregate reasons are KubeFed's strings, so dashboards
and ``kubectl get -o jsonpath`` queries written for KubeFed keep working.

Rules implemented here (``pkg/controller/sync/status/status.go``):

* reason = the aggregate reason if one was given; else ``CheckClusters`` when any cluster is
  not OK (or, with raw status collection, lacks a ``remoteStatus``: a KubeFed quirk kept for
  compatibility, since users read it as "status not collected yet"); else
  ``NamespaceNotFederated`` when it applies; else success (``""``);
* condition ``Propagation`` is True iff the reason is empty; ``lastTransitionTime`` moves when
  status or reason change; ``lastUpdateTime`` moves on a transition, when ``status.clusters``
  changes or when an update was actually pushed to a member;
* the status is written only if observedGeneration, the condition or the clusters changed
  (#1099): :func:`next_status` returns ``None`` otherwise.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

# Per-cluster values of status.clusters[].status.
CLUSTER_PROPAGATION_OK = ""
WAITING_FOR_REMOVAL = "WaitingForRemoval"
CLUSTER_NOT_READY = "ClusterNotReady"
CACHED_RETRIEVAL_FAILED = "CachedRetrievalFailed"
COMPUTE_RESOURCE_FAILED = "ComputeResourceFailed"
APPLY_OVERRIDES_FAILED = "ApplyOverridesFailed"
CREATION_FAILED = "CreationFailed"
UPDATE_FAILED = "UpdateFailed"
DELETION_FAILED = "DeletionFailed"
LABEL_REMOVAL_FAILED = "LabelRemovalFailed"
RETRIEVAL_FAILED = "RetrievalFailed"
ALREADY_EXISTS = "AlreadyExists"
FIELD_RETENTION_FAILED = "FieldRetentionFailed"
VERSION_RETRIEVAL_FAILED = "VersionRetrievalFailed"
CLIENT_RETRIEVAL_FAILED = "ClientRetrievalFailed"
MANAGED_LABEL_FALSE = "ManagedLabelFalse"
CREATION_TIMED_OUT = "CreationTimedOut"
UPDATE_TIMED_OUT = "UpdateTimedOut"
DELETION_TIMED_OUT = "DeletionTimedOut"
LABEL_REMOVAL_TIMED_OUT = "LabelRemovalTimedOut"

# Statuses the dispatcher retries with backoff (a reconcile error, #1428).
RECOVERABLE_STATUSES = frozenset(
    {
        CREATION_FAILED,
        UPDATE_FAILED,
        DELETION_FAILED,
        LABEL_REMOVAL_FAILED,
        RETRIEVAL_FAILED,
        CLIENT_RETRIEVAL_FAILED,
        CREATION_TIMED_OUT,
        UPDATE_TIMED_OUT,
        DELETION_TIMED_OUT,
        LABEL_REMOVAL_TIMED_OUT,
    }
)

# Aggregate reasons of the Propagation condition.
AGGREGATE_SUCCESS = ""
CHECK_CLUSTERS = "CheckClusters"
CLUSTER_RETRIEVAL_FAILED = "ClusterRetrievalFailed"
COMPUTE_PLACEMENT_FAILED = "ComputePlacementFailed"
NAMESPACE_NOT_FEDERATED = "NamespaceNotFederated"

PROPAGATION_CONDITION = "Propagation"


def resolve_timed_out(status: str, *, operation_finished: bool) -> str | None:
    """Map a timed-out per-cluster status once the dispatcher stopped waiting.

    Returns the status to record, or ``None`` when the entry is dropped. Operations that
    finished after their timeout are reported as they ended (OK / WaitingForRemoval).
    """
    if not operation_finished:
        return status
    if status in (CREATION_TIMED_OUT, UPDATE_TIMED_OUT):
        return CLUSTER_PROPAGATION_OK
    if status == DELETION_TIMED_OUT:
        return WAITING_FOR_REMOVAL
    if status == LABEL_REMOVAL_TIMED_OUT:
        return None
    return status


def aggregate_propagation_status(
    *,
    clusters: Mapping[str, str],
    aggregate_reason: str,
    namespace_not_federated: bool,
    raw_status_enabled: bool,
    remote_status: Mapping[str, Any],
) -> tuple[str, list[dict[str, Any]]]:
    """Return ``(reason, status.clusters)`` with the list sorted by cluster name."""
    entries: list[dict[str, Any]] = []
    for name in sorted(clusters):
        entry: dict[str, Any] = {"name": name}
        if clusters[name]:
            entry["status"] = clusters[name]
        if raw_status_enabled and remote_status.get(name) is not None:
            entry["remoteStatus"] = copy.deepcopy(remote_status[name])
        entries.append(entry)
    reason = aggregate_reason
    if not reason and any(v != CLUSTER_PROPAGATION_OK for v in clusters.values()):
        reason = CHECK_CLUSTERS
    if not reason and raw_status_enabled and any(remote_status.get(n) is None for n in clusters):
        reason = CHECK_CLUSTERS
    if not reason and namespace_not_federated:
        reason = NAMESPACE_NOT_FEDERATED
    return reason, entries


def is_recoverable(status: str) -> bool:
    """True if a per-cluster status should make the reconcile fail and back off."""
    return status in RECOVERABLE_STATUSES


def next_status(
    old_status: Mapping[str, Any] | None,
    *,
    generation: int,
    reason: str,
    clusters: list[dict[str, Any]],
    now: str,
    pushed_update: bool,
) -> dict[str, Any] | None:
    """Build the new ``status`` of a federated resource, or ``None`` if nothing changed.

    Conditions of other types in ``old_status`` are preserved untouched.
    """
    old: Mapping[str, Any] = old_status or {}
    generation_changed = old.get("observedGeneration") != generation
    clusters_changed = list(old.get("clusters") or []) != clusters

    conditions = [copy.deepcopy(dict(c)) for c in old.get("conditions") or [] if isinstance(c, Mapping)]
    prop = next((c for c in conditions if c.get("type") == PROPAGATION_CONDITION), None)
    if prop is None:
        prop = {"type": PROPAGATION_CONDITION}
        conditions.append(prop)
        transition = True
    else:
        transition = False
    cond_status = "True" if reason == AGGREGATE_SUCCESS else "False"
    if prop.get("status") != cond_status or (prop.get("reason") or "") != reason:
        transition = True
    if transition:
        prop["status"] = cond_status
        prop["lastTransitionTime"] = now
        if reason:
            prop["reason"] = reason
        else:
            prop.pop("reason", None)
    cond_changed = transition or clusters_changed or pushed_update
    if cond_changed:
        prop["lastUpdateTime"] = now

    if not (generation_changed or clusters_changed or cond_changed):
        return None
    status: dict[str, Any] = {k: copy.deepcopy(v) for k, v in old.items()}
    status["observedGeneration"] = generation
    status["conditions"] = conditions
    status["clusters"] = copy.deepcopy(clusters)
    return status
