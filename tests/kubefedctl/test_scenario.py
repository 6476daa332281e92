"""kubefedctl end to end against simulated clusters over real HTTPS, checked by reading clusters back.

One fleet (host + three members) per module; the tests are steps of one session and run in order:
install deploy/ with kubectl; join three members (one with --least-privilege); join errors (twice with
and without --error-on-existing, unreachable member, rollback after a failing host step); enable
KubeFed's default directives unchanged (plus clusterrolebindings); apply every sample1 manifest with
kubectl; enable a test-only CRD (template schema equals the target's) and -o yaml; unknown and
ambiguous type names; invalid KubeFedConfig rejected; federate a namespace with --contents and
--skip-api-resources, -o yaml, a missing object; orphaning-deletion enable/status/disable; status
tables and -o json/yaml; unjoin a member and an unknown cluster; join/unjoin with a Namespaced
KubeFedConfig (Role + RoleBinding + healthcheck ClusterRole); ``kubectl kubefed`` plugin, with KubeFed's
flags before the verb (join, status, unjoin) as scripts written for cobra's kubefedctl pass them; ``status
-w``;
disable a type, --delete-crd refused while objects exist.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.kubefedctl._fleet import KUBECTL, FleetThread, Kubectl, kubefedctl

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "kubefed-examples"
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
NS = "kube-federation-system"
MEMBERS = {"cluster1": "c1", "cluster2": "c2", "cluster3": "c3"}
pytestmark = pytest.mark.kubectl


@pytest.fixture(scope="module")
def fleet() -> Iterator[FleetThread]:
    f = FleetThread(["host", "c1", "c2", "c3"]).start()
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="module")
def kubectl(fleet: FleetThread) -> Kubectl:
    return Kubectl(fleet.kubeconfig)


def kf(fleet: FleetThread, *args: str, ok: bool = True, input: str | None = None):
    result = kubefedctl(fleet.kubeconfig, *args, "--host-cluster-context", "host", input=input)
    if ok:
        assert result.exit_code == 0, result.stderr
    else:
        assert result.exit_code == 1, result.stdout
        errors = [line for line in result.stderr.splitlines() if not line.startswith("Warning: ")]
        assert len(errors) == 1 and errors[0].startswith("Error: "), result.stderr
        assert "Traceback" not in result.output
    return result


def snapshot(fleet: FleetThread, *clusters: str) -> dict:
    """Names of everything join/unjoin touches, per cluster."""
    out = {}
    for c in clusters:
        out[c] = {
            plural: sorted(o["metadata"]["name"] for o in fleet.list(c, group, plural, ns))
            for group, plural, ns in (
                ("", "serviceaccounts", NS),
                ("", "secrets", NS),
                ("", "namespaces", None),
                ("rbac.authorization.k8s.io", "clusterroles", None),
                ("rbac.authorization.k8s.io", "clusterrolebindings", None),
                ("core.kubefed.io", "kubefedclusters", NS),
            )
        }
    return out


@pytest.fixture(scope="module")
def installed(fleet: FleetThread, kubectl: Kubectl) -> None:
    """The control plane's CRDs and configuration applied to the host with kubectl, as the docs say."""
    kubectl("apply", "-f", str(DEPLOY / "crds"))
    kubectl("apply", "-f", str(DEPLOY / "config"))


@pytest.fixture(scope="module")
def joined(fleet: FleetThread, installed: None) -> dict[str, str]:
    """cluster1..3 joined (cluster3 with --least-privilege); each join's stdout by member name."""
    out = {}
    for name, ctx in MEMBERS.items():
        extra = ["--least-privilege"] if name == "cluster3" else []
        out[name] = kf(fleet, "join", name, "--cluster-context", ctx, *extra).stdout
    return out


def test_install_deploy_with_kubectl(fleet: FleetThread, kubectl: Kubectl, installed: None) -> None:
    assert len(fleet.list("host", "core.kubefed.io", "federatedtypeconfigs", NS)) == 10
    config = json.loads(kubectl("get", "kubefedconfig", "kubefed", "-n", NS, "-o", "json").stdout)
    assert config["spec"]["leaderElect"]["resourceLock"] == "configmaps"
    crds = kubectl("get", "crd", "-o", "name").stdout
    assert "kubefedclusters.core.kubefed.io" in crds and "dnsendpoints.multiclusterdns.kubefed.io" in crds


def test_join_three_members(fleet: FleetThread, kubectl: Kubectl, joined: dict[str, str]) -> None:
    for name in MEMBERS:
        assert f'Cluster "{name}" joined to host "host"' in joined[name]
    kubeconfig = yaml.safe_load(Path(fleet.kubeconfig).read_text())
    servers = {c["name"]: c["cluster"] for c in kubeconfig["clusters"]}
    for name, ctx in MEMBERS.items():
        sa = f"{name}-host"
        assert fleet.get(ctx, "", "serviceaccounts", NS, sa)["automountServiceAccountToken"] is False
        token_secret = fleet.get(ctx, "", "secrets", NS, sa)
        assert token_secret["type"] == "kubernetes.io/service-account-token"
        binding = fleet.get(
            ctx, "rbac.authorization.k8s.io", "clusterrolebindings", None, f"kubefed-controller-manager:{sa}"
        )
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NS}]
        kfc = fleet.get("host", "core.kubefed.io", "kubefedclusters", NS, name)
        assert kfc["spec"]["apiEndpoint"] == servers[ctx]["server"]
        assert kfc["spec"]["caBundle"] == servers[ctx]["certificate-authority-data"]
        host_secret = fleet.get("host", "", "secrets", NS, kfc["spec"]["secretRef"]["name"])
        assert host_secret["data"]["token"] == token_secret["data"]["token"]
        assert base64.b64decode(host_secret["data"]["token"])
    admin = fleet.get(
        "c1", "rbac.authorization.k8s.io", "clusterroles", None, "kubefed-controller-manager:cluster1-host"
    )
    assert admin["rules"][0] == {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    least = fleet.get(
        "c3", "rbac.authorization.k8s.io", "clusterroles", None, "kubefed-controller-manager:cluster3-host"
    )
    assert all("*" not in r.get("verbs", []) for r in least["rules"])
    listed = kubectl("get", "kfc", "-n", NS, "-o", "name").stdout.split()
    assert listed == [f"kubefedcluster.core.kubefed.io/{n}" for n in sorted(MEMBERS)]


def test_join_twice(fleet: FleetThread, joined: dict[str, str]) -> None:
    before = snapshot(fleet, "host", "c1")
    result = kf(fleet, "join", "cluster1", "--cluster-context", "c1", ok=False)
    assert 'KubeFedCluster "kube-federation-system/cluster1" already exists' in result.stderr
    assert snapshot(fleet, "host", "c1") == before
    result = kf(fleet, "join", "cluster1", "--cluster-context", "c1", "--error-on-existing=false")
    assert "kubefedcluster.core.kubefed.io/cluster1 updated" in result.stdout
    assert snapshot(fleet, "host", "c1") == before


def test_join_unreachable_member_changes_nothing(fleet: FleetThread, tmp_path: Path, installed: None) -> None:
    config = yaml.safe_load(Path(fleet.kubeconfig).read_text())
    config["clusters"].append({"name": "dead", "cluster": {"server": "https://127.0.0.1:9"}})
    config["users"].append({"name": "dead", "user": {"token": "x"}})
    config["contexts"].append({"name": "dead", "context": {"cluster": "dead", "user": "dead"}})
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    before = snapshot(fleet, "host")
    result = kubefedctl(str(path), "join", "dead", "--host-cluster-context", "host")
    assert result.exit_code == 1
    assert result.stderr.startswith('Error: member cluster "dead" is not reachable at https://127.0.0.1:9')
    assert snapshot(fleet, "host") == before


def test_join_rolls_back_when_a_late_step_fails(
    fleet: FleetThread, kubectl: Kubectl, installed: None
) -> None:
    # The host Secret is written after the member side: a name already taken makes that step fail.
    kubectl_apply(
        kubectl,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "taken", "namespace": NS},
            "stringData": {"token": "old"},
        },
    )
    before = snapshot(fleet, "host", "c2")
    result = kf(fleet, "join", "extra", "--cluster-context", "c2", "--secret-name", "taken", ok=False)
    assert (
        result.stderr == 'Error: Secret "kube-federation-system/taken" already exists in the host cluster\n'
    )
    assert snapshot(fleet, "host", "c2") == before
    assert fleet.get("c2", "", "serviceaccounts", NS, "extra-host") is None
    invalid = kf(fleet, "join", "extra", "--cluster-context", "c2", "--secret-name", "Not_Valid", ok=False)
    assert 'spec.secretRef.name: Invalid value: "Not_Valid"' in invalid.stderr
    assert snapshot(fleet, "host", "c2") == before


def test_enable_default_directives(fleet: FleetThread, kubectl: Kubectl) -> None:
    for directive in sorted((EXAMPLES / "enabletypedirectives").glob("*.yaml")):
        result = kf(fleet, "enable", "-f", str(directive))
        assert "federatedtypeconfig.core.kubefed.io/" in result.stdout
    kf(fleet, "enable", "clusterrolebindings")
    names = set(kubectl("get", "ftc", "-n", NS, "-o", "name").stdout.split())
    expected = {
        "clusterroles.rbac.authorization.k8s.io",
        "configmaps",
        "deployments.apps",
        "ingresses.networking.k8s.io",
        "jobs.batch",
        "namespaces",
        "replicasets.apps",
        "secrets",
        "serviceaccounts",
        "services",
        "clusterrolebindings.rbac.authorization.k8s.io",
    }
    assert names == {f"federatedtypeconfig.core.kubefed.io/{n}" for n in expected}
    ftc = fleet.get("host", "core.kubefed.io", "federatedtypeconfigs", NS, "namespaces")
    assert ftc["spec"]["federatedType"]["scope"] == "Namespaced" and ftc["spec"]["propagation"] == "Enabled"
    assert (
        fleet.get(
            "host",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            "federatedclusterrolebindings.types.kubefed.io",
        )["spec"]["scope"]
        == "Cluster"
    )


def test_apply_sample1_unchanged_with_kubectl(fleet: FleetThread, kubectl: Kubectl) -> None:
    sample = EXAMPLES / "sample1"
    kubectl("apply", "-f", str(sample / "namespace.yaml"), "-f", str(sample / "federatednamespace.yaml"))
    out = kubectl("apply", "-f", str(sample)).stdout
    assert out.count("\n") == len(list(sample.glob("*.yaml")))
    fd = fleet.get("host", "types.kubefed.io", "federateddeployments", "test-namespace", "test-deployment")
    overrides = fd["spec"]["overrides"][0]["clusterOverrides"]
    assert {"path": "/metadata/annotations", "op": "add", "value": {"foo": "bar"}} in overrides
    assert fd["spec"]["template"]["spec"]["replicas"] == 3
    rb = fleet.get(
        "host", "types.kubefed.io", "federatedclusterrolebindings", None, "test-clusterrolebinding"
    )
    assert rb["spec"]["template"]["roleRef"]["name"] == "cluster-admin"
    listed = kubectl("get", "fdeploy,fcm,fns,fsa", "-n", "test-namespace", "-o", "name").stdout.split()
    assert len(listed) == 4


def test_enable_crd_target_copies_its_schema(fleet: FleetThread, kubectl: Kubectl) -> None:
    spec_schema = {
        "type": "object",
        "required": ["size"],
        "properties": {
            "size": {"type": "integer", "minimum": 1},
            "replicas": {"type": "integer"},
            "color": {"type": "string", "enum": ["red", "blue"]},
        },
    }
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "shortNames": ["gd"]},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": spec_schema, "status": {"type": "object"}},
                        }
                    },
                }
            ],
        },
    }
    kubectl_apply(kubectl, crd)
    printed = kf(fleet, "enable", "gd", "-o", "yaml").stdout
    docs = list(yaml.safe_load_all(printed))
    assert [d["kind"] for d in docs] == ["FederatedTypeConfig", "CustomResourceDefinition"]
    assert fleet.get("host", "core.kubefed.io", "federatedtypeconfigs", NS, "gadgets.example.com") is None
    kf(fleet, "enable", "gadgets")
    fed = fleet.get(
        "host", "apiextensions.k8s.io", "customresourcedefinitions", None, "federatedgadgets.types.kubefed.io"
    )
    spec = fed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["template"]["properties"]["spec"] == spec_schema
    assert spec["retainReplicas"] == {"type": "boolean"}
    assert fed["spec"]["names"]["shortNames"] == ["fgd"]


def kubectl_apply(kubectl: Kubectl, obj: dict, context: str = "host") -> None:
    path = Path(kubectl.cache) / f"{obj['kind']}-{obj['metadata']['name']}.json"
    path.write_text(json.dumps(obj))
    kubectl("apply", "-f", str(path), context=context)


def test_unknown_and_ambiguous_type_names(fleet: FleetThread, kubectl: Kubectl) -> None:
    before = fleet.list("host", "core.kubefed.io", "federatedtypeconfigs", NS)
    result = kf(fleet, "enable", "gizmos", ok=False)
    assert result.stderr == 'Error: Unable to find api resource named "gizmos".\n'
    for group in ("a.example.com", "b.example.com"):
        kubectl_apply(
            kubectl,
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"widgets.{group}"},
                "spec": {
                    "group": group,
                    "scope": "Namespaced",
                    "names": {"plural": "widgets", "kind": "Widget"},
                    "versions": [
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "schema": {
                                "openAPIV3Schema": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    ],
                },
            },
        )
    result = kf(fleet, "enable", "widgets", ok=False)
    assert "A group-qualified plural name must be provided" in result.stderr
    assert fleet.list("host", "core.kubefed.io", "federatedtypeconfigs", NS) == before


def test_invalid_kubefedconfig_is_rejected(fleet: FleetThread, kubectl: Kubectl) -> None:
    bad = {
        "apiVersion": "core.kubefed.io/v1beta1",
        "kind": "KubeFedConfig",
        "metadata": {"name": "kubefed", "namespace": NS},
        "spec": {"scope": "Galaxy"},
    }
    with_path = Path(fleet.kubeconfig).parent / "bad-kubefedconfig.json"
    with_path.write_text(json.dumps(bad))
    result = kubectl("apply", "-f", str(with_path), check=False)
    assert result.returncode != 0 and 'Unsupported value: "Galaxy"' in result.stderr
    assert fleet.get("host", "core.kubefed.io", "kubefedconfigs", NS, "kubefed")["spec"]["scope"] == "Cluster"


def test_federate_namespace_with_contents(fleet: FleetThread, kubectl: Kubectl) -> None:
    # kubectl create sends protobuf, which the simulator does not speak: apply JSON manifests instead.
    for obj in (
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "demo", "labels": {"tier": "backend"}},
            "data": {"mode": "fast"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": "demo"},
            "stringData": {"pw": "x"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]},
        },
    ):
        kubectl_apply(kubectl, obj)
    result = kf(
        fleet, "federate", "namespace", "demo", "--contents", "--skip-api-resources", "pods,apps,leases"
    )
    assert "federatednamespace.types.kubefed.io/demo created in namespace demo" in result.stdout
    fns = fleet.get("host", "types.kubefed.io", "federatednamespaces", "demo", "demo")
    assert fns["spec"]["placement"] == {"clusterSelector": {"matchLabels": {}}}
    fcm = fleet.get("host", "types.kubefed.io", "federatedconfigmaps", "demo", "settings")
    assert fcm["spec"]["template"] == {"metadata": {"labels": {"tier": "backend"}}, "data": {"mode": "fast"}}
    fsvc = fleet.get("host", "types.kubefed.io", "federatedservices", "demo", "web")
    tmpl = fsvc["spec"]["template"]["spec"]
    assert (
        "clusterIP" not in tmpl
        and "clusterIPs" not in tmpl
        and all("nodePort" not in p for p in tmpl["ports"])
    )
    assert fleet.get("host", "types.kubefed.io", "federatedsecrets", "demo", "creds") is not None
    assert not fleet.list("host", "types.kubefed.io", "federateddeployments", "demo")
    again = kf(fleet, "federate", "configmaps", "settings", "-n", "demo", ok=False)
    assert "already exists" in again.stderr


def test_federate_output_and_missing_object(fleet: FleetThread, kubectl: Kubectl) -> None:
    kubectl_apply(
        kubectl,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "extra", "namespace": "demo"},
            "data": {"k": "v"},
        },
    )
    out = kf(fleet, "federate", "cm", "extra", "-n", "demo", "-o", "yaml").stdout
    assert yaml.safe_load(out)["kind"] == "FederatedConfigMap"
    assert fleet.get("host", "types.kubefed.io", "federatedconfigmaps", "demo", "extra") is None
    before = fleet.list("host", "types.kubefed.io", "federatedconfigmaps")
    result = kf(fleet, "federate", "configmaps", "ghost", "-n", "demo", ok=False)
    assert result.stderr == 'Error: ConfigMap "demo/ghost" not found in the host cluster\n'
    assert fleet.list("host", "types.kubefed.io", "federatedconfigmaps") == before


def test_orphaning_deletion(fleet: FleetThread) -> None:
    args = ("federateddeployments", "test-deployment", "-n", "test-namespace")
    assert kf(fleet, "orphaning-deletion", "status", *args).stdout == "Disabled\n"
    kf(fleet, "orphaning-deletion", "enable", *args)
    fd = fleet.get("host", "types.kubefed.io", "federateddeployments", "test-namespace", "test-deployment")
    assert fd["metadata"]["annotations"]["kubefed.io/orphan"] == "true"
    assert (
        kf(fleet, "orphaning-deletion", "status", "fdeploy", "test-deployment", "-n", "test-namespace").stdout
        == "Enabled\n"
    )
    kf(fleet, "orphaning-deletion", "disable", *args)
    fd = fleet.get("host", "types.kubefed.io", "federateddeployments", "test-namespace", "test-deployment")
    assert "kubefed.io/orphan" not in (fd["metadata"].get("annotations") or {})
    missing = kf(
        fleet,
        "orphaning-deletion",
        "enable",
        "federateddeployments",
        "nope",
        "-n",
        "test-namespace",
        ok=False,
    )
    assert 'FederatedDeployment "test-namespace/nope" not found' in missing.stderr


def test_status(fleet: FleetThread, kubectl: Kubectl) -> None:
    status = {
        "status": {
            "observedGeneration": 1,
            "conditions": [
                {"type": "Propagation", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}
            ],
            "clusters": [
                {"name": "cluster1", "remoteStatus": {"replicas": 3, "readyReplicas": 3}},
                {"name": "cluster2", "status": "ClusterNotReady"},
            ],
        }
    }
    kubectl(
        "patch",
        "federateddeployment",
        "test-deployment",
        "-n",
        "test-namespace",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    report = json.loads(
        kf(fleet, "status", "deployments", "test-deployment", "-n", "test-namespace", "-o", "json").stdout
    )
    assert [c["name"] for c in report["clusters"]] == ["cluster1", "cluster2", "cluster3"]
    (obj,) = report["objects"]
    assert obj["clusters"] == [
        {"cluster": "cluster1", "state": "Propagated", "replicas": "3/3"},
        {"cluster": "cluster2", "state": "ClusterNotReady", "replicas": ""},
    ]
    table = kf(fleet, "status").stdout
    assert "Member clusters" in table and "FederatedConfigMap demo/settings" in table
    assert yaml.safe_load(kf(fleet, "status", "-n", "demo", "-o", "yaml").stdout)["objects"]


def test_unjoin(fleet: FleetThread, joined: dict[str, str]) -> None:
    kfc = fleet.get("host", "core.kubefed.io", "kubefedclusters", NS, "cluster3")
    result = kf(fleet, "unjoin", "cluster3", "--cluster-context", "c3")
    assert 'Cluster "cluster3" unjoined from host "host"' in result.stdout
    assert fleet.get("host", "core.kubefed.io", "kubefedclusters", NS, "cluster3") is None
    assert fleet.get("host", "", "secrets", NS, kfc["spec"]["secretRef"]["name"]) is None
    assert fleet.get("c3", "", "serviceaccounts", NS, "cluster3-host") is None
    assert (
        fleet.get(
            "c3",
            "rbac.authorization.k8s.io",
            "clusterroles",
            None,
            "kubefed-controller-manager:cluster3-host",
        )
        is None
    )
    ns = fleet.get("c3", "", "namespaces", None, NS)
    assert ns is None or ns["metadata"].get("deletionTimestamp")
    before = snapshot(fleet, "host", "c1")
    unknown = kf(fleet, "unjoin", "nobody", "--cluster-context", "c1", ok=False)
    assert 'KubeFedCluster "kube-federation-system/nobody" not found' in unknown.stderr
    assert snapshot(fleet, "host", "c1") == before


def test_join_namespaced_scope_uses_roles(fleet: FleetThread, kubectl: Kubectl, installed: None) -> None:
    kubectl(
        "patch", "kubefedconfig", "kubefed", "-n", NS, "--type=merge", "-p", '{"spec":{"scope":"Namespaced"}}'
    )
    try:
        kf(fleet, "join", "cluster3", "--cluster-context", "c3")
        name = "kubefed-controller-manager:cluster3-host"
        assert fleet.get("c3", "rbac.authorization.k8s.io", "roles", NS, name) is not None
        assert fleet.get("c3", "rbac.authorization.k8s.io", "rolebindings", NS, name) is not None
        health = f"kubefed-controller-manager:{NS}:healthcheck-cluster3-host"
        assert fleet.get("c3", "rbac.authorization.k8s.io", "clusterroles", None, health)["rules"][0] == {
            "nonResourceURLs": ["/healthz"],
            "verbs": ["get"],
        }
        assert fleet.get("c3", "rbac.authorization.k8s.io", "clusterroles", None, name) is None
        kf(fleet, "unjoin", "cluster3", "--cluster-context", "c3")
        assert fleet.get("c3", "rbac.authorization.k8s.io", "roles", NS, name) is None
        assert fleet.get("c3", "rbac.authorization.k8s.io", "clusterroles", None, health) is None
    finally:
        kubectl(
            "patch",
            "kubefedconfig",
            "kubefed",
            "-n",
            NS,
            "--type=merge",
            "-p",
            '{"spec":{"scope":"Cluster"}}',
        )


def test_kubectl_plugin_and_watch(fleet: FleetThread, kubectl: Kubectl) -> None:
    bin_dir = str(Path(KUBECTL).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [KUBECTL, "kubefed", "version"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.startswith("kubefedctl version: "), proc.stderr

    def plugin(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [KUBECTL, "kubefed", "--kubeconfig", fleet.kubeconfig, "--host-cluster-context", "host", *args]
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done

    joined = plugin("join", "cluster3", "--cluster-context", "c3")
    assert 'Cluster "cluster3" joined to host "host"' in joined.stdout
    assert fleet.get("host", "core.kubefed.io", "kubefedclusters", NS, "cluster3") is not None
    report = json.loads(plugin("-n", "test-namespace", "-o", "json", "status", "deployments").stdout)
    assert "cluster3" in [c["name"] for c in report["clusters"]] and report["objects"]
    plugin("--dry-run", "unjoin", "cluster3", "--cluster-context", "c3")
    assert fleet.get("host", "core.kubefed.io", "kubefedclusters", NS, "cluster3") is not None
    plugin("--force", "-v", "2", "unjoin", "cluster3", "--cluster-context=c3")
    assert fleet.get("host", "core.kubefed.io", "kubefedclusters", NS, "cluster3") is None
    watched = kf(fleet, "status", "-w", "--interval", "0.05", "--max-rounds", "3", "-o", "json")
    assert watched.stdout.count('"clusters"') >= 1


def test_disable(fleet: FleetThread) -> None:
    refused = kf(fleet, "disable", "deployments", "--delete-crd", ok=False)
    assert "still exist" in refused.stderr
    assert (
        fleet.get("host", "core.kubefed.io", "federatedtypeconfigs", NS, "deployments.apps")["spec"][
            "propagation"
        ]
        == "Enabled"
    )
    kf(fleet, "disable", "gadgets.example.com", "--delete-crd")
    assert fleet.get("host", "core.kubefed.io", "federatedtypeconfigs", NS, "gadgets.example.com") is None
    assert (
        fleet.get(
            "host",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            "federatedgadgets.types.kubefed.io",
        )
        is None
    )
    result = kf(fleet, "disable", "jobs")
    assert 'federatedtypeconfig.core.kubefed.io "jobs.batch" deleted' in result.stdout
    assert (
        fleet.get(
            "host",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            None,
            "federatedjobs.types.kubefed.io",
        )
        is not None
    )
    again = kf(fleet, "disable", "jobs", ok=False)
    assert "not enabled" in again.stderr
