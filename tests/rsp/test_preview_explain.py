"""``kubefedctl preview`` and ``kubefedctl explain`` against a running control plane (simulated fleet).

Covers: previewing a Federated<Kind> override/placement change shows each cluster with its reason, the
change per cluster and a diff of the rendered member object, and stores nothing (the object's
resourceVersion, the KUBEFED_DESIRED and KUBEFED_HISTORY streams are unchanged after the scheduler's
reply, which is the positive sign that it computed the preview); previewing an RSP gives its replica
split (JSON output) and creates no RSP; invalid input fails with the API server's own validation error,
the one a real ``kubectl apply`` prints; ``explain --history`` after four changes (create, a placement
change with kubectl apply, an override patch, an RSP) lists each decision with what changed, the
managedFields manager of the host object (where the API server records them: tests/real runs it
again on a real kube-apiserver) and a trace id, and ``--cluster`` narrows the reasons.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import subjects
from shared.bus import Bus, BusSettings
from tests.support.plane import (
    DATA,
    ControlPlane,
    MakePlane,
    cluster_status,
    eventually,
    federate_namespace,
    is_ready,
    propagation_reason,
)

pytestmark = pytest.mark.timeout(150)

NS = "test-namespace"
NAME = "test-deployment"
KUBEFEDCTL = str(Path(sys.executable).parent / "kubefedctl")


async def kubefedctl(cp: ControlPlane, nats_url: str, *args: str, check: bool = True) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        KUBEFEDCTL,
        *args,
        "--kubeconfig",
        str(cp.fleet.kubeconfig_path),
        "--host-cluster-context",
        "host",
        "--nats",
        nats_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    code = proc.returncode or 0
    if check and code != 0:
        raise AssertionError(f"kubefedctl {' '.join(args)} failed ({code}): {err.decode()}")
    return code, out.decode(), err.decode()


def _fed(cp: ControlPlane) -> dict[str, Any]:
    return cp.host_object("types.kubefed.io", "federateddeployments", NS, NAME) or {}


async def _stream_last_seq(nats_url: str, stream: str) -> int:
    bus = await Bus.connect(BusSettings(url=nats_url, name="test"))
    try:
        info = await bus.js.stream_info(stream)
        return int(info.state.last_seq)
    finally:
        await bus.close()


async def _plane(make_plane: MakePlane) -> ControlPlane:
    members = ["cluster1", "cluster2", "cluster3"]
    cp = await make_plane(members)
    cp.start("watcher", "watcher")
    cp.start("scheduler", "scheduler")
    cp.start("propagator", "propagator")
    await eventually(lambda: all(is_ready(cp, m) for m in members))
    await federate_namespace(cp, NS)
    await cp.akubectl("apply", "-f", str(DATA / "sample1" / "federateddeployment.yaml"))
    await eventually(lambda: cp.member_object("cluster2", "apps", "deployments", NS, NAME), timeout=30)
    return cp


def _changed(doc: dict[str, Any]) -> dict[str, Any]:
    """The sample with cluster3 added and a new image for cluster1: an override and placement change."""
    doc = json.loads(json.dumps(doc))
    doc["spec"]["placement"]["clusters"].append({"name": "cluster3"})
    doc["spec"]["overrides"].append(
        {
            "clusterName": "cluster1",
            "clusterOverrides": [{"path": "/spec/template/spec/containers/0/image", "value": "nginx:1.25"}],
        }
    )
    return doc


async def test_preview_stores_nothing_and_validates_like_apply(
    make_plane: MakePlane, fresh_nats: Any, tmp_path: Path
) -> None:
    cp = await _plane(make_plane)
    nats_url = fresh_nats.url
    sample = yaml.safe_load((DATA / "sample1" / "federateddeployment.yaml").read_text())
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(_changed(sample)))
    # settled: both placed clusters reported OK and propagation succeeded. A first status may be written
    # with one cluster missing (its report came after the status writer's hold) and is then rewritten
    await eventually(
        lambda: (
            cluster_status(cp, "federateddeployments", NS, NAME) == {"cluster1": "", "cluster2": ""}
            and propagation_reason(cp, "federateddeployments", NS, NAME) == ""
        ),
        timeout=30,
    )
    rv = _fed(cp)["metadata"]["resourceVersion"]
    desired = await _stream_last_seq(nats_url, subjects.STREAM_DESIRED)
    history = await _stream_last_seq(nats_url, subjects.STREAM_HISTORY)

    _, out, _ = await kubefedctl(cp, nats_url, "preview", "-f", str(changed))
    assert "FederatedDeployment test-namespace/test-deployment: preview, nothing stored" in out
    assert re.search(r"cluster1\s+yes\s+3\s+updated\s+listed in spec.placement.clusters", out), out
    assert re.search(r"cluster2\s+yes\s+5\s+unchanged\s+listed in spec.placement.clusters", out), out
    assert re.search(r"cluster3\s+yes\s+3\s+created\s+listed in spec.placement.clusters", out), out
    assert "-  - image: nginx\n+  - image: nginx:1.25" in out.replace("      ", "  ")

    # the reply is the positive sign that the scheduler computed the preview; nothing was stored
    assert _fed(cp)["metadata"]["resourceVersion"] == rv
    assert await _stream_last_seq(nats_url, subjects.STREAM_DESIRED) == desired
    assert await _stream_last_seq(nats_url, subjects.STREAM_HISTORY) == history
    assert cp.member_object("cluster3", "apps", "deployments", NS, NAME) is None

    # an RSP: its split, as JSON; no RSP is created
    rsp = tmp_path / "rsp.yaml"
    rsp.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "scheduling.kubefed.io/v1alpha1",
                "kind": "ReplicaSchedulingPreference",
                "metadata": {"name": NAME, "namespace": NS},
                "spec": {
                    "targetKind": "FederatedDeployment",
                    "totalReplicas": 9,
                    "rebalance": True,
                    "clusters": {"cluster1": {"weight": 1}, "cluster2": {"weight": 2}},
                },
            }
        )
    )
    _, out, _ = await kubefedctl(cp, nats_url, "preview", "-f", str(rsp), "-o", "json")
    [result] = json.loads(out)
    assert result["input_kind"] == "ReplicaSchedulingPreference"
    assert result["replicas"] == {"cluster1": 3, "cluster2": 6, "cluster3": 0}
    assert result["inputs"]["weights"] == {"cluster1": 1, "cluster2": 2}
    assert "+      replicas: 6" in result["diffs"]["cluster2"] or "replicas: 6" in result["diffs"]["cluster2"]
    assert cp.host_object("scheduling.kubefed.io", "replicaschedulingpreferences", NS, NAME) is None
    assert _fed(cp)["metadata"]["resourceVersion"] == rv
    assert await _stream_last_seq(nats_url, subjects.STREAM_DESIRED) == desired

    # bad input: the same error as a real apply (the API server's validation), nothing previewed
    bad = _changed(sample)
    bad["spec"]["placement"]["clusters"] = "cluster1"
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(yaml.safe_dump(bad))
    code, out, err = await kubefedctl(cp, nats_url, "preview", "-f", str(bad_file), check=False)
    assert code == 1 and out == ""
    applied = await asyncio.create_subprocess_exec(
        *cp_kubectl_args(cp, tmp_path),
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        str(bad_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, kerr = await applied.communicate()
    assert applied.returncode != 0
    # the simulator answers 422 Invalid; a real kube-apiserver fails earlier, building the typed patch
    # (500, no reason: "Error from server: failed to create typed patch object ... expected list")
    kubectl_error = kerr.decode().strip()
    # (kubectl words a 422 as 'The FederatedDeployment "x" is invalid: ...'; we keep the reason visible)
    prefix = re.match(r"Error from server( \(\w+\))?:", kubectl_error)
    detail = re.search(r"spec\.placement\.clusters: [^\n]*", kubectl_error)
    assert detail is not None, kubectl_error
    expected = prefix.group(0) if prefix else "Error from server (Invalid):"
    assert err.startswith(f"Error: {expected}"), (err, kubectl_error)
    assert detail.group(0).rstrip() in err, (err, kubectl_error)
    assert _fed(cp)["metadata"]["resourceVersion"] == rv


def cp_kubectl_args(cp: ControlPlane, tmp_path: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "kubectl"),
        "--kubeconfig",
        str(cp.fleet.kubeconfig_path),
        "--context",
        "host",
        "--cache-dir",
        str(tmp_path / "kcache"),
    ]


async def test_explain_with_history_of_four_changes(
    make_plane: MakePlane, fresh_nats: Any, tmp_path: Path
) -> None:
    cp = await _plane(make_plane)
    nats_url = fresh_nats.url

    async def records() -> list[dict[str, Any]]:
        _, out, _ = await kubefedctl(
            cp,
            nats_url,
            "explain",
            f"federateddeployment/{NAME}",
            "-n",
            NS,
            "--history",
            "--last",
            "10",
            "-o",
            "json",
        )
        return list(json.loads(out)["history"])

    await eventually(lambda: records(), timeout=20)
    # change 2: placement (kubectl apply adds cluster3)
    sample = yaml.safe_load((DATA / "sample1" / "federateddeployment.yaml").read_text())
    sample["spec"]["placement"]["clusters"].append({"name": "cluster3"})
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(sample))
    await eventually(lambda: _has(records(), "clusters added: cluster3"), timeout=20)
    # change 3: an override (kubectl patch)
    patch = {
        "spec": {
            "overrides": [
                *sample["spec"]["overrides"],
                {"clusterName": "cluster3", "clusterOverrides": [{"path": "/spec/replicas", "value": 2}]},
            ]
        }
    }
    await cp.akubectl("patch", "federateddeployment", NAME, "-n", NS, "--type=merge", "-p", json.dumps(patch))
    await eventually(lambda: _has(records(), "overrides changed for cluster3"), timeout=20)
    # change 4: an RSP takes over the replicas
    rsp = {
        "apiVersion": "scheduling.kubefed.io/v1alpha1",
        "kind": "ReplicaSchedulingPreference",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "targetKind": "FederatedDeployment",
            "totalReplicas": 6,
            "rebalance": True,
            "clusters": {"*": {"weight": 1}},
        },
    }
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(rsp))
    # measured against the object before the RSP wrote it: cluster1 ran the template's 3
    history = await eventually(
        lambda: _has(records(), "replicas cluster1 3→2, cluster2 5→2", source="replicas"), timeout=20
    )

    placement = [r for r in history if r["source"] == "placement"]
    assert placement[0]["changes"] == ["first decision", "replicas cluster1=3, cluster2=5"]
    assert len(placement) >= 4  # create, apply, patch, the RSP's write
    managers = [r["manager"] for r in placement]
    if (_fed(cp)["metadata"]).get("managedFields"):  # a real kube-apiserver (tests/real) records them
        assert managers[1:3] == ["kubectl-client-side-apply", "kubectl-patch"] and "kubefed" in managers[3:]
    else:  # the simulator keeps no managedFields: nothing to name, and nothing invented
        assert managers == [""] * len(placement)
    assert all(re.fullmatch(r"[0-9a-f]{32}", r["trace_id"]) for r in history)
    assert len({r["trace_id"] for r in placement}) == len(placement)
    replicas = next(r for r in history if r["source"] == "replicas")
    assert replicas["inputs"]["readyClusters"] == ["cluster1", "cluster2", "cluster3"]
    assert replicas["inputs"]["weights"] == {"*": 1}
    assert {c["cluster"]: c["replicas"] for c in replicas["reasons"]} == {
        "cluster1": 2,
        "cluster2": 2,
        "cluster3": 2,
    }

    _, out, _ = await kubefedctl(
        cp, nats_url, "explain", f"federateddeployment/{NAME}", "-n", NS, "--history"
    )
    assert "FederatedDeployment test-namespace/test-deployment: current placement" in out
    # the table wraps long cells at a width that depends on the other columns: one-line facts only
    assert "clusters added: cluster3" in out, out
    if managers[0]:  # the CHANGED BY column names the managers a real API server recorded
        assert "kubectl-client-side-apply (Update)" in out and "kubectl-patch (Update)" in out, out
    assert any("overrides changed for cluster3" in r["changes"] for r in placement), placement
    _, out, _ = await kubefedctl(
        cp, nats_url, "explain", f"deployment/{NAME}", "-n", NS, "--cluster", "cluster3", "-o", "json"
    )
    reply = json.loads(out)
    assert [c["cluster"] for c in reply["clusters"]] == ["cluster3"]
    assert (
        reply["clusters"][0]["selected"]
        and "listed in spec.placement.clusters" in reply["clusters"][0]["reason"]
    )
    code, _, err = await kubefedctl(cp, nats_url, "explain", "nosuchkind/x", check=False)
    assert code == 1 and 'no enabled federated type is called "nosuchkind"' in err


async def _has(records: Any, text: str, source: str = "placement") -> list[dict[str, Any]] | None:
    found = await records
    if any(r["source"] == source and any(text in c for c in r["changes"]) for r in found):
        return found
    return None
