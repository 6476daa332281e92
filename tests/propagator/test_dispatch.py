"""The propagator's pure cores: the dispatch plan per (object, cluster) and KubeFed's mapping of a
failed member write to the reported outcome and the retry (the table of ``_outcomes``)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from services.propagator._outcomes import failure_outcome
from services.propagator._plan import plan
from shared.errors import (
    AlreadyExistsError,
    ApiUnavailableError,
    ConflictError,
    InvalidError,
    KubefedError,
    NotFoundError,
    UnauthorizedError,
)
from shared.messages import ObjectKey, PlacementDecision, TargetType
from shared.planning import (
    APPLY_OVERRIDES_FAILED,
    CLUSTER_NOT_READY,
    CREATION_FAILED,
    DELETION_FAILED,
    LABEL_REMOVAL_FAILED,
    MANAGED_LABEL,
    UPDATE_FAILED,
    WAITING_FOR_REMOVAL,
)

DECISION = PlacementDecision(
    key=ObjectKey(resource="federatedconfigmaps.types.kubefed.io", namespace="fed", name="web"),
    target=TargetType(group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True),
    template={"data": {"k": "v"}},
    clusters=["c1", "c2"],
    overrides={"c2": [{"path": "/data/k", "value": "two"}]},
)


def _live(data: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "web", "namespace": "fed", "labels": {MANAGED_LABEL: "true"}, **meta},
        "data": data,
    }


def test_placed_cluster_without_object_is_created_with_its_overrides() -> None:
    action = plan(DECISION, "c2", None, cluster_ready=True)
    assert action.kind == "create"
    assert action.desired is not None
    assert action.desired["data"] == {"k": "two"}
    assert action.desired["metadata"]["labels"][MANAGED_LABEL] == "true"


def test_equal_object_is_unchanged_and_drift_is_updated() -> None:
    assert plan(DECISION, "c1", _live({"k": "v"}), cluster_ready=True).op == "unchanged"
    drifted = plan(DECISION, "c1", _live({"k": "changed"}), cluster_ready=True)
    assert drifted.kind == "update" and drifted.desired is not None and drifted.desired["data"] == {"k": "v"}


def test_not_ready_cluster_is_reported_not_touched() -> None:
    action = plan(DECISION, "c1", None, cluster_ready=False)
    assert (action.kind, action.status, action.op) == ("report", CLUSTER_NOT_READY, "skipped")
    unplaced = plan(DECISION, "c3", _live({}), cluster_ready=False)
    assert (unplaced.kind, unplaced.status) == ("report", "")


def test_cluster_error_of_the_decision_is_reported() -> None:
    d = msgspec.structs.replace(DECISION, cluster_errors={"c1": f"{APPLY_OVERRIDES_FAILED}: bad path"})
    action = plan(d, "c1", None, cluster_ready=True)
    assert (action.kind, action.status, action.op, action.message) == (
        "report",
        APPLY_OVERRIDES_FAILED,
        "failed",
        "bad path",
    )


def test_unplaced_cluster_deletes_unlabels_or_waits() -> None:
    assert plan(DECISION, "c3", None, cluster_ready=True).op == "absent"
    assert plan(DECISION, "c3", _live({}), cluster_ready=True).kind == "delete"
    going = plan(DECISION, "c3", _live({}, deletionTimestamp="2026-01-01T00:00:00Z"), cluster_ready=True)
    assert (going.status, going.op) == (WAITING_FOR_REMOVAL, "deleting")
    orphaning = msgspec.structs.replace(DECISION, deleting=True, orphan=True)
    assert plan(orphaning, "c1", _live({}), cluster_ready=True).kind == "unlabel"
    assert plan(DECISION, "c3", _live({}), cluster_ready=True, host_namespace=True).kind == "unlabel"


def test_deleting_decision_removes_from_every_cluster() -> None:
    deleting = msgspec.structs.replace(DECISION, deleting=True)
    assert plan(deleting, "c1", _live({"k": "v"}), cluster_ready=True).kind == "delete"
    assert plan(deleting, "c1", None, cluster_ready=False).status == CLUSTER_NOT_READY


@pytest.mark.parametrize(
    ("action", "error", "status", "op", "retry"),
    [
        ("update", ConflictError("stale"), "", "pending", 0.05),
        ("create", InvalidError("bad"), CREATION_FAILED, "failed", None),
        ("update", InvalidError("immutable"), UPDATE_FAILED, "failed", None),
        ("update", NotFoundError("gone"), UPDATE_FAILED, "failed", 0.1),
        ("create", NotFoundError("no such type"), CREATION_FAILED, "failed", 2.0),
        ("delete", ApiUnavailableError("down", delay=3.0), DELETION_FAILED, "failed", 3.0),
        ("create", ApiUnavailableError("429", delay=0.01), CREATION_FAILED, "failed", 0.5),
        ("unlabel", UnauthorizedError("no"), LABEL_REMOVAL_FAILED, "failed", 5.0),
        ("update", AlreadyExistsError("odd"), UPDATE_FAILED, "failed", 5.0),
    ],
)
def test_failure_table(action: str, error: KubefedError, status: str, op: str, retry: float | None) -> None:
    outcome = failure_outcome(action, error)
    assert (outcome.status, outcome.op, outcome.retry) == (status, op, retry)
    assert outcome.drop_cached == (action == "update" and isinstance(error, NotFoundError))
    assert outcome.reread == isinstance(error, ConflictError)  # a 409: GET the object before the retry
    if op == "failed":
        assert outcome.message == str(error)


def test_kept_decisions_share_cluster_names_and_keep_everything_else() -> None:
    from services.propagator._plan import kept_decision
    from shared.messages import decode, encode

    raw = encode(msgspec.structs.replace(DECISION, clusters=[f"member-{i}" for i in range(100)]))
    first, second = decode(raw), decode(raw)  # two messages: two copies of every name
    assert isinstance(first, PlacementDecision) and isinstance(second, PlacementDecision)
    assert first.clusters[7] is not second.clusters[7]
    kept_1, kept_2 = kept_decision(first, {"traceparent": "x"}), kept_decision(second, {})
    assert kept_1.clusters[7] is kept_2.clusters[7]
    assert kept_1.trace == {"traceparent": "x"}
    assert msgspec.structs.replace(kept_1, trace={}) == first
