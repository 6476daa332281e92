"""Pure cores of the scheduler's writers: the status writer's merge of per-cluster entries, and the
RSP patch builder."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from services.scheduler._rsp import CAPACITY_ANNOTATION, rsp_patch
from services.scheduler._status_writer import merge_cluster_entries
from shared.messages import ClusterOutcome, ObjectKey, PlacementDecision, TargetType

KEY = ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="fed", name="web")
DECISION = PlacementDecision(
    key=KEY,
    target=TargetType(group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True),
    clusters=["c1", "c2", "c3"],
)


def _o(
    cluster: str, *, status: str = "", op: str = "unchanged", remote: dict[str, Any] | None = None
) -> ClusterOutcome:
    return ClusterOutcome(key=KEY, cluster=cluster, status=status, op=op, remote_status=remote)


def test_outcomes_replace_entries_and_missing_clusters_are_named() -> None:
    recorded = [{"name": "c1", "status": "UpdateFailed"}, {"name": "c2"}]
    entries, missing = merge_cluster_entries(
        recorded,
        {"c1": _o("c1", op="updated"), "c2": _o("c2", status="ClusterNotReady", op="skipped")},
        DECISION,
    )
    assert entries == {"c1": {"name": "c1"}, "c2": {"name": "c2", "status": "ClusterNotReady"}}
    assert missing == {"c3"}


def test_remote_status_is_kept_per_cluster() -> None:
    entries, _ = merge_cluster_entries([], {"c1": _o("c1", remote={"phase": "Ok"})}, DECISION)
    assert entries["c1"] == {"name": "c1", "remoteStatus": {"phase": "Ok"}}


def test_removed_and_unplaced_clusters_lose_their_entries() -> None:
    decision = msgspec.structs.replace(DECISION, clusters=["c1"])
    recorded = [{"name": "c1"}, {"name": "c2"}, {"name": "gone"}]
    entries, missing = merge_cluster_entries(recorded, {"c2": _o("c2", op="deleted")}, decision)
    assert entries == {"c1": {"name": "c1"}}
    assert missing == set()


def test_a_deletion_keeps_entries_until_each_cluster_reports_removal() -> None:
    deleting = msgspec.structs.replace(DECISION, deleting=True)
    recorded = [{"name": "c1"}, {"name": "c2"}, {"name": "c3"}]
    entries, missing = merge_cluster_entries(
        recorded,
        {"c1": _o("c1", op="deleted"), "c2": _o("c2", status="WaitingForRemoval", op="deleting")},
        deleting,
    )
    assert entries == {"c2": {"name": "c2", "status": "WaitingForRemoval"}, "c3": {"name": "c3"}}
    assert missing == set()  # nothing is placed any more: nothing to wait for


def _fed(clusters: list[str], replicas: dict[str, int], **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "fed", "resourceVersion": "42", **meta},
        "spec": {
            "placement": {"clusters": [{"name": c} for c in clusters]},
            "overrides": [
                {"clusterName": c, "clusterOverrides": [{"path": "/spec/replicas", "value": n}]}
                for c, n in replicas.items()
            ],
        },
    }


def test_rsp_patch_writes_placement_and_replica_overrides_guarded_by_resource_version() -> None:
    patch = rsp_patch(_fed(["c1"], {"c1": 5}), {"c1": 2, "c2": 3}, None)
    assert patch is not None
    assert patch["metadata"] == {"resourceVersion": "42"}
    assert patch["spec"]["placement"]["clusters"] == [{"name": "c1"}, {"name": "c2"}]
    replicas = {o["clusterName"]: o["clusterOverrides"][0]["value"] for o in patch["spec"]["overrides"]}
    assert replicas == {"c1": 2, "c2": 3}


def test_rsp_patch_is_none_when_the_object_already_says_it() -> None:
    assert rsp_patch(_fed(["c1", "c2"], {"c1": 2, "c2": 3}), {"c1": 2, "c2": 3}, None) is None


def test_rsp_patch_writes_and_clears_the_capacity_annotation() -> None:
    remembered = {"c1": {"pods": 2.0, "at": 100.0}}
    fed = _fed(["c1"], {"c1": 2})
    patch = rsp_patch(fed, {"c1": 2}, remembered)
    assert patch is not None and "spec" not in patch
    assert patch["metadata"] == {
        "annotations": {CAPACITY_ANNOTATION: json.dumps(remembered, sort_keys=True)},
        "resourceVersion": "42",
    }
    annotated = _fed(
        ["c1"], {"c1": 2}, annotations={CAPACITY_ANNOTATION: json.dumps(remembered, sort_keys=True)}
    )
    assert rsp_patch(annotated, {"c1": 2}, remembered) is None
    cleared = rsp_patch(annotated, {"c1": 2}, {})
    assert cleared is not None and cleared["metadata"]["annotations"] == {CAPACITY_ANNOTATION: None}
