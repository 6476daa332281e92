"""KubeFed sync semantics end to end (simulated clusters over HTTPS, real nats-server, services in-process).

Covers: adoption of pre-existing member objects and ``adoptResources: Disabled`` (AlreadyExists);
``kubefed.io/managed=false`` objects left untouched (ManagedLabelFalse); orphaning on deletion;
placement by cluster selector and cluster labels changing under it; namespace placement narrowing;
remote status collection; bad input — forbidden override path, unparsable selector, unknown clusters
in placement, a template the member rejects (422) — each visible as status while other objects flow;
a cluster not Ready since the propagator started: ClusterNotReady at once, the object when it returns.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.support.plane import (
    ControlPlane,
    cluster_status,
    eventually,
    fed_configmap,
    propagation_reason,
    ready,
)

pytestmark = pytest.mark.timeout(120)

NS_FED = "kube-federation-system"


async def apply(cp: ControlPlane, *objs: dict, context: str = "host") -> None:
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(list(objs)), context=context)


def cm(name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "fed", "labels": labels or {}},
        "data": data,
    }


async def test_adoption_managed_false_and_adopt_disabled(running: ControlPlane) -> None:
    cp = running
    await apply(cp, cm("adopt-me", {"old": "1"}), context="cluster1")
    await apply(cp, cm("hands-off", {"mine": "1"}, {"kubefed.io/managed": "false"}), context="cluster1")
    await apply(
        cp, fed_configmap("adopt-me", data={"new": "2"}), fed_configmap("hands-off", data={"new": "2"})
    )
    await eventually(
        lambda: (
            (cp.member_object("cluster1", "", "configmaps", "fed", "adopt-me") or {}).get("data")
            == {"new": "2"}
        )
    )
    adopted = cp.member_object("cluster1", "", "configmaps", "fed", "adopt-me")
    assert adopted["metadata"]["labels"]["kubefed.io/managed"] == "true"
    await eventually(
        lambda: (
            cluster_status(cp, "federatedconfigmaps", "fed", "hands-off").get("cluster1")
            == "ManagedLabelFalse"
        )
    )
    assert cp.member_object("cluster1", "", "configmaps", "fed", "hands-off")["data"] == {"mine": "1"}
    assert cp.member_object("cluster2", "", "configmaps", "fed", "hands-off")["data"] == {"new": "2"}
    assert propagation_reason(cp, "federatedconfigmaps", "fed", "hands-off") == "CheckClusters"

    # adoptResources: Disabled takes effect without restarting anything
    await cp.akubectl(
        "patch",
        "kubefedconfig",
        "kubefed",
        "-n",
        NS_FED,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"syncController": {"adoptResources": "Disabled"}}}),
    )
    await apply(cp, cm("preexisting", {"theirs": "1"}), context="cluster2")
    await eventually(
        lambda: (
            cp.fleet["host"].get_object("core.kubefed.io", "kubefedconfigs", NS_FED, "kubefed")["spec"][
                "syncController"
            ]["adoptResources"]
            == "Disabled"
        )
    )
    await apply(cp, fed_configmap("preexisting", data={"ours": "1"}))
    await eventually(
        lambda: (
            cluster_status(cp, "federatedconfigmaps", "fed", "preexisting")
            == {"cluster1": "", "cluster2": "AlreadyExists"}
        )
    )
    assert cp.member_object("cluster2", "", "configmaps", "fed", "preexisting")["data"] == {"theirs": "1"}
    assert cp.member_object("cluster1", "", "configmaps", "fed", "preexisting")["data"] == {"ours": "1"}


async def test_orphaning_keeps_member_objects_unlabelled(running: ControlPlane) -> None:
    cp = running
    await apply(cp, fed_configmap("orphan", metadata={"annotations": {"kubefed.io/orphan": "true"}}))
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "orphan"))
    await cp.akubectl("delete", "federatedconfigmap", "orphan", "-n", "fed", "--wait=false")
    await eventually(
        lambda: cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", "orphan") is None
    )
    await eventually(
        lambda: (
            "kubefed.io/managed"
            not in (
                cp.member_object("cluster2", "", "configmaps", "fed", "orphan")["metadata"].get("labels")
                or {}
            )
        )
    )
    assert cp.member_object("cluster1", "", "configmaps", "fed", "orphan")["data"] == {"k": "v"}


async def test_selector_placement_follows_cluster_labels(running: ControlPlane) -> None:
    cp = running
    await apply(
        cp, fed_configmap("eu-only", placement={"clusterSelector": {"matchLabels": {"region": "eu"}}})
    )
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", "fed", "eu-only"))
    assert cp.member_object("cluster2", "", "configmaps", "fed", "eu-only") is None
    await cp.akubectl("label", "kubefedcluster", "cluster2", "-n", NS_FED, "region=eu", "--overwrite")
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "eu-only"))
    await cp.akubectl("label", "kubefedcluster", "cluster1", "-n", NS_FED, "region=us", "--overwrite")
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", "fed", "eu-only") is None)


async def test_namespace_placement_narrows(running: ControlPlane) -> None:
    cp = running
    await apply(cp, fed_configmap("narrow"))
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "narrow"))
    await cp.akubectl(
        "patch",
        "federatednamespace",
        "fed",
        "-n",
        "fed",
        "--type=merge",
        "-p",
        json.dumps({"spec": {"placement": {"clusters": [{"name": "cluster1"}], "clusterSelector": None}}}),
    )
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "narrow") is None)
    assert cp.member_object("cluster1", "", "configmaps", "fed", "narrow") is not None
    await eventually(lambda: cluster_status(cp, "federatedconfigmaps", "fed", "narrow") == {"cluster1": ""})


async def test_remote_status_collection(running: ControlPlane) -> None:
    cp = running
    gates = cp.host_object("core.kubefed.io", "kubefedconfigs", NS_FED, "kubefed")["spec"]["featureGates"]
    index = next(i for i, g in enumerate(gates) if g["name"] == "RawResourceStatusCollection")
    await cp.akubectl(
        "patch",
        "kubefedconfig",
        "kubefed",
        "-n",
        NS_FED,
        "--type=json",
        "-p",
        json.dumps(
            [{"op": "replace", "path": f"/spec/featureGates/{index}/configuration", "value": "Enabled"}]
        ),
    )
    await cp.akubectl(
        "patch",
        "federatedtypeconfig",
        "deployments.apps",
        "-n",
        NS_FED,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"statusCollection": "Enabled"}}),
    )
    deployment = {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedDeployment",
        "metadata": {"name": "web", "namespace": "fed"},
        "spec": {
            "placement": {"clusters": [{"name": "cluster1"}]},
            "template": {
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
                    },
                }
            },
        },
    }
    await apply(cp, deployment)

    def remote_ready() -> bool:
        obj = cp.host_object("types.kubefed.io", "federateddeployments", "fed", "web") or {}
        entries = (obj.get("status") or {}).get("clusters") or []
        return any((e.get("remoteStatus") or {}).get("readyReplicas") == 2 for e in entries)

    await eventually(remote_ready, timeout=30)


async def test_bad_input_is_reported_and_others_keep_flowing(running: ControlPlane) -> None:
    cp = running
    await apply(
        cp,
        fed_configmap(
            "bad-override",
            overrides=[
                {"clusterName": "cluster1", "clusterOverrides": [{"path": "/metadata/name", "value": "x"}]}
            ],
        ),
        fed_configmap(
            "bad-selector",
            placement={
                "clusterSelector": {
                    "matchExpressions": [{"key": "a", "operator": "Sometimes", "values": ["x"]}]
                }
            },
        ),
        fed_configmap("unknown-cluster", placement={"clusters": [{"name": "cluster1"}, {"name": "nowhere"}]}),
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedDeployment",
            "metadata": {"name": "rejected", "namespace": "fed"},
            "spec": {
                "placement": {"clusters": [{"name": "cluster1"}]},
                "template": {
                    "spec": {
                        "selector": {"matchLabels": {"a": "b"}},
                        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": []}},
                    }
                },
            },
        },
        fed_configmap("fine"),
    )
    await eventually(
        lambda: (
            cluster_status(cp, "federatedconfigmaps", "fed", "bad-override").get("cluster1")
            == "ApplyOverridesFailed"
        )
    )
    assert cp.member_object("cluster1", "", "configmaps", "fed", "bad-override") is None
    await eventually(
        lambda: (
            propagation_reason(cp, "federatedconfigmaps", "fed", "bad-selector") == "ComputePlacementFailed"
        )
    )
    await eventually(
        lambda: cluster_status(cp, "federatedconfigmaps", "fed", "unknown-cluster") == {"cluster1": ""}
    )
    await eventually(
        lambda: (
            cluster_status(cp, "federateddeployments", "fed", "rejected").get("cluster1") == "CreationFailed"
        )
    )
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "fine"))
    await eventually(
        lambda: any(
            e["reason"] == "CreateInClusterFailed" and e["involvedObject"]["name"] == "rejected"
            for e in cp.fleet["host"].list_objects("", "events", "fed")
        )
    )


async def test_object_placed_on_a_cluster_not_ready_since_start_reports_cluster_not_ready(
    control_plane: ControlPlane,
) -> None:
    """Issue #11 (2): a member that was never reachable gets ClusterNotReady at once, and the object when it
    returns."""
    cp = control_plane
    await cp.akubectl(
        "patch",
        "kubefedconfig",
        "kubefed",
        "-n",
        NS_FED,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"clusterHealthCheck": {"period": "2s", "failureThreshold": 2}}}),
    )
    await cp.join("cluster1")
    await cp.join("cluster2")
    await cp.fleet["cluster2"].go_offline()  # its apiEndpoint is now a closed loopback port
    for service in ("watcher", "scheduler", "propagator"):
        cp.start(service, service)
    await eventually(lambda: ready(cp, "cluster1"))
    await eventually(
        lambda: (
            (cp.host_object("core.kubefed.io", "kubefedclusters", NS_FED, "cluster2") or {})
            .get("status", {})
            .get("conditions")
        )
    )
    assert not ready(cp, "cluster2")
    await apply(cp, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fed"}})
    await apply(
        cp,
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedNamespace",
            "metadata": {"name": "fed", "namespace": "fed"},
            "spec": {"placement": {"clusterSelector": {}}},
        },
        fed_configmap("everywhere"),
    )
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", "fed", "everywhere"))
    await eventually(
        lambda: (
            cluster_status(cp, "federatedconfigmaps", "fed", "everywhere")
            == {"cluster1": "", "cluster2": "ClusterNotReady"}
        )
    )
    assert propagation_reason(cp, "federatedconfigmaps", "fed", "everywhere") == "CheckClusters"
    await eventually(
        lambda: any(
            e["reason"] == "ClusterNotReady"
            and e["type"] == "Warning"
            and e["involvedObject"]["name"] == "everywhere"
            for e in cp.fleet["host"].list_objects("", "events", "fed")
        )
    )

    await cp.fleet["cluster2"].go_online()
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "everywhere"), timeout=30)
    await eventually(
        lambda: (
            cluster_status(cp, "federatedconfigmaps", "fed", "everywhere") == {"cluster1": "", "cluster2": ""}
        )
    )
    await eventually(lambda: propagation_reason(cp, "federatedconfigmaps", "fed", "everywhere") == "")
