"""Pure core of the scheduler's status writer: the merge of per-cluster entries."""

from __future__ import annotations

from typing import Any

import msgspec

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
