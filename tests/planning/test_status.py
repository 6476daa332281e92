"""Propagation status (``shared.planning._status``), contract §1.3, §2.5.7, §2.6.

Covers: KubeFed status strings; aggregate reason precedence (given reason, CheckClusters
for non-OK clusters or missing remoteStatus with raw status on, NamespaceNotFederated,
success); status.clusters sorted with ``status`` omitted when OK and remoteStatus only when
enabled; next_status condition rules (new condition, transition times, lastUpdateTime on
clusters change or pushed update, nothing written when unchanged, observedGeneration
bump, other conditions preserved); timed-out status resolution; recoverable statuses.
"""

from typing import Any

import pytest

from shared.planning import (
    CHECK_CLUSTERS,
    CLUSTER_NOT_READY,
    COMPUTE_PLACEMENT_FAILED,
    CREATION_FAILED,
    MANAGED_LABEL_FALSE,
    NAMESPACE_NOT_FEDERATED,
    WAITING_FOR_REMOVAL,
    aggregate_propagation_status,
    is_recoverable,
    next_status,
    resolve_timed_out,
)


def test_status_strings() -> None:
    assert (CLUSTER_NOT_READY, CREATION_FAILED, MANAGED_LABEL_FALSE, WAITING_FOR_REMOVAL) == (
        "ClusterNotReady",
        "CreationFailed",
        "ManagedLabelFalse",
        "WaitingForRemoval",
    )


def _agg(
    clusters: dict[str, Any],
    reason: str = "",
    nnf: bool = False,
    raw: bool = False,
    remote: dict[str, Any] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    return aggregate_propagation_status(
        clusters=clusters,
        aggregate_reason=reason,
        namespace_not_federated=nnf,
        raw_status_enabled=raw,
        remote_status=remote or {},
    )


@pytest.mark.parametrize(
    ("args", "expected_reason"),
    [
        (({"a": "", "b": ""},), ""),
        (({"a": "", "b": "CreationFailed"},), CHECK_CLUSTERS),
        (({"a": "CreationFailed"}, COMPUTE_PLACEMENT_FAILED), COMPUTE_PLACEMENT_FAILED),
        (({}, "", True), NAMESPACE_NOT_FEDERATED),
        (({"a": "WaitingForRemoval"}, "", True), CHECK_CLUSTERS),
        (({"a": ""}, "", False, True, {"a": {"replicas": 1}}), ""),
        (({"a": "", "b": ""}, "", False, True, {"a": {"replicas": 1}}), CHECK_CLUSTERS),
        (({"a": "", "b": ""}, "", False, False, {"a": {"replicas": 1}}), ""),
    ],
)
def test_aggregate_reason(args: tuple[Any, ...], expected_reason: str) -> None:
    assert _agg(*args)[0] == expected_reason


def test_cluster_entries_sorted_and_shaped() -> None:
    _, entries = _agg(
        {"z": "", "a": "UpdateFailed", "m": ""}, raw=True, remote={"z": {"ready": 1}, "a": None}
    )
    assert entries == [
        {"name": "a", "status": "UpdateFailed"},
        {"name": "m"},
        {"name": "z", "remoteStatus": {"ready": 1}},
    ]
    _, no_raw = _agg({"z": ""}, raw=False, remote={"z": {"ready": 1}})
    assert no_raw == [{"name": "z"}]


T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"


def test_first_status() -> None:
    status = next_status(None, generation=1, reason="", clusters=[{"name": "a"}], now=T0, pushed_update=True)
    assert status == {
        "observedGeneration": 1,
        "conditions": [
            {"type": "Propagation", "status": "True", "lastTransitionTime": T0, "lastUpdateTime": T0}
        ],
        "clusters": [{"name": "a"}],
    }


def test_unchanged_status_is_not_written() -> None:
    first = next_status(None, generation=1, reason="", clusters=[{"name": "a"}], now=T0, pushed_update=True)
    assert (
        next_status(first, generation=1, reason="", clusters=[{"name": "a"}], now=T1, pushed_update=False)
        is None
    )


def test_pushed_update_moves_only_last_update_time() -> None:
    first = next_status(None, generation=1, reason="", clusters=[{"name": "a"}], now=T0, pushed_update=False)
    second = next_status(first, generation=1, reason="", clusters=[{"name": "a"}], now=T1, pushed_update=True)
    assert second is not None
    (cond,) = second["conditions"]
    assert cond["lastTransitionTime"] == T0
    assert cond["lastUpdateTime"] == T1


def test_clusters_change_moves_last_update_time() -> None:
    first = next_status(None, generation=1, reason="", clusters=[{"name": "a"}], now=T0, pushed_update=False)
    second = next_status(
        first, generation=1, reason="", clusters=[{"name": "a"}, {"name": "b"}], now=T1, pushed_update=False
    )
    assert second is not None
    assert second["clusters"] == [{"name": "a"}, {"name": "b"}]
    assert second["conditions"][0]["lastTransitionTime"] == T0
    assert second["conditions"][0]["lastUpdateTime"] == T1


def test_reason_transition() -> None:
    first = next_status(None, generation=1, reason="", clusters=[], now=T0, pushed_update=False)
    failing = next_status(
        first,
        generation=1,
        reason=CHECK_CLUSTERS,
        clusters=[{"name": "a", "status": "X"}],
        now=T1,
        pushed_update=False,
    )
    assert failing is not None
    cond = failing["conditions"][0]
    assert (cond["status"], cond["reason"], cond["lastTransitionTime"], cond["lastUpdateTime"]) == (
        "False",
        CHECK_CLUSTERS,
        T1,
        T1,
    )
    other_reason = next_status(
        failing,
        generation=1,
        reason=NAMESPACE_NOT_FEDERATED,
        clusters=[{"name": "a", "status": "X"}],
        now=T2,
        pushed_update=False,
    )
    assert other_reason is not None
    assert other_reason["conditions"][0]["lastTransitionTime"] == T2
    back = next_status(
        other_reason,
        generation=1,
        reason="",
        clusters=[{"name": "a", "status": "X"}],
        now=T2,
        pushed_update=False,
    )
    assert back is not None
    assert "reason" not in back["conditions"][0]
    assert back["conditions"][0]["status"] == "True"


def test_generation_bump_alone_writes_without_touching_condition() -> None:
    first = next_status(None, generation=1, reason="", clusters=[], now=T0, pushed_update=False)
    second = next_status(first, generation=2, reason="", clusters=[], now=T1, pushed_update=False)
    assert second is not None
    assert second["observedGeneration"] == 2
    assert second["conditions"] == first["conditions"]  # type: ignore[index]


def test_other_conditions_preserved() -> None:
    old = {"observedGeneration": 1, "conditions": [{"type": "Other", "status": "True"}], "clusters": []}
    new = next_status(old, generation=1, reason="", clusters=[], now=T0, pushed_update=False)
    assert new is not None
    assert [c["type"] for c in new["conditions"]] == ["Other", "Propagation"]


@pytest.mark.parametrize(
    ("status", "finished", "expected"),
    [
        ("CreationTimedOut", True, ""),
        ("UpdateTimedOut", True, ""),
        ("DeletionTimedOut", True, "WaitingForRemoval"),
        ("LabelRemovalTimedOut", True, None),
        ("CreationTimedOut", False, "CreationTimedOut"),
        ("CreationFailed", True, "CreationFailed"),
    ],
)
def test_resolve_timed_out(status: str, finished: bool, expected: str | None) -> None:
    assert resolve_timed_out(status, operation_finished=finished) == expected


def test_recoverable() -> None:
    assert is_recoverable("CreationFailed")
    assert is_recoverable("ClientRetrievalFailed")
    assert not is_recoverable("ClusterNotReady")
    assert not is_recoverable("AlreadyExists")
    assert not is_recoverable("")
