"""Which host resources the watcher follows, derived from FederatedTypeConfigs (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.k8s import FEDERATED_TYPE_CONFIGS, KUBEFED_CLUSTERS, KUBEFED_CONFIGS, POLICY_RESOURCES, Resource
from shared.planning import content_hash
from shared.policy import MEMBER_STATUS_ANNOTATION

__all__ = ["STATIC_RESOURCES", "change_fingerprint", "federated_resources", "native_resources"]

RSPS = Resource(
    "scheduling.kubefed.io", "v1alpha1", "replicaschedulingpreferences", kind="ReplicaSchedulingPreference"
)
DOMAINS = Resource("multiclusterdns.kubefed.io", "v1alpha1", "domains", kind="Domain")
SERVICE_DNS = Resource("multiclusterdns.kubefed.io", "v1alpha1", "servicednsrecords", kind="ServiceDNSRecord")
INGRESS_DNS = Resource("multiclusterdns.kubefed.io", "v1alpha1", "ingressdnsrecords", kind="IngressDNSRecord")

# (resource, confined to the system namespace?)
STATIC_RESOURCES: tuple[tuple[Resource, bool], ...] = (
    (KUBEFED_CONFIGS, True),
    (KUBEFED_CLUSTERS, True),
    (FEDERATED_TYPE_CONFIGS, True),
    (RSPS, False),
    (DOMAINS, True),
    (SERVICE_DNS, False),
    (INGRESS_DNS, False),
    *((policy, False) for policy in POLICY_RESOURCES),
)


def federated_resources(ftcs: Iterable[Mapping[str, Any]]) -> dict[str, Resource]:
    """The ``Federated<Kind>`` resources enabled by FTCs (propagation Enabled, not being deleted)."""
    out: dict[str, Resource] = {}
    for ftc in ftcs:
        spec = ftc.get("spec") or {}
        if spec.get("propagation", "Enabled") != "Enabled":
            continue
        if (ftc.get("metadata") or {}).get("deletionTimestamp"):
            continue
        fed = spec.get("federatedType") or {}
        if not fed.get("group") or not fed.get("pluralName"):
            continue
        res = Resource(
            fed["group"],
            fed.get("version") or "v1beta1",
            fed["pluralName"],
            namespaced=fed.get("scope", "Namespaced") == "Namespaced",
            kind=fed.get("kind", ""),
        )
        out[res.qualified] = res
    return out


def native_resources(selected: Iterable[Resource], federated: Mapping[str, Resource]) -> dict[str, Resource]:
    """The native types propagation policies select (resolved by discovery), minus the control plane's
    own and the federated types."""
    own = {r.qualified for r, _ in STATIC_RESOURCES} | set(federated)
    return {
        r.qualified: r
        for r in selected
        if r.qualified not in own and r.group not in ("types.kubefed.io", "policy.karmada.io")
    }


# Resources whose status the control plane writes itself: a status-only change is our own echo.
_STATUS_IS_OURS = frozenset(
    {
        "federatedtypeconfigs.core.kubefed.io",
        "servicednsrecords.multiclusterdns.kubefed.io",
        "ingressdnsrecords.multiclusterdns.kubefed.io",
        "replicaschedulingpreferences.scheduling.kubefed.io",
    }
)


def change_fingerprint(resource: Resource, obj: Mapping[str, Any], *, native: bool = False) -> str:
    """What a consumer could react to: the object without resourceVersion, managedFields and, where the
    control plane writes the status itself, without status and finalizers.

    The scheduler writes the status of every federated object after each change; publishing that echo
    would make it re-read and re-decide every object once more for nothing (measured: 3.5 reconciles
    per object in a burst). KubeFedCluster status (readiness) is input for placement, RSP and DNS, so it
    counts.
    """
    doc = dict(obj)
    meta = dict(doc.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta.pop("managedFields", None)
    doc["metadata"] = meta
    if native:
        doc.pop("status", None)
        annotations = {
            k: v for k, v in (meta.get("annotations") or {}).items() if k != MEMBER_STATUS_ANNOTATION
        }
        meta["annotations"] = annotations
    if resource.group == "types.kubefed.io" or resource.qualified in _STATUS_IS_OURS:
        doc.pop("status", None)
        # the scheduler adds its own finalizer; deletion shows as deletionTimestamp, which counts
        meta.pop("finalizers", None)
    return content_hash(doc)
