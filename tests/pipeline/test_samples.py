"""KubeFed's sample1 manifests, applied unchanged, propagate with their placement and overrides; the
``kubefed.io/deleteoption`` annotation reaches the member's DELETE.

Covers: every federated kind of sample1 (Namespace, ConfigMap, Secret, ServiceAccount, Service,
Deployment with image/replica/annotation overrides, Job, ClusterRole, ClusterRoleBinding) reaches both
members labelled as managed, with Propagation=True on the host; sample1's Ingress template (the old
``backend.serviceName/servicePort`` form, no ``pathType``) is refused by a networking.k8s.io/v1 API
server, so it is CreationFailed in both members with the server's 422 message in the Events, as on
real clusters (the simulator validates Ingresses as kube-apiserver v1.37 does); deleting a
FederatedDeployment annotated with ``{"propagationPolicy": "Orphan"}`` deletes the member Deployment but
leaves its ReplicaSet, as an orphaning delete does.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.plane import ControlPlane, cluster_status, eventually

pytestmark = pytest.mark.timeout(150)

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "kubefed-examples" / "sample1"
NS = "test-namespace"

# (federated plural, member group, member plural, namespaced, name)
KINDS = [
    ("federatednamespaces", "", "namespaces", False, NS),
    ("federatedconfigmaps", "", "configmaps", True, "test-configmap"),
    ("federatedsecrets", "", "secrets", True, "test-secret"),
    ("federatedserviceaccounts", "", "serviceaccounts", True, "test-serviceaccount"),
    ("federatedservices", "", "services", True, "test-service"),
    ("federateddeployments", "apps", "deployments", True, "test-deployment"),
    ("federatedjobs", "batch", "jobs", True, "test-job"),
    ("federatedclusterroles", "rbac.authorization.k8s.io", "clusterroles", False, "test-clusterrole"),
    (
        "federatedclusterrolebindings",
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        False,
        "test-clusterrolebinding",
    ),
]


async def _enable(cp: ControlPlane, type_name: str) -> None:
    cmd = [
        str(Path(sys.executable).parent / "kubefedctl"),
        "enable",
        type_name,
        "--kubeconfig",
        str(cp.fleet.kubeconfig_path),
        "--host-cluster-context",
        "host",
    ]
    result = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


async def test_every_sample1_manifest_propagates(control_plane: ControlPlane) -> None:
    cp = control_plane
    await cp.start_federation()
    await _enable(cp, "clusterrolebindings.rbac.authorization.k8s.io")  # not among KubeFed's default types
    await cp.akubectl("apply", "-f", str(SAMPLES / "namespace.yaml"))
    for f in sorted(SAMPLES.glob("federated*.yaml")):
        await cp.akubectl("apply", "-f", str(f))
    for fed_plural, group, plural, namespaced, name in KINDS:
        ns = NS if namespaced else None
        for cluster in ("cluster1", "cluster2"):
            obj = await eventually(
                lambda c=cluster, g=group, p=plural, n=ns, nm=name: cp.member_object(c, g, p, n, nm),
                timeout=30,
            )
            assert obj["metadata"]["labels"]["kubefed.io/managed"] == "true", (plural, cluster)
        fed_ns = None if fed_plural in ("federatedclusterroles", "federatedclusterrolebindings") else NS
        assert cp.host_object("types.kubefed.io", fed_plural, fed_ns, name) is not None, fed_plural
        await eventually(
            lambda fp=fed_plural, nm=name, n=fed_ns: (
                cluster_status(cp, fp, n, nm) == {"cluster1": "", "cluster2": ""}
            ),
            timeout=30,
        )
    # sample1's Ingress predates networking.k8s.io/v1: every member's API server refuses it (422)
    refused = (
        'Ingress.networking.k8s.io "test-ingress" is invalid: spec.rules[0].http.paths[0].pathType: '
        "Required value: pathType must be specified"
    )
    await eventually(
        lambda: (
            cluster_status(cp, "federatedingresses", NS, "test-ingress")
            == {"cluster1": "CreationFailed", "cluster2": "CreationFailed"}
        ),
        timeout=30,
    )
    for cluster in ("cluster1", "cluster2"):
        assert cp.member_object(cluster, "networking.k8s.io", "ingresses", NS, "test-ingress") is None

    def refusals() -> list[dict]:
        return [
            e
            for e in cp.fleet["host"].list_objects("", "events", NS)
            if e["involvedObject"]["name"] == "test-ingress" and e["reason"] == "CreateInClusterFailed"
        ]

    await eventually(lambda: len(refusals()) == 2, timeout=30)
    assert all(refused in e["message"] and e["type"] == "Warning" for e in refusals()), refusals()
    d1 = cp.member_object("cluster1", "apps", "deployments", NS, "test-deployment")
    d2 = cp.member_object("cluster2", "apps", "deployments", NS, "test-deployment")
    assert (
        d2["spec"]["replicas"] == 5
        and d2["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.17.0-alpine"
    )
    assert d1["spec"]["replicas"] == 3 and d1["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
    assert "foo" not in (d2["metadata"].get("annotations") or {})  # added, then removed by the next override


async def test_delete_options_reach_the_member(control_plane: ControlPlane) -> None:
    cp = control_plane
    await cp.start_federation()
    await cp.akubectl("apply", "-f", str(SAMPLES / "namespace.yaml"))
    await cp.akubectl("apply", "-f", str(SAMPLES / "federatednamespace.yaml"))
    dep = yaml.safe_load((SAMPLES / "federateddeployment.yaml").read_text())
    dep["metadata"]["annotations"] = {"kubefed.io/deleteoption": '{"propagationPolicy": "Orphan"}'}
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(dep))

    def replicasets() -> list[dict]:
        return cp.fleet["cluster1"].list_objects("apps", "replicasets", NS)

    await eventually(
        lambda: replicasets() and cp.member_object("cluster1", "apps", "deployments", NS, "test-deployment")
    )
    await cp.akubectl("delete", "federateddeployment", "test-deployment", "-n", NS, "--wait=false")
    await eventually(
        lambda: cp.member_object("cluster1", "apps", "deployments", NS, "test-deployment") is None, timeout=30
    )
    await eventually(
        lambda: cp.host_object("types.kubefed.io", "federateddeployments", NS, "test-deployment") is None
    )
    orphans = replicasets()
    assert orphans and not any(rs["metadata"].get("ownerReferences") for rs in orphans)
