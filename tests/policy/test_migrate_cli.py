"""``kubefedctl migrate`` end to end against a simulated host over HTTPS (the dry-run plan).

Covers: KubeFed's deploy/ and sample1 applied with kubectl, two KubeFedClusters and sample1's RSP; then
``migrate --namespace test-namespace --dry-run`` prints a YAML plan whose documents are the native
objects and policies (the RSP's replicas and weights in the Deployment's policy, sample1's overrides in
OverridePolicies, the existing namespace ``keep``, the rest ``create``), every policy valid, the host not
written at all (the simulator's write counter); ``--all`` adds the cluster-scoped FederatedClusterRole;
errors: an in-place run refused up front when an object cannot migrate (nothing written), neither
or both of ``--namespace``/``--all``, an empty namespace; the policy CRDs accept the migrated policies
unchanged (applied with kubectl afterwards).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from shared import karmada_api
from tests.kubefedctl._fleet import FleetThread, Kubectl, kubefedctl

ROOT = Path(__file__).resolve().parents[2]
SAMPLE1 = ROOT / "tests" / "data" / "kubefed-examples" / "sample1"
RSP = ROOT / "tests" / "data" / "kubefed-examples" / "scheduling" / "federateddeployment-rsp.yaml"
NS = "kube-federation-system"
pytestmark = pytest.mark.kubectl


def _apply(kubectl: Kubectl, docs: list[dict], where: Path) -> None:
    where.write_text(yaml.safe_dump_all(docs))
    kubectl("apply", "-f", str(where))


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetThread]:
    tmp = tmp_path_factory.mktemp("migrate")
    fleet = FleetThread(["host"]).start()
    try:
        kubectl = Kubectl(fleet.kubeconfig)
        kubectl("apply", "-f", str(ROOT / "deploy" / "crds"))
        kubectl("apply", "-f", str(ROOT / "deploy" / "config"))
        clusters = [
            {
                "apiVersion": "core.kubefed.io/v1beta1",
                "kind": "KubeFedCluster",
                "metadata": {"name": name, "namespace": NS, "labels": {"region": region}},
                "spec": {
                    "apiEndpoint": f"https://{name}.example:6443",
                    "secretRef": {"name": f"{name}-token"},
                },
            }
            for name, region in (("cluster1", "us"), ("cluster2", "eu"))
        ]
        _apply(kubectl, clusters, tmp / "clusters.yaml")
        kubectl("apply", "-f", str(SAMPLE1 / "namespace.yaml"))
        for path in sorted(SAMPLE1.glob("*.yaml")):
            if path.name != "federatedclusterrolebinding.yaml":  # its type is not enabled by default
                kubectl("apply", "-f", str(path))
        kubectl("apply", "-f", str(RSP))
        yield fleet
    finally:
        fleet.stop()


def kf(fleet: FleetThread, *args: str):  # type: ignore[no-untyped-def]
    return kubefedctl(fleet.kubeconfig, "migrate", *args, "--host-cluster-context", "host")


def _writes(fleet: FleetThread) -> int:
    return int(fleet.fleet["host"].write_count)


def test_dry_run_plan_of_sample1_writes_nothing(host: FleetThread) -> None:
    before = _writes(host)
    result = kf(host, "--namespace", "test-namespace", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert _writes(host) == before
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    assert sorted(d["metadata"]["name"] for d in by_kind["PropagationPolicy"]) == [
        "test-configmap-configmap",
        "test-deployment-deployment",
        "test-ingress-ingress",
        "test-job-job",
        "test-secret-secret",
        "test-service-service",
        "test-serviceaccount-serviceaccount",
    ]
    assert [d["metadata"]["name"] for d in by_kind["ClusterPropagationPolicy"]] == [
        "test-namespace-namespace"
    ]
    for policy in by_kind["PropagationPolicy"] + by_kind["ClusterPropagationPolicy"]:
        assert karmada_api.validate_propagation_policy(policy) == []
    for policy in by_kind["OverridePolicy"]:
        assert karmada_api.validate_override_policy(policy) == []
    deployment_pp = next(
        d for d in by_kind["PropagationPolicy"] if d["metadata"]["name"].startswith("test-deployment")
    )
    weights = deployment_pp["spec"]["placement"]["replicaScheduling"]["weightPreference"]["staticWeightList"]
    assert weights == [
        {"targetCluster": {"clusterNames": ["cluster1"]}, "weight": 2},
        {"targetCluster": {"clusterNames": ["cluster2"]}, "weight": 3},
    ]
    (deployment,) = by_kind["Deployment"]
    assert deployment["spec"]["replicas"] == 10 and deployment["metadata"]["namespace"] == "test-namespace"
    assert (
        "FederatedConfigMap test-namespace/test-configmap -> ConfigMap + PropagationPolicy + OverridePolicy"
        in result.stdout
    )
    actions = {
        line.split(" -> ")[0].removeprefix("# "): line.rsplit("native object: ", 1)[1].rstrip(")")
        for line in result.stdout.splitlines()
        if "(native object: " in line
    }
    assert actions["FederatedJob test-namespace/test-job"] == "create"
    assert actions["FederatedConfigMap test-namespace/test-configmap"] == "create"
    assert (
        actions["FederatedNamespace test-namespace/test-namespace"] == "keep"
    )  # the host's namespace exists
    assert result.stdout.rstrip().endswith("8 of 8 federated objects would be migrated")


def test_migrated_policies_are_accepted_by_the_crds(host: FleetThread, tmp_path: Path) -> None:
    result = kf(host, "--namespace", "test-namespace", "--dry-run")
    policies = [
        d for d in yaml.safe_load_all(result.stdout) if d and d["apiVersion"] == karmada_api.API_VERSION
    ]
    kubectl = Kubectl(host.kubeconfig)
    _apply(kubectl, policies, tmp_path / "policies.yaml")
    stored = host.get(
        "host", "policy.karmada.io", "propagationpolicies", "test-namespace", "test-deployment-deployment"
    )
    assert stored is not None
    assert stored["spec"]["placement"]["replicaScheduling"]["replicaSchedulingType"] == "Divided"


def test_all_adds_cluster_scoped_objects(host: FleetThread) -> None:
    result = kf(host, "--all", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "FederatedClusterRole test-clusterrole -> ClusterRole + ClusterPropagationPolicy" in result.stdout


def test_errors_write_nothing(host: FleetThread, tmp_path: Path) -> None:
    # a namespace KubeFed does not federate: its object cannot migrate, the in-place run refuses up front
    refusable = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "refusals"}},
        {
            "apiVersion": "types.kubefed.io/v1beta1",
            "kind": "FederatedConfigMap",
            "metadata": {"name": "nowhere", "namespace": "refusals"},
            "spec": {"template": {"data": {"k": "v"}}, "placement": {"clusters": []}},
        },
    ]
    _apply(Kubectl(host.kubeconfig), refusable, tmp_path / "refusable.yaml")
    try:
        before = _writes(host)
        for args, message in (
            (
                ("--namespace", "refusals"),
                "1 of 1 federated objects cannot be migrated (nothing was written): "
                "FederatedConfigMap refusals/nowhere: KubeFed places it nowhere: NamespaceNotFederated",
            ),
            (("--dry-run",), "give exactly one of --namespace NAME or --all"),
            (
                ("--namespace", "test-namespace", "--all", "--dry-run"),
                "give exactly one of --namespace NAME or --all",
            ),
            (("--namespace", "empty", "--dry-run"), 'no federated objects found in namespace "empty"'),
        ):
            result = kf(host, *args)
            assert result.exit_code == 1 and message in result.stderr, (args, result.stderr)
            assert "Traceback" not in result.output
        assert _writes(host) == before
    finally:  # the other tests (--all) must not meet the refusable object
        Kubectl(host.kubeconfig)(
            "delete", "-f", str(tmp_path / "refusable.yaml"), "--wait=false", "--ignore-not-found"
        )


def test_simulated_api_server_refuses_unsupported_fields_and_accepts_samples(
    host: FleetThread, tmp_path: Path
) -> None:
    kubectl = Kubectl(host.kubeconfig)
    samples = ROOT / "tests" / "data" / "karmada-samples"
    for path in sorted(samples.glob("*.yaml")):
        docs = [
            d
            for d in yaml.safe_load_all(path.read_text())
            if d and d["apiVersion"] == karmada_api.API_VERSION
        ]
        if docs:
            kubectl("apply", "-n", "default", "-f", str(path))
    stored = host.get("host", "policy.karmada.io", "propagationpolicies", "default", "echo-propagation")
    assert stored is not None and stored["spec"]["placement"]["replicaScheduling"]["replicaSchedulingType"]
    bad = {
        "apiVersion": karmada_api.API_VERSION,
        "kind": "PropagationPolicy",
        "metadata": {"name": "spread", "namespace": "default"},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "placement": {"spreadConstraints": [{"spreadByField": "region", "maxGroups": 2}]},
        },
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    result = kubectl("apply", "-f", str(tmp_path / "bad.yaml"), check=False)
    assert result.returncode != 0
    assert (
        'spec.placement.spreadConstraints: Invalid value: "array": ' + karmada_api.UNSUPPORTED_MESSAGE
        in result.stderr
    )
    assert host.get("host", "policy.karmada.io", "propagationpolicies", "default", "spread") is None
