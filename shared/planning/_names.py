"""Region and zones of a member cluster, read from its nodes' labels (contract §2.2, §2.9).

KubeFed (before v0.7) took the region from the *first* node and the sorted set of zones from
all nodes, using the ``failure-domain.beta.kubernetes.io/*`` labels. Those labels were
deprecated in Kubernetes 1.17 and are no longer set by current kubelets, so we read
``topology.kubernetes.io/{region,zone}`` first and fall back to the beta labels per node.
We also take the region from the first node that has one, rather than only the first node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")


def _label(labels: Mapping[str, Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = labels.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def topology_from_node_labels(nodes: Sequence[Mapping[str, Any]]) -> tuple[str, tuple[str, ...]]:
    """Return ``(region, sorted zones)`` for a cluster's Node objects."""
    region = ""
    zones: set[str] = set()
    for node in nodes:
        labels = (node.get("metadata") or {}).get("labels") or {}
        if not region:
            region = _label(labels, REGION_LABELS)
        zone = _label(labels, ZONE_LABELS)
        if zone:
            zones.add(zone)
    return region, tuple(sorted(zones))
