"""End to end over simulated clusters and a real nats-server: watcher → scheduler → propagators.

Covers: KubeFed's sample FederatedNamespace + FederatedConfigMap propagate with placement and
overrides, the member objects carry the managed label, the host status reports Propagation=True with
every cluster; KubeFedCluster health reaches the host; a placement change removes the object from the
cluster that left; drift in a member is corrected; deleting the federated object removes the member
objects and the finalizer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.pipeline.conftest import ControlPlane, eventually

pytestmark = pytest.mark.timeout(120)

SAMPLES = Path(__file__).resolve().parent / "samples"
NS = "test-namespace"


def _ready(cp: ControlPlane, cluster: str) -> bool:
    kfc = cp.host_object("core.kubefed.io", "kubefedclusters", "kube-federation-system", cluster) or {}
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in (kfc.get("status") or {}).get("conditions") or [])


def _propagated(cp: ControlPlane, plural: str, ns: str, name: str, n: int) -> bool:
    obj = cp.host_object("types.kubefed.io", plural, ns, name) or {}
    status = obj.get("status") or {}
    cond = next((c for c in status.get("conditions") or [] if c.get("type") == "Propagation"), {})
    return cond.get("status") == "True" and len(status.get("clusters") or []) == n


async def test_sample_configmap_propagates_with_overrides_and_status(control_plane: ControlPlane) -> None:
    cp = control_plane
    await cp.start_federation()
    kfc = cp.host_object("core.kubefed.io", "kubefedclusters", "kube-federation-system", "cluster1")
    assert kfc["status"]["kubernetesVersion"].startswith("v1.")
    await cp.akubectl("apply", "-f", str(SAMPLES / "namespace.yaml"))
    await cp.akubectl("apply", "-f", str(SAMPLES / "federatednamespace.yaml"))
    await cp.akubectl("apply", "-f", str(SAMPLES / "federatedconfigmap.yaml"))
    cm1 = await eventually(lambda: cp.member_object("cluster1", "", "configmaps", NS, "test-configmap"))
    cm2 = await eventually(lambda: cp.member_object("cluster2", "", "configmaps", NS, "test-configmap"))
    assert cm1["data"] == {"A": "ala ma kota"}
    assert cm2["data"] == {"foo": "bar"}  # the override replaced /data
    assert cm1["metadata"]["labels"]["kubefed.io/managed"] == "true"
    assert cp.member_object("cluster1", "", "namespaces", None, NS)["metadata"]["labels"]["kubefed.io/managed"] == "true"
    await eventually(lambda: _propagated(cp, "federatedconfigmaps", NS, "test-configmap", 2))
    fed = cp.host_object("types.kubefed.io", "federatedconfigmaps", NS, "test-configmap")
    assert "kubefed.io/sync-controller" in fed["metadata"]["finalizers"]
    assert fed["status"]["observedGeneration"] == fed["metadata"]["generation"]
    await eventually(lambda: any(
        e["reason"] == "CreateInCluster" and e["involvedObject"]["name"] == "test-configmap"
        for e in cp.fleet["host"].list_objects("", "events", NS)
    ))

    # drift in a member is corrected
    await cp.akubectl("patch", "configmap", "test-configmap", "-n", NS, "--type=merge", "-p", '{"data":{"A":"edited"}}', context="cluster1")
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", NS, "test-configmap")["data"] == {"A": "ala ma kota"})

    # placement change: cluster2 leaves, its object is removed
    await cp.akubectl("patch", "federatedconfigmap", "test-configmap", "-n", NS, "--type=merge", "-p",
                      '{"spec":{"placement":{"clusters":[{"name":"cluster1"}]}}}')
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", NS, "test-configmap") is None)
    await eventually(lambda: _propagated(cp, "federatedconfigmaps", NS, "test-configmap", 1))

    # deletion removes member objects, then the finalizer lets the host object go
    await cp.akubectl("delete", "federatedconfigmap", "test-configmap", "-n", NS, "--wait=false")
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", NS, "test-configmap") is None)
    await eventually(lambda: cp.host_object("types.kubefed.io", "federatedconfigmaps", NS, "test-configmap") is None)


async def test_restart_reverifies_without_writes(control_plane: ControlPlane) -> None:
    cp = control_plane
    await cp.join("cluster1")
    cp.start("watcher", "watcher")
    cp.start("scheduler", "scheduler")
    cp.start("propagator", "propagator")
    await eventually(lambda: _ready(cp, "cluster1"))
    await cp.akubectl("apply", "-f", str(SAMPLES / "namespace.yaml"))
    await cp.akubectl("apply", "-f", str(SAMPLES / "federatednamespace.yaml"))
    await cp.akubectl("apply", "-f", str(SAMPLES / "federatedconfigmap.yaml"))
    cm = await eventually(lambda: cp.member_object("cluster1", "", "configmaps", NS, "test-configmap"))
    rv = cm["metadata"]["resourceVersion"]
    await eventually(lambda: _propagated(cp, "federatedconfigmaps", NS, "test-configmap", 1))
    await asyncio.sleep(1.0)
    member = cp.fleet["cluster1"]
    writes_before = member.write_count
    await cp.stop_all()
    cp.start("watcher", "watcher")
    cp.start("scheduler", "scheduler")
    cp.start("propagator", "propagator")
    await eventually(lambda: _ready(cp, "cluster1"))
    await asyncio.sleep(3.0)
    assert cp.member_object("cluster1", "", "configmaps", NS, "test-configmap")["metadata"]["resourceVersion"] == rv
    assert member.write_count == writes_before  # not even no-op writes: every object was only compared
