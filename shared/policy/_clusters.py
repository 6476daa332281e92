"""Which KubeFedClusters a Karmada ``ClusterAffinity`` selects.

Karmada's ``util.ClusterMatches``, on our clusters: a KubeFedCluster's labels, ``status.region`` and
``status.zones`` stand for Karmada's Cluster labels, ``spec.region`` and ``spec.zones``. Every filter
that is set must hold:

* ``clusterNames`` (non-empty): the cluster is listed; ``exclude``: it is not;
* ``labelSelector`` (non-empty): Kubernetes label-selector semantics (:mod:`shared.planning`);
* ``fieldSelector``: each requirement on ``region`` (the cluster's region is / is not in ``values``) or
  ``zone`` (``In``: the cluster has zones and all are in ``values``; ``NotIn``: none is).

No affinity selects every cluster. Placement (:func:`candidate_clusters`) then keeps only ready
clusters, as Karmada's scheduler skips clusters tainted not-ready; overrides (``targetCluster``) match
any cluster the object was placed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shared.karmada_api import ClusterAffinity, FieldSelectorRequirement
from shared.planning import match_label_selector

from ._matching import selector_dict

__all__ = ["PolicyCluster", "candidate_clusters", "cluster_matches"]


@dataclass(frozen=True)
class PolicyCluster:
    """A KubeFedCluster as the policy engine sees it."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    region: str = ""
    zones: tuple[str, ...] = ()
    ready: bool = True


def _field_matches(req: FieldSelectorRequirement, cluster: PolicyCluster) -> bool:
    values = set(req.values or ())
    if req.key == "region":
        inside = bool(cluster.region) and cluster.region in values
        return inside if req.operator == "In" else not inside
    if req.operator == "In":
        return bool(cluster.zones) and all(z in values for z in cluster.zones)
    return not any(z in values for z in cluster.zones)


def cluster_matches(affinity: ClusterAffinity | None, cluster: PolicyCluster) -> bool:
    """Whether ``cluster`` passes every filter of ``affinity`` (None: every cluster does)."""
    if affinity is None:
        return True
    if affinity.clusterNames and cluster.name not in affinity.clusterNames:
        return False
    if affinity.exclude and cluster.name in affinity.exclude:
        return False
    if affinity.labelSelector is not None:
        selector = selector_dict(affinity.labelSelector)
        if selector and not match_label_selector(selector, cluster.labels):
            return False
    if affinity.fieldSelector is not None:
        return all(_field_matches(r, cluster) for r in affinity.fieldSelector.matchExpressions or ())
    return True


def candidate_clusters(affinity: ClusterAffinity | None, clusters: Sequence[PolicyCluster]) -> list[str]:
    """Names of the ready clusters ``affinity`` selects, sorted."""
    return sorted(c.name for c in clusters if c.ready and cluster_matches(affinity, c))
