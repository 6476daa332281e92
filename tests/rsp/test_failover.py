"""Cluster failover for divided replicas (RSP) end to end, on a simulated fleet.

Covers: a member taken offline keeps its replicas for the RSP's toleration (measured: the eviction is
recorded no earlier than the toleration after the cluster's Ready condition turned False), then they
are planned onto the remaining clusters with a ``ReplicasEvicted`` Event naming the cluster and why;
its return without ``rebalance`` leaves the replicas where they went (a ``ClusterReturned`` Event, the
returned member scaled to 0), with ``rebalance`` spreads them back; a partition of half the fleet with
KubeFedConfig ``spec.failover.maxUnhealthyClusterPercent: 40`` holds every replica in place with a
``FailoverSuspended`` Event, and evicts once the partition shrinks below the threshold. Each test waits
for a positive sign (the cluster's Ready condition, an Event) before asserting what did not move.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import yaml

from shared.planning import EVICTIONS_ANNOTATION, decode_evictions
from tests.support.plane import DATA, ControlPlane, MakePlane, eventually, federate_namespace, is_ready

pytestmark = pytest.mark.timeout(150)

NS = "test-namespace"
NAME = "test-deployment"
TOLERATION = 3


def _fed(cp: ControlPlane) -> dict[str, Any]:
    return cp.host_object("types.kubefed.io", "federateddeployments", NS, NAME) or {}


def _replicas(cp: ControlPlane) -> dict[str, int]:
    spec = _fed(cp).get("spec") or {}
    placed = {c["name"] for c in (spec.get("placement") or {}).get("clusters") or []}
    out = {}
    for entry in spec.get("overrides") or []:
        for op in entry.get("clusterOverrides") or []:
            if op.get("path") == "/spec/replicas" and entry["clusterName"] in placed:
                out[entry["clusterName"]] = op["value"]
    return out


def _member_replicas(cp: ControlPlane, cluster: str) -> int | None:
    dep = cp.member_object(cluster, "apps", "deployments", NS, NAME)
    return None if dep is None else int(dep["spec"]["replicas"])


def _events(cp: ControlPlane, reason: str) -> list[dict[str, Any]]:
    return [
        e
        for e in cp.fleet["host"].list_objects("", "events", NS)
        if e.get("reason") == reason and (e.get("involvedObject") or {}).get("name") == NAME
    ]


def _ready_transition(cp: ControlPlane, cluster: str) -> float:
    kfc = cp.host_object("core.kubefed.io", "kubefedclusters", "kube-federation-system", cluster) or {}
    cond = kfc["status"]["conditions"][0]  # an unreachable cluster has only Offline=True (as KubeFed)
    assert cond["type"] != "Ready" or cond["status"] != "True"
    return datetime.fromisoformat(cond["lastTransitionTime"].replace("Z", "+00:00")).timestamp()


async def _setup(
    make_plane: MakePlane,
    members: list[str],
    *,
    rebalance: bool,
    config: dict[str, Any] | None = None,
    toleration: int = TOLERATION,
) -> ControlPlane:
    cp = await make_plane(members)
    if config:
        await cp.install_kubefed_api({"clusterHealthCheck": {"period": "1s"}, **config})
    cp.start("watcher", "watcher")
    cp.start("scheduler", "scheduler")
    cp.start("propagator", "propagator")
    await eventually(lambda: all(is_ready(cp, m) for m in members))
    await federate_namespace(cp, NS)
    await cp.akubectl("apply", "-f", str(DATA / "sample1" / "federateddeployment.yaml"))
    rsp = {
        "apiVersion": "scheduling.kubefed.io/v1alpha1",
        "kind": "ReplicaSchedulingPreference",
        "metadata": {"name": NAME, "namespace": NS},
        "spec": {
            "targetKind": "FederatedDeployment",
            "totalReplicas": 3 * len(members),
            "rebalance": rebalance,
            "clusters": {"*": {"weight": 1}},
            "failover": {"tolerationSeconds": toleration},
        },
    }
    # first with rebalance, so the split is even whatever the members ran before (without rebalance
    # KubeFed's planner keeps the replicas the sample already runs); then the RSP under test, which
    # every later reconcile reads afresh
    await cp.akubectl(
        "apply", "-f", "-", input=yaml.safe_dump({**rsp, "spec": {**rsp["spec"], "rebalance": True}})
    )
    even = dict.fromkeys(members, 3)
    await eventually(lambda: _replicas(cp) == even)
    await eventually(lambda: all(_member_replicas(cp, m) == 3 for m in members), timeout=30)
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(rsp))
    return cp


async def _offline_then_evicted(cp: ControlPlane, cluster: str, survivors: list[str]) -> None:
    await cp.fleet[cluster].go_offline()
    await eventually(lambda: not is_ready(cp, cluster), timeout=30)
    down_at = _ready_transition(cp, cluster)
    assert cluster in _replicas(cp)  # within the toleration the cluster keeps its share
    events = await eventually(lambda: _events(cp, "ReplicasEvicted"), timeout=40)
    assert f"Cluster {cluster} not Ready for" in events[0]["message"]
    assert f"longer than the toleration of {TOLERATION}s" in events[0]["message"]
    split = await eventually(lambda: (r := _replicas(cp)) and cluster not in r and r, timeout=20)
    assert sum(split.values()) == 9 and set(split) == set(survivors)
    evicted = decode_evictions((_fed(cp)["metadata"]).get("annotations"))
    assert set(evicted) == {cluster}
    # the toleration was honoured: evicted no earlier than TOLERATION s after Ready turned False
    # (lastTransitionTime has second precision)
    assert evicted[cluster].at >= down_at + TOLERATION - 1
    await eventually(lambda: sum(_member_replicas(cp, m) or 0 for m in survivors) == 9, timeout=30)


async def test_member_offline_then_back_without_rebalance(make_plane: MakePlane) -> None:
    members = ["cluster1", "cluster2", "cluster3"]
    cp = await _setup(make_plane, members, rebalance=False)
    await _offline_then_evicted(cp, "cluster2", ["cluster1", "cluster3"])
    moved = _replicas(cp)

    await cp.fleet["cluster2"].go_online()
    returned = await eventually(lambda: _events(cp, "ClusterReturned"), timeout=40)
    assert "rebalance is not set, replicas stay where they are" in returned[0]["message"]
    # the returned member is scaled to 0; the survivors keep what they run
    await eventually(lambda: _member_replicas(cp, "cluster2") == 0, timeout=30)
    await eventually(
        lambda: EVICTIONS_ANNOTATION not in ((_fed(cp)["metadata"]).get("annotations") or {}), timeout=30
    )
    now = _replicas(cp)
    assert {c: n for c, n in now.items() if n} == moved and now.get("cluster2", 0) == 0


async def test_member_back_with_rebalance_gets_its_share(make_plane: MakePlane) -> None:
    members = ["cluster1", "cluster2", "cluster3"]
    cp = await _setup(make_plane, members, rebalance=True)
    await _offline_then_evicted(cp, "cluster2", ["cluster1", "cluster3"])

    await cp.fleet["cluster2"].go_online()
    returned = await eventually(lambda: _events(cp, "ClusterReturned"), timeout=40)
    assert "rebalance is set, replicas are planned back" in returned[0]["message"]
    await eventually(lambda: _replicas(cp) == dict.fromkeys(members, 3), timeout=30)
    await eventually(lambda: all(_member_replicas(cp, m) == 3 for m in members), timeout=30)
    assert EVICTIONS_ANNOTATION not in ((_fed(cp)["metadata"]).get("annotations") or {})


async def test_partition_of_half_the_fleet_holds_replicas(make_plane: MakePlane) -> None:
    members = ["cluster1", "cluster2", "cluster3", "cluster4"]
    # a longer toleration: the two clusters must both be seen not Ready before either could be evicted
    cp = await _setup(
        make_plane,
        members,
        rebalance=False,
        config={"failover": {"maxUnhealthyClusterPercent": 40}},
        toleration=8,
    )
    await cp.fleet["cluster3"].go_offline()
    await cp.fleet["cluster4"].go_offline()
    await eventually(lambda: not is_ready(cp, "cluster3") and not is_ready(cp, "cluster4"), timeout=30)
    suspended = await eventually(lambda: _events(cp, "FailoverSuspended"), timeout=40)
    assert "2/4 clusters not Ready, more than 40%: eviction suspended" in suspended[0]["message"]
    assert _replicas(cp) == dict.fromkeys(members, 3)
    assert _events(cp, "ReplicasEvicted") == []
    assert EVICTIONS_ANNOTATION not in ((_fed(cp)["metadata"]).get("annotations") or {})

    # the partition shrinks to 1/4 (25 % ≤ 40 %): the remaining not-Ready cluster is evicted
    await cp.fleet["cluster4"].go_online()
    events = await eventually(lambda: _events(cp, "ReplicasEvicted"), timeout=40)
    assert "Cluster cluster3 " in events[0]["message"]
    split = await eventually(lambda: (r := _replicas(cp)) and "cluster3" not in r and r, timeout=20)
    assert sum(split.values()) == 12
