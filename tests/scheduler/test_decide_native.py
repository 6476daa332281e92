"""The pure decision for a native object under a Karmada policy (services/scheduler/_decide_native.py),
the claim labels it records (_native.py), the status breakdown (_native_status.py) and the parsed policy
set (shared/policy/_policyset.py).

Covers: the template leaves out status, server-set metadata and claim labels (a Service its cluster
IPs); Duplicated placement keeps a not-Ready cluster, Divided divides over Ready ones with the previous
share counted as available; overriders become JSON-patch ops that the propagator's render reproduces;
an overrider that cannot apply is a per-cluster error; no policy or a deleted object is a removal of the
previous clusters; a failed division keeps the previous placement and says why; claim label patches;
invalid policies are left out and named; the breakdown keeps unreported clusters and drops unplaced ones.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.propagator._plan import render
from services.scheduler._decide_native import decide_native, native_template, overrider_ops
from services.scheduler._native import claim_patch
from services.scheduler._native_status import merge_breakdown
from shared.messages import ClusterOutcome, ObjectKey, PlacementDecision, TargetType
from shared.policy import (
    CLAIM_LABELS,
    CLUSTER_PROPAGATION_POLICY,
    PROPAGATION_POLICY,
    PolicyCluster,
    PolicyRef,
    policy_set,
)

KEY = ObjectKey(resource="deployments.apps", namespace="default", name="nginx")
TARGET = TargetType(group="apps", version="v1", kind="Deployment", plural="deployments", namespaced=True)
CLUSTERS = [
    PolicyCluster("member1", {"env": "prod"}, region="eu"),
    PolicyCluster("member2", {"env": "prod"}, region="us"),
    PolicyCluster("member3", {}, region="us", ready=False),
]


def deployment(replicas: int = 6, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "nginx",
            "namespace": "default",
            "uid": "u1",
            "resourceVersion": "7",
            "generation": 3,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "labels": {
                "app": "nginx",
                CLAIM_LABELS["name"]: "p",
                CLAIM_LABELS["namespace"]: "default",
                **labels,
            },
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}},
        },
        "status": {"replicas": 6},
    }


def policies(*docs: dict[str, Any]) -> Any:
    return policy_set(docs)


def pp(name: str = "p", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}],
            **spec,
        },
    }


def decide(
    obj: dict[str, Any], policy_doc: dict[str, Any] | None, *, overrides: tuple[Any, ...] = (), **kw: Any
):  # type: ignore[no-untyped-def]
    parsed = policies(policy_doc).policies[0] if policy_doc else None
    return decide_native(
        obj=obj,
        key=KEY,
        target=TARGET,
        policy=parsed,
        overrides=overrides,
        clusters=kw.pop("clusters", CLUSTERS),
        available=kw.pop("available", None),
        previous=kw.pop("previous", None),
        collect_status=True,
        trace={},
        host_uid="host",
    )


def test_template_leaves_out_what_the_host_owns() -> None:
    annotated = deployment()
    annotated["metadata"]["annotations"] = {"kubefed.io/member-status": "{}"}
    t = native_template(annotated)
    assert "status" not in t
    assert t["metadata"] == {"name": "nginx", "namespace": "default", "labels": {"app": "nginx"}}
    svc = {
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": []},
    }
    assert native_template(svc)["spec"] == {"ports": []}


def test_duplicated_keeps_a_not_ready_cluster() -> None:
    d, warning = decide(deployment(), pp())
    assert d.adopt is False  # conflictResolution Abort (the default): pre-existing member objects are left
    assert decide(deployment(), pp(conflictResolution="Overwrite"))[0].adopt is True
    assert d.clusters == ["member1", "member2", "member3"] and not d.overrides and warning == ""
    d, _ = decide(
        deployment(),
        pp(
            placement={
                "clusterAffinity": {
                    "fieldSelector": {
                        "matchExpressions": [{"key": "region", "operator": "In", "values": ["us"]}]
                    }
                }
            }
        ),
    )
    assert d.clusters == ["member2", "member3"]


def test_divided_over_ready_clusters_with_static_weights() -> None:
    divided = {
        "replicaScheduling": {
            "replicaSchedulingType": "Divided",
            "weightPreference": {
                "staticWeightList": [
                    {"targetCluster": {"clusterNames": ["member1"]}, "weight": 2},
                    {"targetCluster": {"labelSelector": {"matchLabels": {"env": "prod"}}}, "weight": 1},
                ]
            },
        }
    }
    d, _ = decide(deployment(6), pp(placement=divided))
    assert d.clusters == ["member1", "member2"]
    assert d.overrides == {
        "member1": [{"op": "add", "path": "/spec/replicas", "value": 4}],
        "member2": [{"op": "add", "path": "/spec/replicas", "value": 2}],
    }


def test_dynamic_weights_count_the_previous_share_and_a_failure_keeps_it() -> None:
    dynamic = {
        "replicaScheduling": {
            "replicaSchedulingType": "Divided",
            "weightPreference": {"dynamicWeight": "AvailableReplicas"},
        }
    }
    first, _ = decide(deployment(8), pp(placement=dynamic), available={"member1": 8, "member2": 4})
    assert {c: ops[0]["value"] for c, ops in first.overrides.items()} == {"member1": 6, "member2": 2}
    again, warning = decide(
        deployment(8), pp(placement=dynamic), available={"member1": 2, "member2": 2}, previous=first
    )
    assert warning == "" and again.overrides == first.overrides
    # not the same object (new uid): its previous share is not counted; too few replicas fit
    other = deployment(8)
    other["metadata"]["uid"] = "u2"
    failed, warning = decide(
        other, pp(placement=dynamic), available={"member1": 2, "member2": 2}, previous=first
    )
    assert warning.startswith("ReplicaDivisionFailed: 8 replicas wanted, 4 available")
    assert failed.aggregate_reason == "ReplicaDivisionFailed" and failed.clusters == []


def test_overriders_become_ops_the_propagator_renders() -> None:
    override = {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "OverridePolicy",
        "metadata": {"name": "o", "namespace": "default"},
        "spec": {
            "overrideRules": [
                {
                    "targetCluster": {"clusterNames": ["member2"]},
                    "overriders": {
                        "imageOverrider": [
                            {"component": "Registry", "operator": "replace", "value": "registry.eu"}
                        ],
                        "labelsOverrider": [{"operator": "add", "value": {"tier": "edge"}}],
                        "annotationsOverrider": [{"operator": "add", "value": {"a/b": "c"}}],
                    },
                }
            ]
        },
    }
    d, _ = decide(deployment(), pp(), overrides=policies(override).overrides)
    assert set(d.overrides) == {"member2"}
    rendered = render(d, "member2", None)
    assert rendered["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.eu/nginx:1.27"
    assert rendered["metadata"]["labels"]["tier"] == "edge"
    assert rendered["metadata"]["annotations"] == {"a/b": "c"}
    assert render(d, "member1", None)["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "c"}} in d.overrides["member2"]


def test_an_overrider_that_cannot_apply_is_a_cluster_error() -> None:
    override = {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "ClusterOverridePolicy",
        "metadata": {"name": "bad"},
        "spec": {
            "overrideRules": [
                {
                    "overriders": {
                        "plaintext": [{"path": "/spec/nothing/here", "operator": "replace", "value": 1}]
                    }
                }
            ]
        },
    }
    d, _ = decide(deployment(), pp(), overrides=policies(override).overrides)
    assert set(d.cluster_errors) == {"member1", "member2", "member3"}
    assert d.cluster_errors["member1"].startswith("ApplyOverridesFailed: ClusterOverridePolicy bad:")


def test_no_policy_or_deletion_removes_from_the_previous_clusters() -> None:
    placed, _ = decide(deployment(), pp())
    released, _ = decide(deployment(), None, previous=placed)
    assert (
        released.deleting and released.clusters == placed.clusters and released.aggregate_reason == "NoPolicy"
    )
    gone = deployment()
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:01Z"
    deleted, _ = decide(gone, pp(), previous=placed)
    assert deleted.deleting and deleted.clusters == placed.clusters and deleted.aggregate_reason == ""


@pytest.mark.parametrize(
    ("base", "rendered", "ops"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1}}, [{"op": "remove", "path": "/a/c"}]),
        ({"a": [1]}, {"a": [2]}, [{"op": "add", "path": "/a", "value": [2]}]),
        ({}, {"x/y": {"z": 1}}, [{"op": "add", "path": "/x~1y", "value": {"z": 1}}]),
    ],
)
def test_overrider_ops(base: Any, rendered: Any, ops: list[dict[str, Any]]) -> None:
    assert overrider_ops(base, rendered) == ops


def test_claim_patch() -> None:
    pp_ref = PolicyRef(PROPAGATION_POLICY, "p", "default")
    cpp_ref = PolicyRef(CLUSTER_PROPAGATION_POLICY, "c")
    assert claim_patch({}, pp_ref) == {CLAIM_LABELS["namespace"]: "default", CLAIM_LABELS["name"]: "p"}
    claimed = {CLAIM_LABELS["namespace"]: "default", CLAIM_LABELS["name"]: "p"}
    assert claim_patch(claimed, pp_ref) is None
    assert claim_patch(claimed, cpp_ref) == {
        CLAIM_LABELS["namespace"]: None,
        CLAIM_LABELS["name"]: None,
        CLAIM_LABELS["cluster"]: "c",
    }
    assert claim_patch(claimed, None) == {CLAIM_LABELS["namespace"]: None, CLAIM_LABELS["name"]: None}


def test_invalid_policies_are_left_out_and_named() -> None:
    bad = pp(
        "bad",
        placement={
            "clusterAffinity": {"labelSelector": {"matchExpressions": [{"key": "k", "operator": "In"}]}}
        },
    )
    parsed = policy_set(
        [
            pp("good"),
            bad,
            {
                **pp("deleting"),
                "metadata": {"name": "deleting", "namespace": "default", "deletionTimestamp": "x"},
            },
        ]
    )
    assert [p.ref.name for p in parsed.policies] == ["good"]
    assert list(parsed.invalid) == [("PropagationPolicy", "default", "bad")]
    assert (
        "matchExpressions[0].values: Required value"
        in parsed.invalid[("PropagationPolicy", "default", "bad")]
    )
    assert parsed.selected_types() == {("apps/v1", "Deployment")}


def _outcome(cluster: str, replicas: int, status: str = "") -> ClusterOutcome:
    return ClusterOutcome(
        key=KEY, cluster=cluster, status=status, op="unchanged",
        remote_status={"replicas": replicas, "readyReplicas": replicas, "observedGeneration": 1},
    )  # fmt: skip


def test_breakdown_keeps_unreported_and_drops_unplaced_clusters() -> None:
    decision = PlacementDecision(key=KEY, target=TARGET, clusters=["member1", "member2"])
    recorded = {"member2": {"replicas": 2, "readyReplicas": 1, "propagation": ""}, "member3": {"replicas": 5}}
    status, breakdown = merge_breakdown(
        "Deployment", recorded, {"member1": _outcome("member1", 4)}, decision, 3
    )
    assert status is not None
    assert status["replicas"] == 6 and status["readyReplicas"] == 5
    assert status["observedGeneration"] == 3
    assert set(breakdown) == {"member1", "member2"}
    assert breakdown["member1"]["readyReplicas"] == 4 and breakdown["member1"]["propagation"] == ""
    # a placed cluster that never reported holds back observedGeneration
    status, _ = merge_breakdown("Deployment", {}, {"member1": _outcome("member1", 4)}, decision, 3)
    assert status is not None and "observedGeneration" not in status and status["replicas"] == 4


def test_propagate_deps_lists_dependencies_and_a_dependency_follows_its_workloads() -> None:
    workload = deployment()
    workload["spec"]["template"]["spec"]["volumes"] = [{"name": "c", "configMap": {"name": "cfg"}}]
    workload["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "creds"}}]
    d, _ = decide(workload, pp(propagateDeps=True))
    assert d.dependencies == [
        ObjectKey(resource="configmaps", namespace="default", name="cfg"),
        ObjectKey(resource="secrets", namespace="default", name="creds"),
    ]
    assert decide(workload, pp())[0].dependencies == []
    cfg = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "default", "uid": "c"},
    }
    target = TargetType(group="", version="v1", kind="ConfigMap", plural="configmaps", namespaced=True)
    key = ObjectKey(resource="configmaps", namespace="default", name="cfg")
    common = {"obj": cfg, "key": key, "target": target, "overrides": (), "clusters": CLUSTERS}
    placed, _ = decide_native(
        **common, policy=None, available=None, previous=None, collect_status=False, trace={},
        dependency_clusters=frozenset({"member2", "gone"}),
    )  # fmt: skip
    assert placed.clusters == ["member2"] and not placed.deleting
    removed, _ = decide_native(
        **common, policy=None, available=None, previous=placed, collect_status=False, trace={}
    )
    assert removed.deleting and removed.clusters == ["member2"]
