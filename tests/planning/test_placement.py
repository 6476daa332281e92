"""Placement (``shared.planning._placement``), contract §2.5.2.

Covers: explicit clusters win even when empty (#1129), clusterSelector when clusters is
null/absent, ``{}`` selects all, missing selector selects none, intersection with existing
clusters regardless of readiness, selector errors, and FederatedNamespace narrowing for
cluster-scoped vs namespaced control planes; property: placement ⊆ existing clusters.
"""

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.planning import ClusterInfo, SelectorError, compute_placement, narrow_by_namespace

CLUSTERS = [
    ClusterInfo("c1", {"region": "eu"}, True),
    ClusterInfo("c2", {"region": "us"}, False),
    ClusterInfo("c3", {"region": "eu", "tier": "gold"}, True),
]


@pytest.mark.parametrize(
    ("placement", "expected"),
    [
        (None, set()),
        ({}, set()),
        ({"clusters": [{"name": "c1"}, {"name": "c2"}]}, {"c1", "c2"}),
        ({"clusters": [{"name": "c1"}, {"name": "gone"}]}, {"c1"}),
        ({"clusters": [], "clusterSelector": {}}, set()),
        ({"clusters": [{"name": "c2"}], "clusterSelector": {"matchLabels": {"region": "eu"}}}, {"c2"}),
        ({"clusters": None, "clusterSelector": {"matchLabels": {"region": "eu"}}}, {"c1", "c3"}),
        ({"clusterSelector": {}}, {"c1", "c2", "c3"}),
        ({"clusterSelector": None}, set()),
        ({"clusterSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}}, {"c3"}),
        ({"clusterSelector": {"matchLabels": {"region": "us"}}}, {"c2"}),
    ],
)
def test_compute_placement(placement: dict[str, Any] | None, expected: set[str]) -> None:
    assert compute_placement(placement, CLUSTERS) == frozenset(expected)


def test_selector_error_propagates() -> None:
    bad = {"clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Bogus"}]}}
    with pytest.raises(SelectorError):
        compute_placement(bad, CLUSTERS)


@pytest.mark.parametrize(
    ("resource", "namespace", "namespaced_scope", "expected", "reason"),
    [
        ({"a", "b"}, {"b", "c"}, False, {"b"}, ""),
        ({"a", "b"}, {"b", "c"}, True, {"b"}, ""),
        ({"a", "b"}, None, False, set(), "NamespaceNotFederated"),
        ({"a", "b"}, None, True, {"a", "b"}, ""),
        ({"a"}, set(), False, set(), ""),
    ],
)
def test_narrow_by_namespace(
    resource: set[str], namespace: set[str] | None, namespaced_scope: bool, expected: set[str], reason: str
) -> None:
    ns = None if namespace is None else frozenset(namespace)
    assert narrow_by_namespace(frozenset(resource), ns, namespaced_scope=namespaced_scope) == (
        frozenset(expected),
        reason,
    )


_names = st.sampled_from(["a", "b", "c", "d"])


@settings(max_examples=100, deadline=None)
@given(
    existing=st.lists(
        st.tuples(_names, st.sampled_from(["eu", "us"]), st.booleans()), unique_by=lambda t: t[0]
    ),
    explicit=st.none() | st.lists(_names),
    use_selector=st.booleans(),
)
def test_placement_is_subset_of_existing(
    existing: list[tuple[str, str, bool]], explicit: list[str] | None, use_selector: bool
) -> None:
    clusters = [ClusterInfo(n, {"region": r}, ready) for n, r, ready in existing]
    placement: dict[str, Any] = {
        "clusterSelector": {"matchLabels": {"region": "eu"}} if use_selector else None
    }
    if explicit is not None:
        placement["clusters"] = [{"name": n} for n in explicit]
    result = compute_placement(placement, clusters)
    assert result <= {c.name for c in clusters}
    if explicit is not None:
        assert result == set(explicit) & {c.name for c in clusters}
    elif use_selector:
        assert result == {c.name for c in clusters if c.labels["region"] == "eu"}
    else:
        assert result == frozenset()
