"""The pure parts of the in-place migration (``kubefedctl/_migrate_apply.py``): the execution order puts
every FederatedNamespace last, and the copy that recreates a federated object after a failed step has no
server-set fields and no orphan annotation (its other annotations kept)."""

from __future__ import annotations

from kubefedctl._migrate_apply import migration_order, recreation_copy
from kubefedctl._migration import MigrationItem, MigrationPlan


def _item(kind: str, name: str) -> MigrationItem:
    return MigrationItem(source={"kind": kind, "metadata": {"name": name, "namespace": "ns"}})


def test_federated_namespaces_go_last_the_rest_keeps_the_plan_order() -> None:
    plan = MigrationPlan(
        items=(
            _item("FederatedConfigMap", "a"),
            _item("FederatedNamespace", "ns"),
            _item("FederatedSecret", "b"),
            _item("FederatedServiceAccount", "c"),
        )
    )
    assert [i.source["kind"] for i in migration_order(plan)] == [
        "FederatedConfigMap",
        "FederatedSecret",
        "FederatedServiceAccount",
        "FederatedNamespace",
    ]


def test_recreation_copy_drops_server_fields_and_the_orphan_annotation() -> None:
    source = {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {
            "name": "a",
            "namespace": "ns",
            "uid": "u-1",
            "resourceVersion": "42",
            "generation": 3,
            "creationTimestamp": "2026-11-30T00:00:00Z",
            "finalizers": ["kubefed.io/sync-controller"],
            "managedFields": [{"manager": "kubectl"}],
            "labels": {"team": "x"},
            "annotations": {"kubefed.io/orphan": "true", "owner": "me"},
        },
        "spec": {"template": {"data": {"k": "v"}}},
        "status": {"clusters": [{"name": "c1"}]},
    }
    copy = recreation_copy(source)
    assert copy == {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": "a", "namespace": "ns", "labels": {"team": "x"}, "annotations": {"owner": "me"}},
        "spec": {"template": {"data": {"k": "v"}}},
    }
    assert source["metadata"]["uid"] == "u-1"  # the source is not changed
    only_orphan = {**source, "metadata": {"name": "a", "annotations": {"kubefed.io/orphan": "true"}}}
    assert "annotations" not in recreation_copy(only_orphan)["metadata"]
