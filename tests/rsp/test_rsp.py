"""Replica scheduling end to end: RSP → scheduler → federated object → propagators → members.

Covers: KubeFed's sample RSP manifest (weights 2:3 over ten replicas, a cluster without preference
gets 0, the sample's other overrides kept); the documented outcomes of the user guide (9 replicas
A1:B2 → 3/6; A{min4,max6,w1} B{min4,max8,w2} total 9 → 4/5; 50 replicas with "*" and C max 20 →
16/17/17, then B offline → 30/20); an RSP change that does not change the plan writes nothing;
capacity estimated from pods that stay unschedulable moves replicas (KubeFed's overflow quirk, and
the opt-in ``capacityAware``); intersectWithClusterSelector narrows the candidates; the RSP write is traced as
a child of the incoming message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.telemetry import configure_tracing
from tests.support.plane import DATA, ControlPlane, MakePlane, eventually, federate_namespace, is_ready

pytestmark = pytest.mark.timeout(120)

NS = "test-namespace"
NAME = "test-deployment"


def _fed(cp: ControlPlane) -> dict[str, Any]:
    return cp.host_object("types.kubefed.io", "federateddeployments", NS, NAME) or {}


def _replica_overrides(cp: ControlPlane) -> dict[str, int]:
    out = {}
    for entry in (_fed(cp).get("spec") or {}).get("overrides") or []:
        for op in entry.get("clusterOverrides") or []:
            if op.get("path") == "/spec/replicas":
                out[entry["clusterName"]] = op["value"]
    return out


def _placement(cp: ControlPlane) -> set[str]:
    return {c["name"] for c in ((_fed(cp).get("spec") or {}).get("placement") or {}).get("clusters") or []}


def _member_replicas(cp: ControlPlane, cluster: str) -> int | None:
    dep = cp.member_object(cluster, "apps", "deployments", NS, NAME)
    return None if dep is None else int(dep["spec"]["replicas"])


async def _apply_rsp(cp: ControlPlane, spec: dict[str, Any]) -> None:
    rsp = {
        "apiVersion": "scheduling.kubefed.io/v1alpha1",
        "kind": "ReplicaSchedulingPreference",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": spec,
    }
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(rsp))


async def _start(cp: ControlPlane, members: list[str], **propagator: Any) -> None:
    cp.start("watcher", "watcher")
    cp.start("scheduler", "scheduler")
    cp.start("propagator", "propagator", **propagator)
    await eventually(lambda: all(is_ready(cp, m) for m in members))
    await federate_namespace(cp, NS)
    await cp.akubectl("apply", "-f", str(DATA / "sample1" / "federateddeployment.yaml"))


async def test_sample_rsp_and_documented_outcomes(make_plane: MakePlane) -> None:
    spans = InMemorySpanExporter()
    configure_tracing("test", extra_processors=(SimpleSpanProcessor(spans),))
    members = ["cluster1", "cluster2", "cluster3"]
    cp = await make_plane(members)
    await _start(cp, members)
    await cp.akubectl("apply", "-f", str(DATA / "scheduling" / "federateddeployment-rsp.yaml"))

    # the sample: 10 replicas, cluster1 weight 2, cluster2 weight 3; cluster3 has no entry → 0
    await eventually(lambda: _replica_overrides(cp) == {"cluster1": 4, "cluster2": 6, "cluster3": 0})
    assert _placement(cp) == set(members)
    sample_ops = next(e for e in _fed(cp)["spec"]["overrides"] if e["clusterName"] == "cluster2")[
        "clusterOverrides"
    ]
    assert {"path": "/spec/template/spec/containers/0/image", "value": "nginx:1.17.0-alpine"} in sample_ops
    await eventually(lambda: [_member_replicas(cp, m) for m in members] == [4, 6, 0])

    # an RSP change that leaves the plan as it is writes nothing: the label-only change and the
    # next real change are handled in order, so exactly one spec change follows
    generation = _fed(cp)["metadata"]["generation"]
    await cp.akubectl("label", "rsp", NAME, "-n", NS, "touched=yes")
    await _apply_rsp(
        cp,
        {
            "targetKind": "FederatedDeployment",
            "totalReplicas": 9,
            "rebalance": True,
            "clusters": {"cluster1": {"weight": 1}, "cluster2": {"weight": 2}},
        },
    )
    await eventually(lambda: _replica_overrides(cp) == {"cluster1": 3, "cluster2": 6, "cluster3": 0})
    assert _fed(cp)["metadata"]["generation"] == generation + 1

    await _apply_rsp(
        cp,
        {
            "targetKind": "FederatedDeployment",
            "totalReplicas": 9,
            "rebalance": True,
            "clusters": {
                "cluster1": {"minReplicas": 4, "maxReplicas": 6, "weight": 1},
                "cluster2": {"minReplicas": 4, "maxReplicas": 8, "weight": 2},
            },
        },
    )
    await eventually(lambda: _replica_overrides(cp) == {"cluster1": 4, "cluster2": 5, "cluster3": 0})

    await _apply_rsp(
        cp,
        {
            "targetKind": "FederatedDeployment",
            "totalReplicas": 50,
            "rebalance": True,
            "clusters": {"*": {"weight": 1}, "cluster3": {"maxReplicas": 20, "weight": 1}},
        },
    )
    split = await eventually(lambda: (r := _replica_overrides(cp)) and sum(r.values()) == 50 and r)
    assert sorted(split.values()) == [16, 17, 17] and split["cluster3"] <= 20
    await eventually(lambda: [_member_replicas(cp, m) for m in members] == [split[m] for m in members])

    await cp.fleet["cluster2"].go_offline()
    await eventually(lambda: _replica_overrides(cp) == {"cluster1": 30, "cluster3": 20}, timeout=30)
    assert _placement(cp) == {"cluster1", "cluster3"}
    await eventually(lambda: (_member_replicas(cp, "cluster1"), _member_replicas(cp, "cluster3")) == (30, 20))

    # every write of the plan is a child of "schedule replicas", itself inside the process span of
    # the message that caused it (RSP, federated object, member observation or cluster change)
    by_id = {s.context.span_id: s for s in spans.get_finished_spans()}
    writes = [
        s
        for s in by_id.values()
        if s.name == "PATCH"
        and "federateddeployments" in str(s.attributes.get("url.path"))
        and s.parent is not None
        and getattr(by_id.get(s.parent.span_id), "name", "") == "schedule replicas"
    ]
    assert len(writes) >= 5
    for write in writes:
        schedule = by_id[write.parent.span_id]
        assert schedule.parent is not None and by_id[schedule.parent.span_id].name.startswith(
            "process kubefed."
        )
    causes = {by_id[by_id[w.parent.span_id].parent.span_id].name for w in writes}
    assert "process kubefed.host.{resource}.{namespace}.{name}" in causes


async def test_capacity_moves_replicas(make_plane: MakePlane) -> None:
    members = ["cluster1", "cluster2"]
    cp = await make_plane(members, capacity={"cluster1": 5})
    await _start(cp, members, unschedulable_after=1.0)
    spec: dict[str, Any] = {
        "targetKind": "FederatedDeployment",
        "totalReplicas": 12,
        "rebalance": True,
        "clusters": {"*": {"weight": 1}},
    }
    await _apply_rsp(cp, spec)
    # 6 + 6 at first; cluster1 runs only 5 pods, the sixth stays unschedulable past the threshold,
    # capacity becomes 5 and cluster2 takes the excess. KubeFed keeps the overflow on cluster1 too.
    await eventually(lambda: _replica_overrides(cp) == {"cluster1": 6, "cluster2": 7}, timeout=30)
    await eventually(lambda: (_member_replicas(cp, "cluster1"), _member_replicas(cp, "cluster2")) == (6, 7))

    # opt-in: capacity-aware scheduling moves the excess instead of piling it up where it cannot run
    await _apply_rsp(cp, {**spec, "capacityAware": True})
    await eventually(lambda: _replica_overrides(cp) == {"cluster1": 5, "cluster2": 7})
    await eventually(lambda: _member_replicas(cp, "cluster1") == 5)
    memory = json.loads(_fed(cp)["metadata"]["annotations"]["scheduling.kubefed.io/estimated-capacity"])
    assert memory["cluster1"]["pods"] == 5
    # once cluster1 runs what it can, the remembered estimate keeps the plan stable
    dep = await eventually(
        lambda: (
            (d := cp.member_object("cluster1", "apps", "deployments", NS, NAME))
            and (d.get("status") or {}).get("readyReplicas") == 5
            and d
        )
    )
    assert dep["spec"]["replicas"] == 5
    assert _replica_overrides(cp) == {"cluster1": 5, "cluster2": 7}

    # intersectWithClusterSelector: candidates are the ready clusters the clusterSelector picks
    await cp.akubectl("label", "kubefedcluster", "cluster2", "-n", "kube-federation-system", "pool=b")
    await cp.akubectl(
        "patch",
        "federateddeployment",
        NAME,
        "-n",
        NS,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"placement": {"clusterSelector": {"matchLabels": {"pool": "b"}}}}}),
    )
    await _apply_rsp(cp, {**spec, "intersectWithClusterSelector": True})
    await eventually(lambda: _replica_overrides(cp) == {"cluster2": 12} and _placement(cp) == {"cluster2"})
    await eventually(
        lambda: _member_replicas(cp, "cluster1") is None and _member_replicas(cp, "cluster2") == 12
    )
