"""``propagateDeps``: what a workload's pod template references follows it and is removed when no
propagated workload references it any more (issue #16, part 4).

Covers: Karmada's documented propagateDeps policy and workload, applied unchanged, bring the ConfigMap
the Deployment mounts to both clusters the Deployment is divided over; a change of the ConfigMap on the
host reaches the members; the Deployment switched from the ConfigMap to a Secret (``envFrom``): the
Secret follows, the ConfigMap is removed from both members while it stays on the host; the policy
narrowed to member1: the Secret leaves member2; the Deployment deleted: the Secret leaves member1 too.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.native.helpers import apply, apply_sample, member_deployment
from tests.support.plane import ControlPlane, eventually

pytestmark = pytest.mark.timeout(180)

BOTH = ["member1", "member2"]


def where(cp: ControlPlane, plural: str, name: str) -> list[str]:
    return [c for c in ["member1", "member2", "member3"] if cp.member_object(c, "", plural, "default", name)]


def with_secret(deployment: dict[str, Any]) -> dict[str, Any]:
    spec = deployment["spec"]["template"]["spec"]
    spec.pop("volumes")
    spec["containers"][0].pop("volumeMounts")
    spec["containers"][0]["envFrom"] = [{"secretRef": {"name": "creds"}}]
    return deployment


async def test_dependencies_follow_their_workload_and_are_removed_when_unreferenced(
    policy_plane: ControlPlane,
) -> None:
    cp = policy_plane
    await apply_sample(cp, "docs-propagate-deps.yaml")
    await apply_sample(cp, "docs-propagate-deps-workload.yaml")
    await eventually(lambda: where(cp, "configmaps", "my-nginx-config") == BOTH, timeout=30)
    await eventually(lambda: all(member_deployment(cp, c, "my-nginx") for c in BOTH))
    copy = cp.member_object("member1", "", "configmaps", "default", "my-nginx-config")
    assert copy is not None and "client-max-body-size" in copy["data"]["nginx.properties"]

    # the ConfigMap changed on the host: the members follow
    host_cm = cp.host_object("", "configmaps", "default", "my-nginx-config")
    assert host_cm is not None
    await apply(
        cp,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "my-nginx-config"},
            "data": {"k": "v2"},
        },
    )
    await eventually(
        lambda: all(
            (cp.member_object(c, "", "configmaps", "default", "my-nginx-config") or {}).get("data")
            == {"k": "v2"}
            for c in BOTH
        )
    )

    # the workload now references a Secret instead: the Secret follows, the ConfigMap leaves the members
    deployment = cp.host_object("apps", "deployments", "default", "my-nginx")
    assert deployment is not None
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds"},
        "stringData": {"token": "t"},
    }
    await apply(cp, secret)
    await apply(
        cp,
        with_secret(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "my-nginx", "labels": {"app": "my-nginx"}},
                "spec": deployment["spec"],
            }
        ),
    )
    await eventually(lambda: where(cp, "secrets", "creds") == BOTH, timeout=30)
    await eventually(lambda: where(cp, "configmaps", "my-nginx-config") == [], timeout=30)
    assert cp.host_object("", "configmaps", "default", "my-nginx-config") is not None

    # the policy narrowed to member1: the Deployment and its Secret leave member2
    narrowed = {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "my-nginx-propagation"},
        "spec": {
            "propagateDeps": True,
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "my-nginx"}],
            "placement": {"clusterAffinity": {"clusterNames": ["member1"]}},
        },
    }
    await apply(cp, narrowed)
    await eventually(lambda: where(cp, "secrets", "creds") == ["member1"], timeout=30)
    await eventually(lambda: member_deployment(cp, "member2", "my-nginx") is None)

    # the workload deleted: nothing references the Secret any more
    await cp.akubectl("delete", "deployment", "my-nginx", "-n", "default")
    await eventually(lambda: where(cp, "secrets", "creds") == [], timeout=30)
    assert cp.host_object("", "secrets", "default", "creds") is not None
