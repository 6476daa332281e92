"""Which member clusters a federated resource is placed in (contract §2.5.2).

KubeFed's rules (``pkg/controller/util/placement.go``):

* ``spec.placement.clusters`` non-null wins over ``clusterSelector`` even when it is an
  empty list (#1129: ``[]`` means "no clusters", not "fall back to the selector").
* Otherwise the selector decides: ``{}`` selects every cluster, a missing selector none.
* The result is intersected with the KubeFedClusters that exist, ready or not: readiness
  is the dispatcher's concern (``ClusterNotReady``), not placement's.
* Namespaced resources are further narrowed by their FederatedNamespace's placement; with a
  cluster-scoped control plane a missing FederatedNamespace empties the placement and
  yields reason ``NamespaceNotFederated``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._selectors import SelectorError, match_label_selector

NAMESPACE_NOT_FEDERATED = "NamespaceNotFederated"


@dataclass(frozen=True)
class ClusterInfo:
    """A KubeFedCluster as placement sees it."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ready: bool = False
    # when the Ready condition last turned away from True (epoch seconds), for failover; None = unknown
    not_ready_since: float | None = None


def compute_placement(placement: Mapping[str, Any] | None, clusters: Sequence[ClusterInfo]) -> frozenset[str]:
    """Return the names of existing clusters selected by ``spec.placement``.

    Raises:
        SelectorError: the clusterSelector is malformed.
    """
    existing = {c.name: c for c in clusters}
    if not placement:
        return frozenset()
    explicit = placement.get("clusters")
    if explicit is not None:
        if not isinstance(explicit, Sequence) or isinstance(explicit, str):
            raise SelectorError("spec.placement.clusters must be a list")
        names = {entry.get("name") for entry in explicit if isinstance(entry, Mapping)}
        return frozenset(n for n in names if isinstance(n, str) and n in existing)
    selector = placement.get("clusterSelector")
    if selector is None:
        return frozenset()
    if not isinstance(selector, Mapping):
        raise SelectorError("spec.placement.clusterSelector must be an object")
    return frozenset(c.name for c in existing.values() if match_label_selector(selector, c.labels))


def narrow_by_namespace(
    resource_placement: frozenset[str],
    namespace_placement: frozenset[str] | None,
    *,
    namespaced_scope: bool,
) -> tuple[frozenset[str], str]:
    """Intersect a namespaced resource's placement with its FederatedNamespace's.

    Args:
        resource_placement: result of :func:`compute_placement` for the resource.
        namespace_placement: placement of FederatedNamespace ``<ns>/<ns>``, or None if absent.
        namespaced_scope: the control plane is ``Namespaced`` (KubeFedConfig ``spec.scope``).

    Returns:
        ``(placement, reason)``; reason is ``""`` or ``"NamespaceNotFederated"``.
    """
    if namespace_placement is None:
        if namespaced_scope:
            return resource_placement, ""
        return frozenset(), NAMESPACE_NOT_FEDERATED
    return resource_placement & namespace_placement, ""
