"""KubeFedConfig honoured at run time: the PushReconciler gate and a Namespaced control plane.

Covers: PushReconciler Disabled stops propagation of new objects and Enabled resumes it without
restarts; with ``scope: Namespaced`` only federated objects in the system namespace propagate, objects
elsewhere and cluster-scoped types are left alone.
"""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml

from tests.pipeline.conftest import ControlPlane, eventually, fed_configmap, ready

pytestmark = pytest.mark.timeout(120)

SYS = "kube-federation-system"


async def _set_gate(cp: ControlPlane, name: str, value: str) -> None:
    gates = cp.host_object("core.kubefed.io", "kubefedconfigs", SYS, "kubefed")["spec"]["featureGates"]
    index = next(i for i, g in enumerate(gates) if g["name"] == name)
    await cp.akubectl("patch", "kubefedconfig", "kubefed", "-n", SYS, "--type=json", "-p",
                      json.dumps([{"op": "replace", "path": f"/spec/featureGates/{index}/configuration", "value": value}]))


async def test_push_reconciler_gate_pauses_and_resumes(running: ControlPlane) -> None:
    cp = running
    await _set_gate(cp, "PushReconciler", "Disabled")
    await asyncio.sleep(1.0)  # let the scheduler see the configuration change
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("paused")))
    await asyncio.sleep(2.0)
    assert cp.member_object("cluster1", "", "configmaps", "fed", "paused") is None
    fed = cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", "paused")
    assert "kubefed.io/sync-controller" not in (fed["metadata"].get("finalizers") or [])
    await _set_gate(cp, "PushReconciler", "Enabled")
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", "fed", "paused"))


async def test_namespaced_control_plane_is_confined(control_plane: ControlPlane) -> None:
    cp = control_plane
    config = cp.host_object("core.kubefed.io", "kubefedconfigs", SYS, "kubefed")
    config["spec"]["scope"] = "Namespaced"  # set before any service starts, as an install would
    await cp.akubectl("replace", "-f", "-", input=json.dumps(config))
    await cp.join("cluster1")
    cp.start("watcher", "watcher")
    cp.start("scheduler", "scheduler")
    cp.start("propagator", "propagator")
    await eventually(lambda: ready(cp, "cluster1"))
    # the system namespace must exist in members of a Namespaced control plane (join creates it)
    await cp.akubectl("apply", "-f", "-", context="cluster1", input=yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYS}}))
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "elsewhere"}},
        {**fed_configmap("inside", placement={"clusters": [{"name": "cluster1"}]}), "metadata": {"name": "inside", "namespace": SYS}},
        {**fed_configmap("outside", placement={"clusters": [{"name": "cluster1"}]}), "metadata": {"name": "outside", "namespace": "elsewhere"}},
        {"apiVersion": "types.kubefed.io/v1beta1", "kind": "FederatedClusterRole", "metadata": {"name": "reader"},
         "spec": {"placement": {"clusters": [{"name": "cluster1"}]}, "template": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}}},
    ]))
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", SYS, "inside"))
    await asyncio.sleep(2.0)
    assert cp.member_object("cluster1", "", "configmaps", "elsewhere", "outside") is None
    assert cp.member_object("cluster1", "rbac.authorization.k8s.io", "clusterroles", None, "reader") is None
