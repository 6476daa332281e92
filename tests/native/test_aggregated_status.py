"""Aggregated status of a native Deployment over three clusters, written back to the host object with a
per-cluster breakdown and Events (issue #16, part 3).

Covers: the host Deployment's ``status`` sums its three member copies (replicas, ready, available,
updated) and its ``observedGeneration`` follows the host generation once every member caught up; the
``kubefed.io/member-status`` annotation holds each cluster's counters and propagation status; a scale
on the host is reflected in every member and in the aggregate; ``CreateInCluster`` Events name the
clusters; the status the scheduler writes is not taken for a change (the watcher publishes nothing for
it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import subjects
from shared.messages import HostChange, decode
from shared.policy import MEMBER_STATUS_ANNOTATION
from tests.native.helpers import apply, host_events, nginx, policy
from tests.support.plane import ControlPlane, bus_client, eventually, scheduler_handled

pytestmark = pytest.mark.timeout(180)

MEMBERS = ["member1", "member2", "member3"]


def host_deployment(cp: ControlPlane) -> dict[str, Any]:
    obj = cp.host_object("apps", "deployments", "default", "nginx")
    assert obj is not None
    return obj


def breakdown(cp: ControlPlane) -> dict[str, Any]:
    raw = (host_deployment(cp)["metadata"].get("annotations") or {}).get(MEMBER_STATUS_ANNOTATION)
    return json.loads(raw) if raw else {}


def aggregated(cp: ControlPlane, replicas: int, generation: int) -> bool:
    status = host_deployment(cp).get("status") or {}
    return (
        status.get("replicas") == replicas
        and status.get("readyReplicas") == replicas
        and status.get("availableReplicas") == replicas
        and status.get("updatedReplicas") == replicas
        and status.get("observedGeneration") == generation
    )


async def test_deployment_status_aggregated_over_three_clusters(policy_plane: ControlPlane) -> None:
    cp = policy_plane
    await apply(cp, policy("everywhere", MEMBERS), nginx(replicas=2))
    await eventually(lambda: aggregated(cp, 6, 1), timeout=30)
    per_cluster = breakdown(cp)
    assert set(per_cluster) == set(MEMBERS)
    for cluster in MEMBERS:
        assert per_cluster[cluster]["readyReplicas"] == 2
        assert per_cluster[cluster]["availableReplicas"] == 2
        assert per_cluster[cluster]["propagation"] == ""
    event = await eventually(
        lambda: next((e for e in host_events(cp, "nginx") if e["reason"] == "CreateInCluster"), None)
    )
    assert event["involvedObject"]["kind"] == "Deployment"

    # scaled on the host: every member follows, the aggregate and observedGeneration too
    await apply(cp, nginx(replicas=3))
    await eventually(lambda: aggregated(cp, 9, 2), timeout=30)
    assert {c: breakdown(cp)[c]["readyReplicas"] for c in MEMBERS} == {c: 3 for c in MEMBERS}

    # the status and breakdown the scheduler wrote are not taken for changes: the watcher's last message
    # about the Deployment is still the scale (generation 2), older than the object now on the host
    async with bus_client(cp) as bus:
        last = await bus.get_last(
            subjects.STREAM_HOST, subjects.host_subject("deployments.apps", "default", "nginx")
        )
        assert last is not None
        change = decode(last[0])
        assert isinstance(change, HostChange) and change.generation == 2
        await eventually(lambda: scheduler_handled(bus, last[2]))
        assert change.resource_version != host_deployment(cp)["metadata"]["resourceVersion"]
