"""The migration plan from Federated<Kind> + overrides + RSP to native object + policies (pure).

The central check is equivalence: for every object of KubeFed's sample1, the policy engine's cores fed
with the migrated objects place it in the same clusters and render the same object per cluster as
KubeFed's rules fed with the federated object (template + overrides); with KubeFed's RSP sample, the
migrated replicaScheduling divides the replicas as KubeFed's planner does. Also: selectors kept or
narrowed by a FederatedNamespace, ``*`` weights expanded, host objects kept/updated, every refusal
(no cluster, RSP min/max, invalid overrides, unknown federated kind, namespace not federated, being
deleted), and the dry-run rendering.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from kubefedctl._migration import MigrationItem, TargetType, plan_migration, render_plan
from shared import karmada_api
from shared.planning import (
    ClusterInfo,
    ClusterPreference,
    apply_overrides,
    compute_placement,
    parse_overrides,
    plan_replicas,
)
from shared.policy import Override, PolicyCluster, apply_overriders, candidate_clusters, divide_replicas

ROOT = Path(__file__).resolve().parents[2]
SAMPLE1 = ROOT / "tests" / "data" / "kubefed-examples" / "sample1"
RSP_SAMPLE = ROOT / "tests" / "data" / "kubefed-examples" / "scheduling" / "federateddeployment-rsp.yaml"
TYPES = [
    TargetType.from_ftc(d)
    for d in yaml.safe_load_all((ROOT / "deploy" / "config" / "20-federatedtypeconfigs.yaml").read_text())
    if d
]


def _cluster(name: str, ready: bool = True, **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


CLUSTERS = [
    _cluster("cluster1", region="us"),
    _cluster("cluster2", region="eu"),
    _cluster("cluster3", region="eu"),
]


def _sample1() -> list[dict[str, Any]]:
    return [
        d for p in sorted(SAMPLE1.glob("federated*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d
    ]


def _plan(federated: list[dict[str, Any]], **kw: Any) -> list[MigrationItem]:
    kw.setdefault("rsps", [])
    kw.setdefault("clusters", CLUSTERS)
    kw.setdefault("host_objects", {})
    return list(plan_migration(federated=federated, types=TYPES, **kw).items)


def _policy_clusters(item: MigrationItem) -> list[str]:
    assert item.propagation_policy is not None
    spec = karmada_api.decode_propagation_spec(item.propagation_policy)
    infos = [PolicyCluster(c["metadata"]["name"], c["metadata"]["labels"]) for c in CLUSTERS]
    return candidate_clusters(spec.placement.clusterAffinity if spec.placement else None, infos)


def _engine_render(item: MigrationItem, cluster: str) -> dict[str, Any]:
    assert item.native is not None
    overrides = []
    if item.override_policy is not None:
        op = item.override_policy
        overrides.append(
            Override(
                op["kind"],
                op["metadata"]["name"],
                karmada_api.decode_override_spec(op),
                op["metadata"].get("namespace", ""),
            )
        )
    return apply_overriders(item.native, PolicyCluster(cluster), overrides)


def _kubefed_render(fed: dict[str, Any], target: TargetType, cluster: str) -> dict[str, Any]:
    template = copy.deepcopy(fed["spec"].get("template") or {})
    meta = {"name": fed["metadata"]["name"]}
    if target.namespaced:
        meta["namespace"] = fed["metadata"]["namespace"]
    meta.update(
        {k: v for k, v in (template.pop("metadata", None) or {}).items() if k in ("labels", "annotations")}
    )
    obj = {"apiVersion": target.api_version, "kind": target.kind, "metadata": meta, **template}
    return apply_overrides(obj, parse_overrides(fed["spec"].get("overrides")).get(cluster, []))


def test_sample1_migrates_with_the_same_placement_and_per_cluster_objects() -> None:
    federated = [f for f in _sample1() if f["kind"] != "FederatedClusterRoleBinding"]
    items = _plan(federated)
    assert [i.refused for i in items] == [""] * len(federated)
    infos = [ClusterInfo(c["metadata"]["name"], c["metadata"]["labels"], True) for c in CLUSTERS]
    namespace_placement = compute_placement(
        next(f for f in federated if f["kind"] == "FederatedNamespace")["spec"]["placement"], infos
    )
    by_kind = {t.federated_kind: t for t in TYPES}
    checked = 0
    for item in items:
        fed = item.source
        target = by_kind[fed["kind"]]
        expected = set(compute_placement(fed["spec"]["placement"], infos))
        if target.namespaced:
            expected &= namespace_placement
        assert set(_policy_clusters(item)) == expected, item.key
        assert (
            item.propagation_policy is not None
            and item.propagation_policy["spec"]["conflictResolution"] == "Overwrite"
        )
        assert karmada_api.validate_propagation_policy(item.propagation_policy) == []
        for cluster in sorted(expected):
            assert _engine_render(item, cluster) == _kubefed_render(fed, target, cluster), (item.key, cluster)
            checked += 1
    assert checked >= 2 * len(items)
    kinds = {i.source["kind"]: i for i in items}
    assert kinds["FederatedClusterRole"].propagation_policy["kind"] == "ClusterPropagationPolicy"  # type: ignore[index]
    assert kinds["FederatedNamespace"].native == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "test-namespace"},
    }
    assert kinds["FederatedServiceAccount"].override_policy is None


def test_rsp_sample_divides_like_kubefeds_planner() -> None:
    fed = next(f for f in _sample1() if f["kind"] == "FederatedDeployment")
    rsp = yaml.safe_load(RSP_SAMPLE.read_text())
    before = copy.deepcopy((fed, rsp))
    (item,) = _plan([fed], rsps=[rsp])
    assert (fed, rsp) == before  # the plan never changes its inputs
    assert item.refused == "" and item.native is not None and item.propagation_policy is not None
    assert item.native["spec"]["replicas"] == 10
    spec = karmada_api.decode_propagation_spec(item.propagation_policy)
    assert spec.placement is not None
    clusters = [PolicyCluster(n) for n in _policy_clusters(item)]
    assert [c.name for c in clusters] == ["cluster1", "cluster2"]
    migrated = divide_replicas(
        spec.placement.replicaScheduling, 10, clusters, key="test-namespace/test-deployment"
    )
    prefs = {n: ClusterPreference(weight=p["weight"]) for n, p in rsp["spec"]["clusters"].items()}
    kubefed, _ = plan_replicas(
        total=10, preferences=prefs, clusters=["cluster1", "cluster2"], key="test-namespace/test-deployment"
    )
    assert migrated == {n: v for n, v in kubefed.items() if v} == {"cluster1": 4, "cluster2": 6}
    assert item.override_policy is not None
    paths = [
        p["path"] for r in item.override_policy["spec"]["overrideRules"] for p in r["overriders"]["plaintext"]
    ]
    assert "/spec/replicas" not in paths and "/spec/template/spec/containers/0/image" in paths
    assert any("rebalance" in w for w in item.warnings)


def test_rsp_star_weight_is_expanded_and_min_max_refused() -> None:
    fed = next(f for f in _sample1() if f["kind"] == "FederatedDeployment")
    rsp = {
        "metadata": {"name": "test-deployment", "namespace": "test-namespace"},
        "spec": {
            "targetKind": "FederatedDeployment",
            "totalReplicas": 6,
            "clusters": {"*": {"weight": 1}, "cluster1": {"weight": 4}},
        },
    }
    (item,) = _plan([fed], rsps=[rsp])
    assert item.propagation_policy is not None
    placement = item.propagation_policy["spec"]["placement"]
    assert "clusterAffinity" not in placement
    assert placement["replicaScheduling"]["weightPreference"]["staticWeightList"] == [
        {"targetCluster": {"clusterNames": ["cluster1"]}, "weight": 4},
        {"targetCluster": {"clusterNames": ["cluster2", "cluster3"]}, "weight": 1},
    ]
    capped = copy.deepcopy(rsp)
    capped["spec"]["clusters"]["cluster1"]["maxReplicas"] = 3
    (refused,) = _plan([fed], rsps=[capped])
    assert "minReplicas/maxReplicas" in refused.refused and refused.propagation_policy is None


def _fed_configmap(placement: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": {"data": {"a": "1"}}, **extra}
    if placement is not None:
        spec["placement"] = placement
    return {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedConfigMap",
        "metadata": {"name": "cm", "namespace": "apps"},
        "spec": spec,
    }


FNS_ALL = {
    "apiVersion": "types.kubefed.io/v1beta1",
    "kind": "FederatedNamespace",
    "metadata": {"name": "apps", "namespace": "apps"},
    "spec": {"placement": {"clusterSelector": {}}},
}


def test_selectors_kept_or_narrowed() -> None:
    (item,) = _plan(
        [_fed_configmap({"clusterSelector": {"matchLabels": {"region": "eu"}}})],
        namespace_placements=[FNS_ALL],
    )
    assert item.propagation_policy["spec"]["placement"]["clusterAffinity"] == {
        "labelSelector": {"matchLabels": {"region": "eu"}}
    }  # type: ignore[index]
    (everywhere,) = _plan([_fed_configmap({"clusterSelector": {}})], namespace_placements=[FNS_ALL])
    assert "placement" not in everywhere.propagation_policy["spec"]  # type: ignore[index]
    narrow_ns = copy.deepcopy(FNS_ALL)
    narrow_ns["spec"]["placement"] = {"clusters": [{"name": "cluster2"}]}
    (narrowed,) = _plan(
        [_fed_configmap({"clusterSelector": {"matchLabels": {"region": "eu"}}})],
        namespace_placements=[narrow_ns],
    )
    assert narrowed.propagation_policy["spec"]["placement"]["clusterAffinity"] == {
        "clusterNames": ["cluster2"]
    }  # type: ignore[index]
    assert any("narrowed" in w for w in narrowed.warnings)


def test_refusals_leave_objects_with_kubefed() -> None:
    cases = {
        "no cluster": _fed_configmap({"clusters": []}),
        "invalid": _fed_configmap(
            {"clusters": [{"name": "cluster1"}]},
            overrides=[{"clusterName": "cluster1", "clusterOverrides": [{"path": "/kind", "value": "X"}]}],
        ),
    }
    items = {
        i.source["spec"].get("overrides") is not None: i
        for i in _plan(list(cases.values()), namespace_placements=[FNS_ALL])
    }
    assert "no cluster" in items[False].refused and "cannot express" in items[False].refused
    assert "overrides are invalid" in items[True].refused and "/kind" in items[True].refused
    (unfederated_ns,) = _plan([_fed_configmap({"clusters": [{"name": "cluster1"}]})])
    assert "NamespaceNotFederated" in unfederated_ns.refused
    (namespaced_scope,) = _plan([_fed_configmap({"clusters": [{"name": "cluster1"}]})], namespaced_scope=True)
    assert namespaced_scope.refused == ""
    unknown = dict(_fed_configmap({"clusters": []}), kind="FederatedWidget")
    assert "no FederatedTypeConfig" in _plan([unknown])[0].refused
    deleting = _fed_configmap({"clusters": [{"name": "cluster1"}]})
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert _plan([deleting], namespace_placements=[FNS_ALL])[0].refused == "it is being deleted"


def test_host_object_keep_update_create_and_not_ready_warning() -> None:
    fed = _fed_configmap({"clusters": [{"name": "cluster1"}, {"name": "cluster2"}]})
    key = ("v1", "ConfigMap", "apps", "cm")
    same = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "apps", "resourceVersion": "7"},
        "data": {"a": "1"},
    }
    (kept,) = _plan([fed], host_objects={key: same}, namespace_placements=[FNS_ALL])
    assert kept.native_action == "keep"
    (updated,) = _plan([fed], host_objects={key: dict(same, data={"a": "2"})}, namespace_placements=[FNS_ALL])
    assert updated.native_action == "update" and any("template wins" in w for w in updated.warnings)
    clusters = [_cluster("cluster1"), _cluster("cluster2", ready=False)]
    (created,) = _plan([fed], clusters=clusters, namespace_placements=[FNS_ALL])
    assert created.native_action == "create" and any("not ready" in w for w in created.warnings)


def test_render_is_yaml_with_notes_as_comments() -> None:
    items = plan_migration(
        federated=[_fed_configmap({"clusters": []}), _fed_configmap({"clusters": [{"name": "cluster1"}]})],
        types=TYPES,
        rsps=[],
        clusters=CLUSTERS,
        host_objects={},
        namespace_placements=[FNS_ALL],
    )
    text = render_plan(items)
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert [d["kind"] for d in docs] == ["ConfigMap", "PropagationPolicy"]
    assert "NOT MIGRATED, stays under KubeFed" in text and text.rstrip().endswith(
        "1 of 2 federated objects would be migrated"
    )
