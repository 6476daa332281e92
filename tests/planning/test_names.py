"""Cluster topology from node labels (``shared.planning._names``), contract §2.2/§2.9.

Covers: topology.kubernetes.io labels, fallback to the failure-domain beta labels per node,
region from the first node that has one, sorted deduplicated zones, no nodes/no labels.
"""

from typing import Any

from shared.planning import topology_from_node_labels

GA_REGION, GA_ZONE = "topology.kubernetes.io/region", "topology.kubernetes.io/zone"
BETA_REGION, BETA_ZONE = "failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone"


def test_topology_labels() -> None:
    nodes = [
        {"metadata": {"labels": {GA_REGION: "eu", GA_ZONE: "eu-b", BETA_REGION: "old", BETA_ZONE: "old-a"}}},
        {"metadata": {"labels": {GA_ZONE: "eu-a"}}},
        {"metadata": {"labels": {BETA_ZONE: "eu-c"}}},
        {"metadata": {"labels": {GA_ZONE: "eu-a"}}},
    ]
    assert topology_from_node_labels(nodes) == ("eu", ("eu-a", "eu-b", "eu-c"))


def test_beta_fallback_and_first_node_with_region() -> None:
    nodes: list[dict[str, Any]] = [
        {"metadata": {"labels": {}}},
        {"metadata": {"labels": {BETA_REGION: "us", BETA_ZONE: "us-1"}}},
        {"metadata": {"labels": {GA_REGION: "other"}}},
    ]
    assert topology_from_node_labels(nodes) == ("us", ("us-1",))


def test_empty() -> None:
    assert topology_from_node_labels([]) == ("", ())
    assert topology_from_node_labels([{"metadata": {}}, {}]) == ("", ())
