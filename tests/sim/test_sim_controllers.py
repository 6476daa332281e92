"""Simulated cluster behaviour (KWOK-like controllers), driven through the cluster handle.

Covers: nodes with zone/region labels (defaults and given) and set_node_labels; Deployment ->
ReplicaSet -> Pods with status (replicas, ready, available, updated, observedGeneration,
Available/Progressing); capacity: pods beyond it stay Pending/Unschedulable and start when capacity
grows; scale-down deletes pods; Jobs complete; StatefulSet and DaemonSet pods; Services get a
clusterIP and type ClusterIP, LoadBalancer services get an RFC 5737 address, Endpoints follow ready
pods; service-account token Secrets get a usable token which deletion revokes; TokenRequest;
default ServiceAccounts; garbage collection of orphans; add_cluster at run time.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
import yaml

from sim import ClusterServer, Fleet
from sim._registry import builtin

pytestmark = pytest.mark.timeout(30)

DEPLOY = builtin("apps", "deployments")
PODS = builtin("", "pods")
SVC = builtin("", "services")
SECRETS = builtin("", "secrets")
SA = builtin("", "serviceaccounts")


def deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "img", "ports": [{"containerPort": 8080}]}]},
            },
        },
    }


def pods_of(c: ClusterServer, app: str) -> list[dict]:
    return [
        p for p in c.list_objects("", "pods", "default") if p["metadata"].get("labels", {}).get("app") == app
    ]


def cond(obj: dict, ctype: str) -> dict | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or () if c["type"] == ctype), None)


async def test_nodes_are_labelled(fleet: Fleet) -> None:
    host_nodes = fleet["host"].list_objects("", "nodes")
    assert host_nodes and host_nodes[0]["metadata"]["labels"]["topology.kubernetes.io/region"]
    regions = {
        c.list_objects("", "nodes")[0]["metadata"]["labels"]["topology.kubernetes.io/region"] for c in fleet
    }
    assert len(regions) == 3
    c1 = fleet["c1"]
    c1.set_node_labels({"topology.kubernetes.io/zone": "eu-1b", "extra": "x"})
    labels = c1.list_objects("", "nodes")[0]["metadata"]["labels"]
    assert labels["topology.kubernetes.io/zone"] == "eu-1b" and labels["extra"] == "x"


async def test_deployment_status_capacity_and_scaling(fleet: Fleet) -> None:
    c1 = fleet["c1"]  # capacity 10
    c1.store.create(DEPLOY, "default", deployment("web", 12))

    def settled(c: ClusterServer) -> bool:
        ready = [p for p in pods_of(c, "web") if p["status"]["phase"] == "Running"]
        return len(pods_of(c, "web")) == 12 and len(ready) == 10

    await c1.wait_for(settled)
    pending = [p for p in pods_of(c1, "web") if p["status"]["phase"] == "Pending"]
    assert len(pending) == 2
    sched = cond(pending[0], "PodScheduled")
    assert sched["status"] == "False" and sched["reason"] == "Unschedulable"
    dep = c1.get_object("apps", "deployments", "default", "web")
    await c1.wait_for(
        lambda c: c.get_object("apps", "deployments", "default", "web")["status"].get("readyReplicas") == 10
    )
    dep = c1.get_object("apps", "deployments", "default", "web")
    st = dep["status"]
    assert st["replicas"] == 12 and st["availableReplicas"] == 10 and st["updatedReplicas"] == 12
    # 25 % maxUnavailable of 12 is 3, so 10 available still counts as minimum availability.
    assert st["observedGeneration"] == 1 and st["unavailableReplicas"] == 2
    assert (
        cond(dep, "Available")["status"] == "True"
        and cond(dep, "Progressing")["reason"] == "ReplicaSetUpdated"
    )
    c1.set_capacity(20)
    await c1.wait_for(
        lambda c: (
            c.get_object("apps", "deployments", "default", "web")["status"].get("availableReplicas") == 12
        )
    )
    dep = c1.get_object("apps", "deployments", "default", "web")
    assert cond(dep, "Available")["status"] == "True"
    assert cond(dep, "Progressing")["reason"] == "NewReplicaSetAvailable"
    c1.store.patch(DEPLOY, "default", "web", "application/merge-patch+json", {"spec": {"replicas": 3}})
    await c1.wait_for(lambda c: len(pods_of(c, "web")) == 3)
    await c1.wait_for(
        lambda c: (
            c.get_object("apps", "deployments", "default", "web")["status"].get("observedGeneration") == 2
        )
    )
    rs = c1.list_objects("apps", "replicasets", "default")
    assert len(rs) == 1 and rs[0]["metadata"]["ownerReferences"][0]["kind"] == "Deployment"


async def test_rollout_new_template(fleet: Fleet) -> None:
    c2 = fleet["c2"]
    c2.store.create(DEPLOY, "default", deployment("roll", 2))
    await c2.wait_for(
        lambda c: len([p for p in pods_of(c, "roll") if p["status"]["phase"] == "Running"]) == 2
    )
    c2.store.patch(
        DEPLOY,
        "default",
        "roll",
        "application/strategic-merge-patch+json",
        {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "img:2"}]}}}},
    )

    def rolled(c: ClusterServer) -> bool:
        ps = pods_of(c, "roll")
        return len(ps) == 2 and all(
            p["spec"]["containers"][0]["image"] == "img:2" and p["status"]["phase"] == "Running" for p in ps
        )

    await c2.wait_for(rolled)
    assert len(c2.list_objects("apps", "replicasets", "default")) == 2


async def test_jobs_statefulsets_daemonsets(fleet: Fleet) -> None:
    c2 = fleet["c2"]
    c2.store.create(
        builtin("batch", "jobs"),
        "default",
        {
            "metadata": {"name": "j"},
            "spec": {
                "completions": 2,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}
                },
            },
        },
    )
    await c2.wait_for(lambda c: cond(c.get_object("batch", "jobs", "default", "j"), "Complete"))
    job = c2.get_object("batch", "jobs", "default", "j")
    assert job["status"]["succeeded"] == 2 and job["status"]["completionTime"]
    sts = deployment("db", 3)
    c2.store.create(builtin("apps", "statefulsets"), "default", sts)
    await c2.wait_for(
        lambda c: c.get_object("apps", "statefulsets", "default", "db")["status"].get("readyReplicas") == 3
    )
    assert sorted(p["metadata"]["name"] for p in pods_of(c2, "db")) == ["db-0", "db-1", "db-2"]
    ds = deployment("agent", 0)
    del ds["spec"]["replicas"]
    c2.store.create(builtin("apps", "daemonsets"), "default", ds)
    await c2.wait_for(
        lambda c: c.get_object("apps", "daemonsets", "default", "agent")["status"].get("numberReady") == 1
    )


async def test_services_load_balancer_and_endpoints(fleet: Fleet) -> None:
    c1, c2 = fleet["c1"], fleet["c2"]
    c1.store.create(DEPLOY, "default", deployment("api", 2))
    svc = c1.store.create(
        SVC,
        "default",
        {
            "metadata": {"name": "api"},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": "api"},
                "ports": [{"port": 80, "targetPort": 8080}],
            },
        },
    )
    assert svc["spec"]["clusterIP"].startswith("10.96.") and svc["spec"]["ports"][0]["nodePort"] >= 30000
    plain = c1.store.create(SVC, "default", {"metadata": {"name": "plain"}, "spec": {"ports": [{"port": 1}]}})
    assert plain["spec"]["type"] == "ClusterIP"
    ip = await c1.wait_for(
        lambda c: (
            c.get_object("", "services", "default", "api")["status"]["loadBalancer"].get("ingress") or [{}]
        )[0].get("ip")
    )
    assert ip.rsplit(".", 1)[0] in ("192.0.2", "198.51.100", "203.0.113")
    c2.store.create(
        SVC,
        "default",
        {"metadata": {"name": "api"}, "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}},
    )
    ip2 = await c2.wait_for(
        lambda c: (
            c.get_object("", "services", "default", "api")["status"]["loadBalancer"].get("ingress") or [{}]
        )[0].get("ip")
    )
    assert ip2 != ip

    def endpoints(c: ClusterServer) -> Any:
        ep = c.get_object("", "endpoints", "default", "api")
        subsets = (ep or {}).get("subsets") or []
        return subsets and len(subsets[0].get("addresses", [])) == 2 and subsets

    subsets = await c1.wait_for(endpoints)
    assert subsets[0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    c1.store.delete(SVC, "default", "api")
    await c1.wait_for(lambda c: c.get_object("", "endpoints", "default", "api") is None)


async def test_token_secret_and_revocation(fleet: Fleet) -> None:
    c1 = fleet["c1"]
    c1.store.create(SA, "default", {"metadata": {"name": "joiner"}})
    c1.store.create(
        SECRETS,
        "default",
        {
            "metadata": {
                "name": "joiner-token",
                "annotations": {"kubernetes.io/service-account.name": "joiner"},
            },
            "type": "kubernetes.io/service-account-token",
        },
    )
    secret = await c1.wait_for(
        lambda c: (
            (c.get_object("", "secrets", "default", "joiner-token").get("data") or {}).get("token")
            and c.get_object("", "secrets", "default", "joiner-token")
        )
    )
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert base64.b64decode(secret["data"]["namespace"]) == b"default"
    assert secret["metadata"]["annotations"]["kubernetes.io/service-account.uid"]
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as s:
        async with s.get(c1.url + "/api/v1/nodes", headers=headers) as r:
            assert r.status == 200
        async with s.get(fleet["c2"].url + "/api/v1/nodes", headers=headers) as r:
            assert r.status == 401
        c1.store.delete(SECRETS, "default", "joiner-token")
        async with s.get(c1.url + "/api/v1/nodes", headers=headers) as r:
            assert r.status == 401
        tr = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 600},
        }
        async with s.post(
            c1.url + "/api/v1/namespaces/default/serviceaccounts/joiner/token",
            json=tr,
            headers={"Authorization": f"Bearer {c1.admin_token}"},
        ) as r:
            assert r.status == 201
            minted = (await r.json())["status"]["token"]
        async with s.get(c1.url + "/api/v1/nodes", headers={"Authorization": f"Bearer {minted}"}) as r:
            assert r.status == 200


async def test_tls_ca_in_token_secret(tls_fleet: Fleet) -> None:
    c1 = tls_fleet["c1"]
    assert c1.url.startswith("https://") and c1.ca_pem and c1.ca_pem.startswith(b"-----BEGIN CERTIFICATE")
    c1.store.create(
        SECRETS,
        "default",
        {
            "metadata": {"name": "t", "annotations": {"kubernetes.io/service-account.name": "default"}},
            "type": "kubernetes.io/service-account-token",
        },
    )
    secret = await c1.wait_for(
        lambda c: (
            (c.get_object("", "secrets", "default", "t").get("data") or {}).get("ca.crt")
            and c.get_object("", "secrets", "default", "t")
        )
    )
    assert base64.b64decode(secret["data"]["ca.crt"]) == c1.ca_pem
    cfg = yaml.safe_load(tls_fleet.kubeconfig_path.read_text())
    assert [c["name"] for c in cfg["contexts"]] == ["host", "c1"]
    assert base64.b64decode(cfg["clusters"][1]["cluster"]["certificate-authority-data"]) == c1.ca_pem


async def test_default_service_accounts_and_gc(fleet: Fleet) -> None:
    c2 = fleet["c2"]
    await c2.wait_for(
        lambda c: all(
            c.get_object("", "serviceaccounts", ns, "default")
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease")
        )
    )
    cm = builtin("", "configmaps")
    owner = c2.store.create(cm, "default", {"metadata": {"name": "o"}})
    c2.store.create(
        cm,
        "default",
        {
            "metadata": {
                "name": "d",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": owner["metadata"]["uid"]}
                ],
            }
        },
    )
    c2.store.delete(cm, "default", "o")
    await c2.wait_for(lambda c: c.get_object("", "configmaps", "default", "d") is None)


async def test_add_cluster_at_run_time(fleet: Fleet) -> None:
    c3 = await fleet.add_cluster("c3", capacity=1, node_labels={"topology.kubernetes.io/region": "mars"})
    assert fleet.names == ["host", "c1", "c2", "c3"]
    cfg = yaml.safe_load(fleet.kubeconfig_path.read_text())
    assert "c3" in [c["name"] for c in cfg["contexts"]]
    assert c3.list_objects("", "nodes")[0]["metadata"]["labels"]["topology.kubernetes.io/region"] == "mars"
    c3.store.create(DEPLOY, "default", deployment("one", 2))
    await c3.wait_for(
        lambda c: (
            len([p for p in pods_of(c, "one") if p["status"]["phase"] == "Running"]) == 1
            and len(pods_of(c, "one")) == 2
        )
    )
