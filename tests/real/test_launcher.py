"""``kubefed sim --real``: the real fleet launcher (ready, layout, scheduling, load balancers, shutdown,
errors)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from sim.real import RealFleet, binary_path
from sim.testing import find_kubectl
from tests.support.real import require_programs

pytestmark = pytest.mark.timeout(240)
KUBEFED = str(Path(sys.executable).parent / "kubefed")

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]},
        },
    },
}


def _until(check, timeout: float = 60.0, interval: float = 0.3):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not met within {timeout} s (last: {last!r})")


def kubectl(kubeconfig: Path, context: str, *args: str, input: str | None = None) -> str:
    r = subprocess.run(
        [find_kubectl(), "--kubeconfig", str(kubeconfig), "--context", context, *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_cli_starts_real_clusters_with_the_simulator_layout_and_leaves_nothing_behind(tmp_path: Path) -> None:
    require_programs()
    kubeconfig = tmp_path / "kubeconfig"
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            KUBEFED,
            "sim",
            "--real",
            "--clusters",
            "host,m1,m2,m3",
            "--kubeconfig",
            str(kubeconfig),
            "--capacity",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.strip())
            if line.strip() == "ready":
                break
        ready_seconds = time.monotonic() - started
        assert lines and lines[-1] == "ready", (lines, proc.stderr.read() if proc.stderr else "")
        config = yaml.safe_load(kubeconfig.read_text())
        assert [c["name"] for c in config["contexts"]] == ["host", "m1", "m2", "m3"]
        version = json.loads(kubectl(kubeconfig, "m1", "version", "-o", "json"))
        assert version["serverVersion"]["gitVersion"] == "v1.37.2"
        nodes = json.loads(kubectl(kubeconfig, "m2", "get", "nodes", "-o", "json"))["items"]
        assert nodes and nodes[0]["metadata"]["labels"]["topology.kubernetes.io/region"]
        children = psutil.Process(proc.pid).children(recursive=True)
        names = {c.name() for c in children}
        assert {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} <= names, names
        print(
            f"host + 3 members ready in {ready_seconds:.1f} s; RSS per program:",
            {c.name(): round(c.memory_info().rss / 2**20) for c in children},
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert proc.returncode == 0
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_deployment_runs_pods_over_capacity_is_unschedulable_and_load_balancers_get_addresses(
    real_fleet: RealFleet,
) -> None:
    c = real_fleet["cluster1"]  # capacity 20 pods on one node
    status, body = c.request("POST", "/apis/apps/v1/namespaces/default/deployments", DEPLOYMENT)
    assert status == 201, body

    def available() -> bool:
        d = c.get_object("apps", "deployments", "default", "web") or {}
        return (d.get("status") or {}).get("availableReplicas") == 3

    _until(available)
    pods = c.list_objects("", "pods", "default")
    assert all(p["status"]["phase"] == "Running" and p["status"].get("podIP") for p in pods)

    big = json.loads(json.dumps(DEPLOYMENT))
    big["metadata"]["name"] = "big"
    big["spec"]["replicas"] = 30
    big["spec"]["selector"]["matchLabels"] = big["spec"]["template"]["metadata"]["labels"] = {"app": "big"}
    assert c.request("POST", "/apis/apps/v1/namespaces/default/deployments", big)[0] == 201

    def phases() -> tuple[int, int]:
        pods = c.list_objects("", "pods", "default")
        running = sum(1 for p in pods if p["status"].get("phase") == "Running")
        unschedulable = sum(
            1
            for p in pods
            if any(cond.get("reason") == "Unschedulable" for cond in p["status"].get("conditions") or [])
        )
        return running, unschedulable

    # the node holds 20 pods: the real scheduler binds 20 of the 33 and leaves 13 Unschedulable
    _until(lambda: phases() == (20, 13))

    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "lb", "namespace": "default"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    }
    assert c.request("POST", "/api/v1/namespaces/default/services", svc)[0] == 201
    ingress = _until(
        lambda: (
            ((c.get_object("", "services", "default", "lb") or {}).get("status") or {})
            .get("loadBalancer", {})
            .get("ingress")
        )
    )
    assert ingress[0]["ip"]
    slices = _until(
        lambda: [
            s
            for s in c.list_objects("discovery.k8s.io", "endpointslices", "default")
            if s["metadata"].get("labels", {}).get("kubernetes.io/service-name") == "lb"
            and s.get("endpoints")
        ]
    )
    assert len(slices[0]["endpoints"]) == 3


def test_member_offline_and_back_keeps_its_data(real_fleet: RealFleet) -> None:
    c = real_fleet["cluster2"]
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "keep", "namespace": "default"},
        "data": {"k": "v"},
    }
    assert c.request("POST", "/api/v1/namespaces/default/configmaps", cm)[0] == 201
    c.take_offline()
    with pytest.raises(OSError):
        c.request("GET", "/readyz", timeout=2)
    c.bring_online()
    assert (c.get_object("", "configmaps", "default", "keep") or {}).get("data") == {"k": "v"}


def test_missing_binary_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEFED_NG_CACHE", str(tmp_path / "empty-cache"))
    r = subprocess.run(
        [KUBEFED, "sim", "--real", "--clusters", "host", "--kubeconfig", str(tmp_path / "kc")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBEFED_NG_CACHE": str(tmp_path / "empty-cache")},
    )
    assert r.returncode != 0
    assert "etcd" in r.stderr and "make real-k8s" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_a_program_that_exits_is_named_with_its_log(tmp_path: Path) -> None:
    require_programs()
    fleet = RealFleet(["host"], workdir=tmp_path / "fleet")
    blocker = None
    import socket

    blocker = socket.socket()
    blocker.bind(("127.0.0.1", fleet["host"].port))  # the API server's port is taken
    blocker.listen()
    try:
        with pytest.raises(Exception) as err:
            fleet.start(timeout=60)
        text = str(err.value)
        assert "kube-apiserver[host]" in text and ("address already in use" in text or "bind" in text), text
    finally:
        blocker.close()
        fleet.close()
    assert binary_path("kube-apiserver").exists()


def test_a_host_without_workload_controllers_keeps_a_deployment_as_a_template(tmp_path: Path) -> None:
    """Karmada-style host: its kube-controller-manager runs namespaces, garbage collection and tokens,
    no workload controller. The garbage collector removing a dependent is the positive sign that the
    controller manager runs; by then a Deployment created first still has no ReplicaSet and no pod."""
    require_programs()
    fleet = RealFleet(["host"], workdir=tmp_path / "fleet", without_workload_controllers=["host"])
    fleet.start()
    try:
        host = fleet["host"]
        assert host.request("POST", "/apis/apps/v1/namespaces/default/deployments", DEPLOYMENT)[0] == 201
        owner = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owner"}}
        status, created = host.request("POST", "/api/v1/namespaces/default/configmaps", owner)
        assert status == 201, created
        dependent = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "dependent",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": created["metadata"]["uid"],
                    }
                ],
            },
        }
        assert host.request("POST", "/api/v1/namespaces/default/configmaps", dependent)[0] == 201
        assert host.request("DELETE", "/api/v1/namespaces/default/configmaps/owner")[0] == 200
        _until(lambda: host.get_object("", "configmaps", "default", "dependent") is None)
        assert host.list_objects("apps", "replicasets", "default") == []
        assert host.list_objects("", "pods", "default") == []
        assert (
            not (host.get_object("apps", "deployments", "default", "web") or {})
            .get("status", {})
            .get("replicas")
        )
    finally:
        fleet.close()


def test_without_workload_controllers_names_only_fleet_clusters(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown clusters: \\['nope'\\]"):
        RealFleet(["host"], workdir=tmp_path / "fleet", without_workload_controllers=["nope"])
