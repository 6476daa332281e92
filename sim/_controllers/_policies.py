"""Whether a Karmada (Cluster)PropagationPolicy stored in this cluster selects a workload.

Karmada's resource-selector rules (``pkg/util/selector.go``): ``apiVersion`` and ``kind`` must match,
a set ``namespace`` must be the object's, then ``name`` if set, else ``labelSelector`` if set, else
every object of the kind. A PropagationPolicy selects objects of its own namespace only.
"""

from __future__ import annotations

from typing import Any

from .._selectors import match_label_selector
from .._store import Obj, Store

__all__ = ["POLICY_RESOURCES", "selected_by_policy"]

PROPAGATION_POLICIES = ("policy.karmada.io", "propagationpolicies")
CLUSTER_PROPAGATION_POLICIES = ("policy.karmada.io", "clusterpropagationpolicies")
POLICY_RESOURCES = frozenset({PROPAGATION_POLICIES, CLUSTER_PROPAGATION_POLICIES})


def _selects(selector: dict[str, Any], obj: Obj, api_version: str) -> bool:
    meta = obj["metadata"]
    if selector.get("apiVersion") != api_version or selector.get("kind") != obj.get("kind"):
        return False
    if selector.get("namespace") and selector["namespace"] != meta.get("namespace"):
        return False
    if selector.get("name"):
        return bool(selector["name"] == meta.get("name"))
    if selector.get("labelSelector") is not None:
        return match_label_selector(selector["labelSelector"], meta.get("labels") or {})
    return True


def selected_by_policy(store: Store, obj: Obj) -> bool:
    """True when a propagation policy in ``store`` selects ``obj`` (a stored workload)."""
    namespace = obj["metadata"].get("namespace") or ""
    api_version = obj.get("apiVersion") or ""
    policies = [
        *store.iter_objects(PROPAGATION_POLICIES, namespace),
        *store.iter_objects(CLUSTER_PROPAGATION_POLICIES),
    ]
    return any(
        _selects(selector, obj, api_version)
        for policy in policies
        for selector in (policy.get("spec") or {}).get("resourceSelectors") or []
    )
