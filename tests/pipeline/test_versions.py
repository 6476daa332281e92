"""``kubefed scheduler --propagated-versions``: KubeFed's PropagatedVersion records, true to the members.

A FederatedConfigMap with an override gets a PropagatedVersion named ``configmap-<name>`` whose
template and override hashes are KubeFed's and whose cluster versions are the member objects' own
(``rv:`` for a ConfigMap); an update moves them; a cluster taken out of placement leaves the record; a
FederatedClusterRole gets a ClusterPropagatedVersion. Without the flag no record is written.
"""

from __future__ import annotations

import json

import pytest
import yaml

from services.scheduler._versions import override_hash, template_hash
from tests.support.objects import namespace_federated_to_all
from tests.support.plane import ControlPlane, eventually, fed_configmap

pytestmark = pytest.mark.timeout(120)


def _record(cp: ControlPlane, plural: str, ns: str | None, name: str) -> dict | None:
    return cp.host_object("core.kubefed.io", plural, ns, name)


def _member_version(cp: ControlPlane, cluster: str, name: str) -> str:
    obj = cp.member_object(cluster, "", "configmaps", "fed", name) or {}
    return "rv:" + obj.get("metadata", {}).get("resourceVersion", "?")


def _true_to_members(cp: ControlPlane, name: str, clusters: list[str]) -> bool:
    fed = cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", name)
    record = _record(cp, "propagatedversions", "fed", f"configmap-{name}")
    if fed is None or record is None:
        return False
    status = record.get("status") or {}
    return (
        status.get("templateVersion") == template_hash(fed)
        and status.get("overridesVersion") == override_hash(fed)
        and status.get("clusterVersions")
        == [{"clusterName": c, "version": _member_version(cp, c, name)} for c in clusters]
    )


async def test_records_follow_propagation(control_plane: ControlPlane) -> None:
    cp = control_plane
    cp.start("scheduler", "scheduler", propagated_versions=True)
    for service in ("watcher", "propagator"):
        cp.start(service, service)
    await cp.join("cluster1")
    await cp.join("cluster2")
    await cp.akubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump_all(
            [
                *namespace_federated_to_all(),
                fed_configmap(
                    "web",
                    overrides=[
                        {"clusterName": "cluster2", "clusterOverrides": [{"path": "/data/k", "value": "w"}]}
                    ],
                ),
                {
                    "apiVersion": "types.kubefed.io/v1beta1",
                    "kind": "FederatedClusterRole",
                    "metadata": {"name": "reader"},
                    "spec": {
                        "template": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
                        "placement": {"clusters": [{"name": "cluster1"}]},
                    },
                },
            ]
        ),
    )
    await eventually(lambda: _true_to_members(cp, "web", ["cluster1", "cluster2"]), timeout=30)
    record = _record(cp, "propagatedversions", "fed", "configmap-web")
    assert record["metadata"]["ownerReferences"][0]["kind"] == "FederatedConfigMap"

    await cp.akubectl(
        "patch",
        "federatedconfigmap",
        "web",
        "-n",
        "fed",
        "--type=merge",
        "-p",
        json.dumps(
            {"spec": {"template": {"data": {"k": "v2"}}, "placement": {"clusters": [{"name": "cluster1"}]}}}
        ),
    )
    await eventually(lambda: _true_to_members(cp, "web", ["cluster1"]), timeout=30)

    cluster_record = await eventually(
        lambda: _record(cp, "clusterpropagatedversions", None, "clusterrole-reader"), timeout=30
    )
    role = cp.member_object("cluster1", "rbac.authorization.k8s.io", "clusterroles", None, "reader")
    assert cluster_record["status"]["clusterVersions"] == [
        {"clusterName": "cluster1", "version": "rv:" + role["metadata"]["resourceVersion"]}
    ]


async def test_no_records_without_the_flag(running: ControlPlane) -> None:
    cp = running
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("plain")))
    await eventually(lambda: cp.member_object("cluster1", "", "configmaps", "fed", "plain"), timeout=30)
    # the namespace's record would have come first: its absence after the object's propagation is the sign
    await eventually(
        lambda: (cp.host_object("types.kubefed.io", "federatedconfigmaps", "fed", "plain") or {}).get(
            "status"
        )
    )
    assert _record(cp, "propagatedversions", "fed", "configmap-plain") is None
    assert _record(cp, "propagatedversions", "fed", "namespace-fed") is None
