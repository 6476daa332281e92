"""Native Deployments federated by Karmada's PropagationPolicy / OverridePolicy, end to end on simulated
clusters (issue #16, part 2).

Covers: Karmada's documented PropagationPolicy and its documented update, applied unchanged, propagate a
Deployment to member1 and then move it to member2 (removed from member1), while the host runs no pods
for it; a later higher-priority policy does not take a claimed Deployment until it has
``preemption: Always``; Divided replicas by a static weight list and by ``dynamicWeight:
AvailableReplicas`` (the members hold 8 / 4 / 20 pods); an OverridePolicy ``imageOverrider`` reaching
one cluster only; deleting the policy or the Deployment removes the member copies; bad input is refused
by the API server (unsupported Karmada field) or named in a Warning Event (a policy or an overrider
the schema cannot check).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import subjects
from shared.karmada_api import UNSUPPORTED_MESSAGE
from shared.messages import ClusterHealthReport, decode
from shared.policy import CLAIM_LABELS
from tests.native.helpers import (
    apply,
    apply_sample,
    host_events,
    member_deployment,
    nginx,
    policy,
    replicas_in,
    settled,
)
from tests.support.plane import (
    ControlPlane,
    bus_client,
    eventually,
    host_change_seq,
    scheduler_handled,
    status_tap,
)

pytestmark = pytest.mark.timeout(180)

MEMBERS = ["member1", "member2", "member3"]


def host_pods(cp: ControlPlane) -> list[str]:
    return [p["metadata"]["name"] for p in cp.fleet["host"].list_objects("", "pods", "default")]


async def test_karmada_documented_policy_and_its_update_move_a_deployment(policy_plane: ControlPlane) -> None:
    cp = policy_plane
    async with bus_client(cp) as bus, status_tap(bus) as tap:
        await apply_sample(cp, "docs-propagationpolicy.yaml")
        await apply_sample(cp, "samples-nginx-deployment.yaml")
        await eventually(lambda: member_deployment(cp, "member1", "nginx"))
        d = await settled(bus, tap, "nginx", MEMBERS)
        assert d.clusters == ["member1"]
        assert member_deployment(cp, "member2", "nginx") is None
        assert member_deployment(cp, "member3", "nginx") is None
        copy = member_deployment(cp, "member1", "nginx")
        assert copy is not None
        assert copy["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"
        assert copy["metadata"]["labels"]["kubefed.io/managed"] == "true"
        assert CLAIM_LABELS["name"] not in copy["metadata"]["labels"]
        # the member runs it; the host holds the template only, claimed by the policy
        await eventually(lambda: cp.fleet["member1"].list_objects("", "pods", "default"))
        host = cp.host_object("apps", "deployments", "default", "nginx")
        assert host is not None
        assert host["metadata"]["labels"][CLAIM_LABELS["name"]] == "example-policy"
        assert host["metadata"]["labels"][CLAIM_LABELS["namespace"]] == "default"
        assert cp.fleet["host"].list_objects("apps", "replicasets", "default") == []
        assert host_pods(cp) == []

        # Karmada's documented update: clusterNames member1 -> member2
        await apply_sample(cp, "docs-propagationpolicy-update.yaml")
        await eventually(
            lambda: (
                member_deployment(cp, "member2", "nginx") and not member_deployment(cp, "member1", "nginx")
            )
        )
        d = await settled(bus, tap, "nginx", MEMBERS)
        assert d.clusters == ["member2"]
        assert member_deployment(cp, "member3", "nginx") is None
        assert host_pods(cp) == []

        # the Deployment deleted on the host: its copy goes too, and the decision is purged
        await cp.akubectl("delete", "deployment", "nginx", "-n", "default")
        await eventually(lambda: member_deployment(cp, "member2", "nginx") is None)


async def test_priority_and_preemption_between_two_policies(policy_plane: ControlPlane) -> None:
    cp = policy_plane
    async with bus_client(cp) as bus, status_tap(bus) as tap:
        await apply(cp, policy("low", ["member1"], priority=1), nginx())
        await eventually(lambda: member_deployment(cp, "member1", "nginx"))
        # a higher-priority policy without preemption does not take a claimed template: once the
        # scheduler has handled the new policy, a change of the Deployment is decided with it in view
        await apply(cp, policy("high", ["member2"], priority=5))
        seq = await eventually(
            lambda: host_change_seq(bus, "propagationpolicies.policy.karmada.io", "default", "high")
        )
        await eventually(lambda: scheduler_handled(bus, seq))
        await apply(cp, nginx(labels={"after": "high"}))
        d = await settled(
            bus,
            tap,
            "nginx",
            MEMBERS,
            where=lambda d: d.template["metadata"]["labels"].get("after") == "high",
        )
        assert d.clusters == ["member1"]
        host = cp.host_object("apps", "deployments", "default", "nginx")
        assert host is not None and host["metadata"]["labels"][CLAIM_LABELS["name"]] == "low"
        # with preemption: Always it preempts the lower-priority claim
        await apply(cp, policy("high", ["member2"], priority=5, preemption="Always"))
        await eventually(
            lambda: (
                member_deployment(cp, "member2", "nginx") and not member_deployment(cp, "member1", "nginx")
            )
        )
        host = cp.host_object("apps", "deployments", "default", "nginx")
        assert host is not None and host["metadata"]["labels"][CLAIM_LABELS["name"]] == "high"
        await eventually(lambda: any(e["reason"] == "PreemptPolicySucceed" for e in host_events(cp, "nginx")))
        # the policy deleted: nothing selects the Deployment any more, its copy is removed
        await cp.akubectl("delete", "propagationpolicy", "high", "-n", "default")
        await eventually(lambda: member_deployment(cp, "member1", "nginx"))  # "low" matches again
        await cp.akubectl("delete", "propagationpolicy", "low", "-n", "default")
        await eventually(lambda: not any(member_deployment(cp, m, "nginx") for m in MEMBERS))
        host = cp.host_object("apps", "deployments", "default", "nginx")
        assert host is not None and CLAIM_LABELS["name"] not in (host["metadata"].get("labels") or {})


async def test_divided_replicas_by_static_weights(policy_plane: ControlPlane) -> None:
    cp = policy_plane
    divided = {
        "replicaScheduling": {
            "replicaSchedulingType": "Divided",
            "replicaDivisionPreference": "Weighted",
            "weightPreference": {
                "staticWeightList": [
                    {"targetCluster": {"clusterNames": ["member1"]}, "weight": 2},
                    {"targetCluster": {"clusterNames": ["member2"]}, "weight": 1},
                ]
            },
        }
    }
    await apply(
        cp, policy("divided", ["member1", "member2", "member3"], placement=divided), nginx(replicas=6)
    )
    await eventually(lambda: replicas_in(cp, MEMBERS, "nginx") == {"member1": 4, "member2": 2})
    # the template's replicas change: divided again
    await apply(cp, nginx(replicas=9))
    await eventually(lambda: replicas_in(cp, MEMBERS, "nginx") == {"member1": 6, "member2": 3})


async def test_divided_replicas_by_available_replicas(policy_plane: ControlPlane) -> None:
    cp = policy_plane
    dynamic = {
        "replicaScheduling": {
            "replicaSchedulingType": "Divided",
            "replicaDivisionPreference": "Weighted",
            "weightPreference": {"dynamicWeight": "AvailableReplicas"},
        }
    }
    # member1 holds 8 pods and member2 4 (conftest): 8 replicas are weighted 8:4
    await apply(cp, policy("dynamic", ["member1", "member2"], placement=dynamic), nginx(replicas=8))
    await eventually(lambda: replicas_in(cp, MEMBERS, "nginx") == {"member1": 6, "member2": 2}, timeout=30)
    async with bus_client(cp) as bus, status_tap(bus) as tap:
        # once the members report their pods running (8 - 6 and 4 - 2 left), a re-decision must still
        # count the workload's own pods as available to it: 2:2 free alone could not hold 8 replicas
        async def running(cluster: str) -> int | None:
            last = await bus.get_last(subjects.STREAM_HEALTH, subjects.health_subject(cluster))
            report = decode(last[0]) if last else None
            return report.running_pods if isinstance(report, ClusterHealthReport) else None

        await eventually(lambda: _equals(running("member1"), 6), timeout=30)
        await eventually(lambda: _equals(running("member2"), 2), timeout=30)

        async def health_consumed() -> bool:  # the scheduler's health writer has taken them in
            info = await bus.js.consumer_info(subjects.STREAM_HEALTH, "health-writer")
            return not info.num_pending and not info.num_ack_pending

        await eventually(health_consumed, timeout=30)
        await apply(cp, nginx(replicas=8, labels={"touched": "yes"}))
        d = await settled(
            bus,
            tap,
            "nginx",
            MEMBERS,
            where=lambda d: d.template["metadata"]["labels"].get("touched") == "yes",
        )
        assert d.aggregate_reason == ""
        assert d.clusters == ["member1", "member2"]
    assert replicas_in(cp, MEMBERS, "nginx") == {"member1": 6, "member2": 2}


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_override_policy_image_reaches_one_cluster(policy_plane: ControlPlane) -> None:
    cp = policy_plane
    override = {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "OverridePolicy",
        "metadata": {"name": "registry"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}],
            "overrideRules": [
                {
                    "targetCluster": {"clusterNames": ["member2"]},
                    "overriders": {
                        "imageOverrider": [
                            {"component": "Registry", "operator": "replace", "value": "registry.eu"}
                        ]
                    },
                }
            ],
        },
    }
    await apply(cp, override, policy("both", ["member1", "member2"]), nginx(image="nginx:1.27"))

    def images() -> dict[str, str]:
        out = {}
        for cluster in ("member1", "member2"):
            obj = member_deployment(cp, cluster, "nginx")
            if obj is not None:
                out[cluster] = obj["spec"]["template"]["spec"]["containers"][0]["image"]
        return out

    await eventually(lambda: images() == {"member1": "nginx:1.27", "member2": "registry.eu/nginx:1.27"})
    # the override removed: member2 gets the template's image back
    await cp.akubectl("delete", "overridepolicy", "registry", "-n", "default")
    await eventually(lambda: images() == {"member1": "nginx:1.27", "member2": "nginx:1.27"})


async def test_bad_input_is_refused_or_named(policy_plane: ControlPlane) -> None:
    cp = policy_plane
    # a Karmada field outside the subset: the API server refuses it and says why
    spread = policy("spread", ["member1"], placement={"spreadConstraints": [{"maxGroups": 2}]})
    with pytest.raises(AssertionError) as refusal:
        await apply(cp, spread)
    refused = str(refusal.value)
    assert "spec.placement.spreadConstraints" in refused and UNSUPPORTED_MESSAGE in refused
    assert cp.host_object("policy.karmada.io", "propagationpolicies", "default", "spread") is None
    # a selector the schema cannot check (In without values): stored, ignored, and named in an Event
    bad = policy("bad", None)
    bad["spec"]["placement"] = {
        "clusterAffinity": {"labelSelector": {"matchExpressions": [{"key": "region", "operator": "In"}]}}
    }
    await apply(cp, bad, nginx())
    event = await eventually(
        lambda: next((e for e in host_events(cp, "bad") if e["reason"] == "InvalidPolicy"), None)
    )
    assert "matchExpressions[0].values: Required value" in event["message"]
    # an imageOverrider on a kind with no known image location: a Warning on the template, no copy
    cm_policy = policy(
        "cm", ["member1"], selector={"apiVersion": "v1", "kind": "ConfigMap", "name": "settings"}
    )
    override = {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": "OverridePolicy",
        "metadata": {"name": "cm-image"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "settings"}],
            "overrideRules": [
                {
                    "overriders": {
                        "imageOverrider": [{"component": "Tag", "operator": "replace", "value": "v2"}]
                    }
                }
            ],
        },
    }
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"k": "v"}}
    await apply(cp, cm_policy, override, cm)
    warning = await eventually(
        lambda: next((e for e in host_events(cp, "settings") if e["reason"] == "ApplyOverridesFailed"), None)
    )
    assert "imageOverrider without predicate" in warning["message"], json.dumps(warning)
    assert cp.member_object("member1", "", "configmaps", "default", "settings") is None
