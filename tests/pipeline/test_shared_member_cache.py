"""End to end: the propagator's member caches share the content of equal member objects (issue #18).

Covers, over simulated clusters and a real nats-server with a 2-second resync: objects whose members
hold equal content (shared in the cache) and objects whose content differs per member (an override)
get no write on a periodic resync, only compares; drift in one member is corrected in that member
alone, and the other member, which held the same content before the drift, gets no write.
"""

from __future__ import annotations

import pytest
import yaml

from tests.support.objects import namespace_federated_to_all
from tests.support.plane import (
    ControlPlane,
    bus_client,
    cluster_status,
    eventually,
    fed_configmap,
    ready,
    status_tap,
)

pytestmark = pytest.mark.timeout(120)

BOTH = {"cluster1": "", "cluster2": ""}


async def test_resync_compares_only_and_drift_in_one_member_is_corrected_there_alone(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    for member in ("cluster1", "cluster2"):
        await cp.join(member)
    cp.start("watcher", "watcher")
    cp.start("scheduler", "scheduler")
    cp.start("propagator", "propagator", resync_period=2.0)
    await eventually(lambda: ready(cp, "cluster1") and ready(cp, "cluster2"))
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(namespace_federated_to_all()))
    overridden = fed_configmap(
        "per-cluster",
        data={"k": "v"},
        overrides=[{"clusterName": "cluster2", "clusterOverrides": [{"path": "/data", "value": {"k": "2"}}]}],
    )
    docs = [fed_configmap("same", data={"k": "v", "payload": "x" * 200}), overridden]
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    for name in ("same", "per-cluster"):
        await eventually(lambda name=name: cluster_status(cp, "federatedconfigmaps", "fed", name) == BOTH)
    assert cp.member_object("cluster2", "", "configmaps", "fed", "per-cluster")["data"] == {"k": "2"}
    members = {c: cp.fleet[c] for c in BOTH}
    versions = {
        c: cp.member_object(c, "", "configmaps", "fed", "same")["metadata"]["resourceVersion"] for c in BOTH
    }
    async with bus_client(cp) as bus, status_tap(bus) as tap:
        writes = {c: m.write_count for c, m in members.items()}
        # two resyncs have compared every object in both members: the sign that nothing was left to write
        await eventually(
            lambda: all(
                sum(o.op == "unchanged" for o in tap.of(c, name)) >= 2
                for c in BOTH
                for name in ("same", "per-cluster")
            ),
            timeout=30,
        )
        assert {c: m.write_count for c, m in members.items()} == writes
        assert {o.op for c in BOTH for n in ("same", "per-cluster") for o in tap.of(c, n)} == {"unchanged"}

        # drift in cluster1: corrected there; cluster2, which held the same content, is left alone
        await cp.akubectl(
            "patch",
            "configmap",
            "same",
            "-n",
            "fed",
            "--type=merge",
            "-p",
            '{"data":{"k":"edited"}}',
            context="cluster1",
        )
        await eventually(
            lambda: (
                cp.member_object("cluster1", "", "configmaps", "fed", "same")["data"]
                == {"k": "v", "payload": "x" * 200}
            )
        )
        await eventually(lambda: any(o.op == "updated" for o in tap.of("cluster1", "same")))
        # a later resync compares the corrected object again (the sign cluster2 was looked at after it)
        seen = len(tap.of("cluster2", "same"))
        await eventually(lambda: len(tap.of("cluster2", "same")) > seen + 1, timeout=30)
        assert members["cluster2"].write_count == writes["cluster2"]
        assert (
            cp.member_object("cluster2", "", "configmaps", "fed", "same")["metadata"]["resourceVersion"]
            == versions["cluster2"]
        )
        assert not any(o.op == "updated" for o in tap.of("cluster2", "same"))
