"""The scheduler's pure core: ``decide`` (placement, overrides, deletion mode) and ``decision_hash``
(every decision field except an explicit exclude list)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from services.scheduler._decide import HASH_EXCLUDED, decide, decision_hash
from shared.messages import ObjectKey, PlacementDecision, TargetType
from shared.planning import APPLY_OVERRIDES_FAILED, COMPUTE_PLACEMENT_FAILED, ClusterInfo

CONFIGMAP = TargetType(group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True)
KEY = ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="fed", name="web")
CLUSTERS = [
    ClusterInfo("c1", {"region": "eu"}, ready=True),
    ClusterInfo("c2", {"region": "us"}, ready=True),
    ClusterInfo("c3", {"region": "eu"}, ready=False),
]


def _fed(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "fed", "uid": "u1", "generation": 1, **meta},
        "spec": {"template": {"data": {"k": "v"}}, **spec},
    }


ALL = frozenset({"c1", "c2", "c3"})  # the FederatedNamespace places everywhere


def _decide(fed: dict[str, Any], *, ns: frozenset[str] | None = ALL, **kw: Any) -> PlacementDecision:
    args: dict[str, Any] = {
        "fed": fed,
        "key": KEY,
        "target": CONFIGMAP,
        "clusters": CLUSTERS,
        "namespace_placement": ns,
        "namespaced_scope": False,
        "adopt": True,
        "collect_status": False,
        "previous": None,
        "trace": {},
        "host_uid": "host",
    }
    return decide(**{**args, **kw})


def test_explicit_clusters_beat_the_selector_and_meet_existing_clusters() -> None:
    d = _decide(_fed({"placement": {"clusters": [{"name": "c2"}, {"name": "gone"}], "clusterSelector": {}}}))
    assert d.clusters == ["c2"]


def test_selector_selects_by_label_and_namespace_placement_narrows() -> None:
    fed = _fed({"placement": {"clusterSelector": {"matchLabels": {"region": "eu"}}}})
    assert _decide(fed).clusters == ["c1", "c3"]
    assert _decide(fed, ns=frozenset({"c1", "c2"})).clusters == ["c1"]


def test_malformed_selector_places_nowhere_with_a_reason() -> None:
    d = _decide(
        _fed({"placement": {"clusterSelector": {"matchExpressions": [{"key": "a", "operator": "Bad"}]}}})
    )
    assert d.clusters == []
    assert d.aggregate_reason == COMPUTE_PLACEMENT_FAILED


def test_overrides_are_kept_for_placed_clusters_and_bad_ones_reported_per_cluster() -> None:
    fed = _fed(
        {
            "placement": {"clusters": [{"name": "c1"}, {"name": "c2"}]},
            "overrides": [
                {"clusterName": "c1", "clusterOverrides": [{"path": "/data/k", "value": "x"}]},
                {"clusterName": "c2", "clusterOverrides": [{"op": "remove", "path": "/data/missing"}]},
                {"clusterName": "c3", "clusterOverrides": [{"path": "/data/k", "value": "y"}]},
            ],
        }
    )
    d = _decide(fed)
    assert set(d.overrides) == {"c1", "c2"}  # c3 is not placed
    assert "c1" not in d.cluster_errors
    assert d.cluster_errors["c2"].startswith(APPLY_OVERRIDES_FAILED)


def test_forbidden_override_path_fails_every_placed_cluster() -> None:
    overrides = [{"clusterName": "c1", "clusterOverrides": [{"path": "/metadata/name", "value": "x"}]}]
    d = _decide(_fed({"placement": {"clusters": [{"name": "c1"}, {"name": "c2"}]}, "overrides": overrides}))
    assert d.overrides == {}
    assert set(d.cluster_errors) == {"c1", "c2"}


def test_deletion_keeps_previous_clusters_and_reads_orphan_and_delete_options() -> None:
    previous = _decide(_fed({"placement": {"clusters": [{"name": "c1"}, {"name": "c2"}]}}))
    fed = _fed(
        {"placement": {"clusters": [{"name": "c1"}]}},
        deletionTimestamp="2026-01-01T00:00:00Z",
        annotations={
            "kubefed.io/orphan": "true",
            "kubefed.io/deleteoption": '{"propagationPolicy":"Orphan"}',
        },
    )
    d = _decide(fed, previous=previous)
    assert d.deleting and d.orphan
    assert d.clusters == ["c1", "c2"]
    assert d.delete_options == {"propagationPolicy": "Orphan"}


def test_system_namespaces_are_never_placed() -> None:
    target = TargetType(group="", version="v1", kind="Namespace", plural="namespaces", namespaced=False)
    key = ObjectKey(resource="federatednamespaces.types.kubefed.io", namespace="default", name="default")
    d = _decide(_fed({"placement": {"clusterSelector": {}}}), target=target, key=key)
    assert d.clusters == []


def test_decision_hash_covers_every_field_except_the_excluded() -> None:
    base = _decide(_fed({"placement": {"clusterSelector": {}}}))
    fields = set(PlacementDecision.__struct_fields__)
    assert HASH_EXCLUDED <= fields, HASH_EXCLUDED - fields
    changed: dict[str, Any] = {
        "target": TargetType(group="", version="v1", kind="Secret", plural="secrets", namespaced=True),
        "template": {"data": {"k": "other"}},
        "clusters": ["c1"],
        "overrides": {"c1": [{"path": "/data/k", "value": "x"}]},
        "cluster_errors": {"c1": "bad"},
        "retain_replicas": True,
        "adopt": False,
        "deleting": True,
        "orphan": True,
        "delete_options": {"propagationPolicy": "Orphan"},
        "collect_status": True,
        "source_uid": "u2",
        "host_uid": "other-host",
        "aggregate_reason": "Reason",
        "dependencies": [ObjectKey(resource="configmaps", namespace="n", name="cfg")],
        "attempt": 3,
    }
    excluded: dict[str, Any] = {
        "schema": 99,
        "key": ObjectKey(resource="r", namespace="n", name="x"),
        "generation": 7,
        "source_rv": "999",
        "template_hash": "abc",
        "decided_at": 123.0,
        "trace": {"traceparent": "00-1-2-01"},
    }
    # a field neither hashed on purpose here nor excluded is a field someone forgot to decide about
    assert set(changed) | set(excluded) == fields
    assert set(excluded) == HASH_EXCLUDED
    h = decision_hash(base)
    for name, value in changed.items():
        assert decision_hash(msgspec.structs.replace(base, **{name: value})) != h, name
    for name, value in excluded.items():
        assert decision_hash(msgspec.structs.replace(base, **{name: value})) == h, name


def test_a_new_decision_field_changes_the_hash_unless_excluded() -> None:
    class Extended(PlacementDecision, frozen=True, kw_only=True, tag="desired-extended"):
        new_field: str = ""

    base = _decide(_fed({"placement": {"clusterSelector": {}}}))
    one = Extended(**msgspec.structs.asdict(base), new_field="a")
    two = msgspec.structs.replace(one, new_field="b")
    assert decision_hash(one) != decision_hash(two)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "placement", [{"clusterSelector": {}}, {"clusters": [{"name": n} for n in ("c1", "c2", "c3")]}]
)
def test_same_clusters_by_selector_or_list_hash_the_same(placement: dict[str, Any]) -> None:
    by_selector = _decide(_fed({"placement": {"clusterSelector": {}}}))
    other = _decide(_fed({"placement": placement}, generation=2))
    assert other.generation != by_selector.generation
    assert decision_hash(other) == decision_hash(by_selector)
