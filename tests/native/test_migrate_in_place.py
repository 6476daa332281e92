"""``kubefedctl migrate`` in place, end to end on simulated clusters (issue #16, part 5).

A namespace under KubeFed (a FederatedNamespace, a FederatedConfigMap and a FederatedDeployment with
overrides, placed in member1 and member2, nothing in member3) is migrated while watcher, scheduler and
propagator run. First a failure half-way: the host refuses to create the native Deployment, so the
ConfigMap migrates, the FederatedDeployment is recreated and KubeFed takes its member objects back, the
FederatedNamespace is not touched. Then, the fault cleared, the same command migrates the rest. Across
both runs the member objects keep their uid, and the members answered no successful create or delete
(the simulator's per-cluster ``writes_by_outcome``), only updates; member3 got no write at all. At the
end the native objects and their policies exist, the Federated objects are gone and the member
objects carry the template and the overrides under the policy engine.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

import pytest
import yaml

from shared.messages import PlacementDecision
from tests.kubefedctl._fleet import kubefedctl
from tests.native.helpers import decision
from tests.support.plane import (
    ControlPlane,
    StatusTap,
    bus_client,
    cluster_status,
    eventually,
    propagation_reason,
    status_tap,
)

pytestmark = pytest.mark.timeout(240)

NS = "mig"
MEMBERS = ["member1", "member2", "member3"]
PLACED = ["member1", "member2"]
FED = "types.kubefed.io"


def _federated() -> list[dict[str, Any]]:
    placement = {"clusters": [{"name": c} for c in PLACED]}
    return [
        {
            "apiVersion": f"{FED}/v1beta1",
            "kind": "FederatedNamespace",
            "metadata": {"name": NS, "namespace": NS},
            "spec": {"placement": placement},
        },
        {
            "apiVersion": f"{FED}/v1beta1",
            "kind": "FederatedConfigMap",
            "metadata": {"name": "settings", "namespace": NS},
            "spec": {
                "template": {"data": {"mode": "prod"}},
                "placement": placement,
                "overrides": [
                    {"clusterName": "member2", "clusterOverrides": [{"path": "/data/mode", "value": "eu"}]}
                ],
            },
        },
        {
            "apiVersion": f"{FED}/v1beta1",
            "kind": "FederatedDeployment",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "replicas": 2,
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {
                            "metadata": {"labels": {"app": "web"}},
                            "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
                        },
                    },
                },
                "placement": placement,
                "overrides": [
                    {
                        "clusterName": "member2",
                        "clusterOverrides": [
                            {"path": "/spec/replicas", "value": 3},
                            {"path": "/metadata/labels/zone", "op": "add", "value": "eu"},
                        ],
                    }
                ],
            },
        },
    ]


# (group, plural, name, namespace) of every member object the migration must keep
MEMBER_OBJECTS = [
    ("", "namespaces", NS, None),
    ("", "configmaps", "settings", NS),
    ("apps", "deployments", "web", NS),
]


def _member(cp: ControlPlane, cluster: str, group: str, plural: str, name: str, ns: str | None) -> Any:
    return cp.member_object(cluster, group, plural, ns, name)


def _uids(cp: ControlPlane) -> dict[tuple[str, str, str], str]:
    out = {}
    for cluster in PLACED:
        for group, plural, name, ns in MEMBER_OBJECTS:
            obj = _member(cp, cluster, group, plural, name, ns)
            assert obj is not None, (cluster, plural, name)
            out[(cluster, plural, name)] = obj["metadata"]["uid"]
    return out


def _managed_everywhere(cp: ControlPlane) -> bool:
    for cluster in PLACED:
        for group, plural, name, ns in MEMBER_OBJECTS:
            obj = _member(cp, cluster, group, plural, name, ns)
            if obj is None or (obj["metadata"].get("labels") or {}).get("kubefed.io/managed") != "true":
                return False
    return True


def _writes(cp: ControlPlane) -> dict[str, collections.Counter[tuple[str, int]]]:
    return {m: collections.Counter(cp.fleet[m].writes_by_outcome) for m in MEMBERS}


def _delta(
    before: dict[str, collections.Counter[tuple[str, int]]],
    after: dict[str, collections.Counter[tuple[str, int]]],
) -> dict[str, dict[tuple[str, int], int]]:
    return {m: {k: n for k, n in (after[m] - before[m]).items() if n} for m in MEMBERS}


def _fed_status_ok(cp: ControlPlane, plural: str, name: str) -> bool:
    """KubeFed reports the object propagated to both placed clusters."""
    statuses = cluster_status(cp, plural, NS, name)
    return (
        sorted(statuses) == PLACED
        and all(s == "" for s in statuses.values())
        and propagation_reason(cp, plural, NS, name) == ""
    )


async def _migrate(cp: ControlPlane) -> Any:
    return await asyncio.to_thread(
        kubefedctl,
        str(cp.fleet.kubeconfig_path),
        "migrate",
        "--namespace",
        NS,
        "--host-cluster-context",
        "host",
        "--timeout",
        "30",
    )


async def test_migrate_in_place_adopts_members_and_rolls_back_a_failure(policy_plane: ControlPlane) -> None:
    cp = policy_plane
    await cp.akubectl("create", "namespace", NS)
    await cp.akubectl("apply", "-f", "-", input=yaml.safe_dump_all(_federated()))
    # KubeFed in charge: every member object created and labelled, every federated object reported on
    await eventually(lambda: _managed_everywhere(cp), timeout=60)
    for plural, name in (
        ("federatednamespaces", NS),
        ("federatedconfigmaps", "settings"),
        ("federateddeployments", "web"),
    ):
        await eventually(lambda p=plural, n=name: _fed_status_ok(cp, p, n), timeout=60)
    assert _member(cp, "member2", "apps", "deployments", "web", NS)["spec"]["replicas"] == 3
    assert _member(cp, "member3", "", "namespaces", NS, None) is None
    uids = _uids(cp)
    writes_before = _writes(cp)

    stack = contextlib.AsyncExitStack()
    bus = await stack.enter_async_context(bus_client(cp))
    tap = await stack.enter_async_context(status_tap(bus))  # from before the first run: sees every outcome
    try:
        await _migrate_twice(cp, bus, tap, uids, writes_before)
    finally:
        await stack.aclose()


async def _migrate_twice(
    cp: ControlPlane,
    bus: Any,
    tap: StatusTap,
    uids: dict[tuple[str, str, str], str],
    writes_before: dict[str, collections.Counter[tuple[str, int]]],
) -> None:
    # --- a failure half-way: the host refuses to create the native Deployment ----------------------
    cp.fleet["host"].set_error_rate(1.0, 403, f"/apis/apps/v1/namespaces/{NS}/deployments", method="POST")
    failed = await _migrate(cp)
    cp.fleet["host"].reset_faults()
    assert failed.exit_code == 1, failed.output
    assert "FederatedDeployment mig/web: step native failed" in failed.stderr, failed.stderr
    assert "FederatedDeployment recreated" in failed.stderr
    assert "1 object(s) migrated before it stay migrated, 1 not attempted stay under KubeFed" in failed.stderr
    assert "FederatedConfigMap mig/settings: migrated" in failed.stdout
    # the ConfigMap migrated; the Deployment is KubeFed's again, its policies gone; the namespace untouched
    assert cp.host_object(FED, "federatedconfigmaps", NS, "settings") is None
    assert cp.host_object("", "configmaps", NS, "settings") is not None
    assert cp.host_object("policy.karmada.io", "propagationpolicies", NS, "settings-configmap") is not None
    assert cp.host_object("policy.karmada.io", "overridepolicies", NS, "settings-configmap") is not None
    assert cp.host_object("apps", "deployments", NS, "web") is None
    assert cp.host_object("policy.karmada.io", "propagationpolicies", NS, "web-deployment") is None
    assert cp.host_object("policy.karmada.io", "overridepolicies", NS, "web-deployment") is None
    recreated = cp.host_object(FED, "federateddeployments", NS, "web")
    assert recreated is not None and "kubefed.io/orphan" not in (
        recreated["metadata"].get("annotations") or {}
    )
    fed_ns = cp.host_object(FED, "federatednamespaces", NS, NS)
    assert fed_ns is not None and not fed_ns["metadata"].get("deletionTimestamp")
    # KubeFed took the Deployment back (labelled again, reported on), the policy engine the ConfigMap
    await eventually(lambda: _fed_status_ok(cp, "federateddeployments", "web"), timeout=60)
    await eventually(lambda: _managed_everywhere(cp), timeout=60)
    assert _uids(cp) == uids

    # --- the rest, once the fault is gone -----------------------------------------------------------
    done = await _migrate(cp)
    assert done.exit_code == 0, done.output
    assert "FederatedDeployment mig/web (1/2): migrating" in done.stdout
    assert "FederatedNamespace mig/mig (2/2): migrating" in done.stdout
    assert done.stdout.rstrip().endswith('2 of 2 federated objects in namespace "mig" migrated')
    for plural, name in (("federatednamespaces", NS), ("federateddeployments", "web")):
        assert cp.host_object(FED, plural, NS, name) is None
    for kind, name, ns in (
        ("propagationpolicies", "web-deployment", NS),
        ("overridepolicies", "web-deployment", NS),
        ("clusterpropagationpolicies", f"{NS}-namespace", None),
    ):
        assert cp.host_object("policy.karmada.io", kind, ns, name) is not None, name
    assert cp.host_object("apps", "deployments", NS, "web") is not None

    # the positive sign: the policy engine's decisions reported on by both placed clusters
    async def applied(resource: str, ns: str, name: str) -> PlacementDecision | None:
        d = await decision(bus, resource, ns, name)
        if d is None or sorted(d.clusters) != PLACED:
            return None
        reported = {
            o.cluster for o in tap.outcomes if o.key.name == name and o.template_hash == d.template_hash
        }
        return d if reported >= set(PLACED) else None

    await eventually(lambda: applied("deployments.apps", NS, "web"), timeout=60)
    await eventually(lambda: applied("configmaps", NS, "settings"), timeout=60)
    await eventually(lambda: _managed_everywhere(cp), timeout=60)

    # adopted, not recreated: same uids, no member create or delete, only updates; member3 untouched
    assert _uids(cp) == uids
    delta = _delta(writes_before, _writes(cp))
    assert delta["member3"] == {}, delta
    # per placed member and per migrated object (ConfigMap, Deployment twice, Namespace): KubeFed's
    # unlabel PATCH, then the adopting propagator's POST answered 409 AlreadyExists and its PUT
    for cluster in PLACED:
        assert set(delta[cluster]) == {("PATCH", 200), ("POST", 409), ("PUT", 200)}, (cluster, delta)
        assert delta[cluster][("PATCH", 200)] == 4 and delta[cluster][("POST", 409)] == 4, (cluster, delta)
    assert delta["member1"][("PUT", 200)] == 4, delta
    # member2, the cluster with overrides, sometimes gets one more update: the scheduler publishes a
    # second native decision for the Deployment right after the first (seen in about half the runs)
    assert delta["member2"][("PUT", 200)] in (4, 5), delta
    # the member objects carry the template and the overrides, now from the policies
    web2 = _member(cp, "member2", "apps", "deployments", "web", NS)
    assert web2["spec"]["replicas"] == 3 and web2["metadata"]["labels"]["zone"] == "eu"
    assert _member(cp, "member1", "apps", "deployments", "web", NS)["spec"]["replicas"] == 2
    assert _member(cp, "member2", "", "configmaps", "settings", NS)["data"] == {"mode": "eu"}
    assert _member(cp, "member1", "", "configmaps", "settings", NS)["data"] == {"mode": "prod"}
