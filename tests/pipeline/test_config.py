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

from shared import subjects
from shared.telemetry import metrics
from tests.support.plane import (
    ControlPlane,
    bus_client,
    cluster_status,
    eventually,
    fed_configmap,
    host_change_seq,
    newer_host_change,
    ready,
    scheduler_handled,
)

pytestmark = pytest.mark.timeout(120)

SYS = "kube-federation-system"
CONFIGS = "kubefedconfigs.core.kubefed.io"
FCM = "federatedconfigmaps.types.kubefed.io"
FCR = "federatedclusterroles.types.kubefed.io"


async def _set_gate(cp: ControlPlane, name: str, value: str) -> None:
    gates = cp.host_object("core.kubefed.io", "kubefedconfigs", SYS, "kubefed")["spec"]["featureGates"]
    index = next(i for i, g in enumerate(gates) if g["name"] == name)
    await cp.akubectl(
        "patch",
        "kubefedconfig",
        "kubefed",
        "-n",
        SYS,
        "--type=json",
        "-p",
        json.dumps([{"op": "replace", "path": f"/spec/featureGates/{index}/configuration", "value": value}]),
    )


async def test_push_reconciler_gate_pauses_and_resumes(running: ControlPlane) -> None:
    cp = running
    async with bus_client(cp) as bus:
        before = await host_change_seq(bus, CONFIGS, SYS, "kubefed")
        await _set_gate(cp, "PushReconciler", "Disabled")
        # the scheduler reads the configuration while handling the watcher's message about it
        changed = await eventually(lambda: newer_host_change(bus, CONFIGS, SYS, "kubefed", before))
        await eventually(lambda: scheduler_handled(bus, changed))
        await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("paused")))
        created = await eventually(lambda: host_change_seq(bus, FCM, "fed", "paused"))
        await eventually(lambda: scheduler_handled(bus, created))  # decided (nothing) before acknowledged
        assert (
            await bus.get_last(subjects.STREAM_DESIRED, subjects.desired_subject(FCM, "fed", "paused"))
            is None
        )
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
    await cp.akubectl(
        "apply",
        "-f",
        "-",
        context="cluster1",
        input=yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SYS}}),
    )
    inside = {
        **fed_configmap("inside", placement={"clusters": [{"name": "cluster1"}]}),
        "metadata": {"name": "inside", "namespace": SYS},
    }
    outside = {
        **fed_configmap("outside", placement={"clusters": [{"name": "cluster1"}]}),
        "metadata": {"name": "outside", "namespace": "elsewhere"},
    }
    reader = {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedClusterRole",
        "metadata": {"name": "reader"},
        "spec": {
            "placement": {"clusters": [{"name": "cluster1"}]},
            "template": {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]},
        },
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "elsewhere"}}
    async with bus_client(cp) as bus:
        # what must be left alone first, then ``inside``: its propagation is the sign that the
        # pipeline has had the others in front of it
        await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all([namespace, reader, outside]))
        await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(inside))
        await eventually(lambda: cp.member_object("cluster1", "", "configmaps", SYS, "inside"))
        seq = await host_change_seq(bus, FCM, SYS, "inside")
        await eventually(lambda: scheduler_handled(bus, seq))
        for resource, ns, name in ((FCM, "elsewhere", "outside"), (FCR, "", "reader")):
            subject = subjects.desired_subject(resource, ns, name)
            assert await bus.get_last(subjects.STREAM_DESIRED, subject) is None, subject
    assert cp.member_object("cluster1", "", "configmaps", "elsewhere", "outside") is None
    assert cp.member_object("cluster1", "rbac.authorization.k8s.io", "clusterroles", None, "reader") is None


def _max_concurrent(controller: str) -> float | None:
    return metrics.registry.get_sample_value(
        "controller_runtime_max_concurrent_reconciles", {"controller": controller}
    )


async def test_sync_concurrency_follows_max_concurrent_reconciles(running: ControlPlane) -> None:
    """syncController.maxConcurrentReconciles caps the writes in flight per member, and a change applies
    live."""
    cp = running
    member = cp.fleet["cluster1"]
    for limit, batch in ((2, "two"), (6, "six")):
        await cp.akubectl(
            "patch",
            "kubefedconfig",
            "kubefed",
            "-n",
            SYS,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"syncController": {"maxConcurrentReconciles": limit}}}),
        )
        await eventually(lambda lim=limit: _max_concurrent("propagator") == lim, timeout=15)
        member.set_latency(0.25)
        member.peak_writes_in_flight = 0
        names = [f"{batch}-{i}" for i in range(14)]
        await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all([fed_configmap(n) for n in names]))
        await eventually(
            lambda ns=names: all(cp.member_object("cluster1", "", "configmaps", "fed", n) for n in ns),
            timeout=60,
        )
        member.set_latency(0.0)
        if limit == 2:
            assert member.peak_writes_in_flight == 2
        else:
            assert 4 <= member.peak_writes_in_flight <= 6


async def test_controller_durations_delay_requeue_after_readiness_changes(running: ControlPlane) -> None:
    """availableDelay / unavailableDelay: how long after a readiness change every object is looked at
    again."""
    cp = running
    await cp.akubectl(
        "patch",
        "kubefedconfig",
        "kubefed",
        "-n",
        SYS,
        "--type=merge",
        "-p",
        '{"spec":{"controllerDuration":{"availableDelay":"6s","unavailableDelay":"6s"}}}',
    )
    await asyncio.sleep(2.5)  # the propagator re-reads its configuration every second in these tests
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("steady")))
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "steady"))
    await eventually(
        lambda: cluster_status(cp, "federatedconfigmaps", "fed", "steady") == {"cluster1": "", "cluster2": ""}
    )
    loop = asyncio.get_running_loop()

    await cp.fleet["cluster2"].go_offline()
    await eventually(lambda: not ready(cp, "cluster2"), timeout=30, interval=0.1)
    not_ready_at = loop.time()
    await eventually(
        lambda: (
            cluster_status(cp, "federatedconfigmaps", "fed", "steady").get("cluster2") == "ClusterNotReady"
        ),
        timeout=30,
        interval=0.1,
    )
    assert loop.time() - not_ready_at >= 4.5, "an unchanged object was re-checked before unavailableDelay"

    # created while cluster2 is away: nothing in cluster2 mentions it, only the re-queue brings it there
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("while-away")))
    await eventually(
        lambda: (
            cluster_status(cp, "federatedconfigmaps", "fed", "while-away").get("cluster2")
            == "ClusterNotReady"
        )
    )
    await cp.fleet["cluster2"].go_online()
    await eventually(lambda: ready(cp, "cluster2"), timeout=30, interval=0.1)
    ready_at = loop.time()
    await eventually(
        lambda: cp.member_object("cluster2", "", "configmaps", "fed", "while-away"), timeout=30, interval=0.1
    )
    assert loop.time() - ready_at >= 4.5, "a returning cluster was caught up before availableDelay"
