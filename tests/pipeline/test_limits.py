"""Objects the member or the bus cannot take: a clear status, never a crash, others keep flowing.

Covers: an immutable-field change (a Deployment's selector) that the member rejects shows
``UpdateFailed`` with an event carrying the member's message; a federated object whose decision is
larger than the NATS server's max_payload shows ``ComputeResourceFailed`` in every placement cluster
and a Warning event, while a normal object created afterwards propagates.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from kubefed.natsd import NatsServer
from tests.support.plane import ControlPlane, cluster_status, eventually, fed_configmap

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def fresh_nats() -> Iterator[NatsServer]:
    """A nats-server that accepts at most 64 KiB per message."""
    server = NatsServer(max_payload=64 * 1024).start()
    yield server
    server.close()


def _deployment(selector_value: str) -> dict:
    labels = {"app": selector_value}
    return {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedDeployment",
        "metadata": {"name": "immutable", "namespace": "fed"},
        "spec": {
            "placement": {"clusters": [{"name": "cluster1"}]},
            "template": {
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                    },
                }
            },
        },
    }


async def test_member_rejecting_an_immutable_change_is_reported(running: ControlPlane) -> None:
    cp = running
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(_deployment("a")))
    await eventually(
        lambda: cluster_status(cp, "federateddeployments", "fed", "immutable") == {"cluster1": ""}
    )
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(_deployment("b")))
    await eventually(
        lambda: cluster_status(cp, "federateddeployments", "fed", "immutable") == {"cluster1": "UpdateFailed"}
    )
    member = cp.member_object("cluster1", "apps", "deployments", "fed", "immutable")
    assert member["spec"]["selector"] == {"matchLabels": {"app": "a"}}
    await eventually(
        lambda: any(
            e["reason"] == "UpdateInClusterFailed" and "field is immutable" in e["message"]
            for e in cp.fleet["host"].list_objects("", "events", "fed")
        )
    )


async def test_decision_larger_than_the_bus_allows_is_reported(running: ControlPlane) -> None:
    cp = running
    big = fed_configmap("huge", data={"blob": "x" * (100 * 1024)})
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(big))
    await eventually(
        lambda: (
            cluster_status(cp, "federatedconfigmaps", "fed", "huge")
            == {"cluster1": "ComputeResourceFailed", "cluster2": "ComputeResourceFailed"}
        )
    )
    await eventually(
        lambda: any(
            e["reason"] == "ComputeResourceFailed" and "the NATS server accepts" in e["message"]
            for e in cp.fleet["host"].list_objects("", "events", "fed")
        )
    )
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump(fed_configmap("small")))
    await eventually(lambda: cp.member_object("cluster2", "", "configmaps", "fed", "small"))
    assert cp.member_object("cluster1", "", "configmaps", "fed", "huge") is None
