"""Events for federated objects (pure): aggregation of successes per reason, failures per cluster
only on a status change, KubeFed's exact message for a single cluster, the trace id annotation.
"""

from __future__ import annotations

from services.scheduler._events import events_for_outcomes
from shared.messages import ClusterOutcome, ObjectKey

FED = {
    "apiVersion": "types.kubefed.io/v1beta1",
    "kind": "FederatedConfigMap",
    "metadata": {"name": "cm", "namespace": "ns", "uid": "u1", "resourceVersion": "5"},
}
KEY = ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="ns", name="cm")
TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def outcome(cluster: str, op: str = "", status: str = "", message: str = "") -> ClusterOutcome:
    return ClusterOutcome(
        key=KEY, cluster=cluster, op=op, status=status, message=message, trace={"traceparent": TP}
    )


def test_single_cluster_success_uses_kubefeds_message() -> None:
    [event] = events_for_outcomes(FED, "ConfigMap", [outcome("c1", "created")], {}, "2026-01-01T00:00:00Z")
    assert (event["reason"], event["type"]) == ("CreateInCluster", "Normal")
    assert event["message"] == 'Create ConfigMap "ns/cm" in cluster "c1"'
    assert event["involvedObject"]["uid"] == "u1"
    assert event["metadata"]["annotations"]["kubefed.io/trace-id"] == "0af7651916cd43dd8448eb211c80319c"


def test_successes_aggregate_per_reason_and_unchanged_makes_none() -> None:
    outs = [
        outcome("c2", "created"),
        outcome("c1", "created"),
        outcome("c1", "unchanged"),
        outcome("c3", "updated"),
    ]
    events = events_for_outcomes(FED, "ConfigMap", outs, {}, "t")
    by_reason = {e["reason"]: e["message"] for e in events}
    assert by_reason == {
        "CreateInCluster": 'Create ConfigMap "ns/cm" in clusters "c1", "c2"',
        "UpdateInCluster": 'Update ConfigMap "ns/cm" in cluster "c3"',
    }


def test_failures_only_when_the_cluster_status_changes() -> None:
    outs = [
        outcome("c1", "failed", "CreationFailed", "admission webhook said no"),
        outcome("c2", "failed", "CreationFailed", "x"),
    ]
    old = {"clusters": [{"name": "c2", "status": "CreationFailed"}]}
    events = events_for_outcomes(FED, "ConfigMap", outs, old, "t")
    # the attempt is recorded first, as KubeFed does, for the cluster whose status changed only
    [attempt] = [e for e in events if e["type"] == "Normal"]
    assert (attempt["reason"], attempt["message"]) == (
        "CreateInCluster",
        'Create ConfigMap "ns/cm" in cluster "c1"',
    )
    [event] = [e for e in events if e["type"] == "Warning"]
    assert (event["reason"], event["type"], event["message"]) == (
        "CreateInClusterFailed",
        "Warning",
        "admission webhook said no",
    )


def test_existing_member_objects_give_kubefeds_create_path_events() -> None:
    """Found by the differential harness against KubeFed v0.10.0 (compare/_scenarios.py): KubeFed's create
    of an object the member already holds records CreateInCluster and a CreateInClusterFailed warning, then
    updates (adoption), stops (AlreadyExists) or fails the update (kubefed.io/managed=false)."""

    def reasons(o: ClusterOutcome, old: dict[str, object] | None = None) -> list[tuple[str, str]]:
        return sorted(
            (e["type"], e["reason"]) for e in events_for_outcomes(FED, "ConfigMap", [o], old or {}, "t")
        )

    assert reasons(outcome("c1", "updated", message="adopted")) == [
        ("Normal", "CreateInCluster"),
        ("Normal", "UpdateInCluster"),
        ("Warning", "CreateInClusterFailed"),
    ]
    assert reasons(outcome("c1", "skipped", "AlreadyExists")) == [
        ("Normal", "CreateInCluster"),
        ("Warning", "CreateInClusterFailed"),
    ]
    assert reasons(outcome("c1", "skipped", "ManagedLabelFalse")) == [
        ("Normal", "CreateInCluster"),
        ("Warning", "CreateInClusterFailed"),
        ("Warning", "UpdateInClusterFailed"),
    ]
    # a status that did not change records nothing again; a plain update is not an adoption
    assert (
        reasons(
            outcome("c1", "skipped", "ManagedLabelFalse"),
            {"clusters": [{"name": "c1", "status": "ManagedLabelFalse"}]},
        )
        == []
    )
    assert reasons(outcome("c1", "updated")) == [("Normal", "UpdateInCluster")]


def test_a_failed_write_records_the_attempt_first_as_kubefed_does() -> None:
    """Found by the differential harness: KubeFed records CreateInCluster ("Creating ...") before the create
    call, so a refused create shows the Normal event and the Warning."""
    events = events_for_outcomes(
        FED, "ConfigMap", [outcome("c1", "failed", "CreationFailed", "refused")], {}, "t"
    )
    assert sorted((e["type"], e["reason"]) for e in events) == [
        ("Normal", "CreateInCluster"),
        ("Warning", "CreateInClusterFailed"),
    ]


def test_a_delete_the_member_finishes_later_is_recorded_once() -> None:
    """Found by the differential harness (FederatedNamespace narrowed): KubeFed records DeleteInCluster when
    it deletes a namespace that then terminates for a while; ours reported it WaitingForRemoval silently."""
    waiting = outcome("c2", "deleting", "WaitingForRemoval")
    [event] = events_for_outcomes(FED, "ConfigMap", [waiting], {}, "t")
    assert (event["type"], event["reason"]) == ("Normal", "DeleteInCluster")
    assert (
        events_for_outcomes(
            FED, "ConfigMap", [waiting], {"clusters": [{"name": "c2", "status": "WaitingForRemoval"}]}, "t"
        )
        == []
    )


def test_deleting_the_federated_object_records_wait_for_removal_as_kubefed_does() -> None:
    """Found by the differential harness (deletion): while the federated object itself is being deleted,
    KubeFed records one WaitForRemovalInCluster naming the clusters it deleted from, no DeleteInCluster,
    and nothing for orphaning (its deletion path dispatches without an event recorder)."""
    deleting = {**FED, "metadata": {**FED["metadata"], "deletionTimestamp": "2026-11-30T10:00:00Z"}}
    outcomes = [
        outcome("c2", "deleted"),
        outcome("c1", "deleting", "WaitingForRemoval"),
        outcome("c3", "absent"),
    ]
    [event] = events_for_outcomes(deleting, "ConfigMap", outcomes, {}, "t")
    assert (event["type"], event["reason"]) == ("Normal", "WaitForRemovalInCluster")
    assert (
        event["message"] == "Waiting for managed resources to be removed from the following clusters: c1, c2"
    )
    # the re-check of a delete the member has not finished records nothing new
    again = {"clusters": [{"name": "c1", "status": "WaitingForRemoval"}]}
    assert events_for_outcomes(deleting, "ConfigMap", [outcomes[1]], again, "t") == []
    # orphaning (kubefed.io/orphan): the managed label removed, no event
    assert events_for_outcomes(deleting, "ConfigMap", [outcome("c1", "unlabelled")], {}, "t") == []
    # a failed delete still gives its Warning (KubeFed only logs it)
    [failed, *_] = [
        e
        for e in events_for_outcomes(
            deleting, "ConfigMap", [outcome("c1", "failed", "DeletionFailed", "boom")], {}, "t"
        )
        if e["type"] == "Warning"
    ]
    assert failed["reason"] == "DeleteInClusterFailed"


def test_a_superseded_wait_for_removal_is_still_recorded() -> None:
    """Found by the differential harness (deletion, an orphaning Deployment delete): the propagator's
    "deleting" report was superseded by its "absent" report before the status writer saw it, and no
    WaitForRemovalInCluster was recorded. An object found absent where the status still lists the cluster
    as OK was deleted by us: recorded; absent where it was never placed, or already recorded: not."""
    deleting = {**FED, "metadata": {**FED["metadata"], "deletionTimestamp": "2026-11-30T10:00:00Z"}}
    placed = {"clusters": [{"name": "c1"}, {"name": "c2", "status": "WaitingForRemoval"}]}
    [event] = events_for_outcomes(
        deleting,
        "ConfigMap",
        [outcome("c1", "absent"), outcome("c2", "absent"), outcome("c3", "absent")],
        placed,
        "t",
    )
    assert event["reason"] == "WaitForRemovalInCluster"
    assert event["message"].endswith("following clusters: c1")
