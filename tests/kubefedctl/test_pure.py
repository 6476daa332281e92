"""Pure parts of kubefedctl, no cluster needed.

Covers: type-name resolution (plural, singular, kind, short name, plural.group, core group wins,
ambiguity and unknown-name messages, removed-API successors, --version filtering); the federate
conversion (field stripping per kind, labels kept, FederatedNamespace placement and namespace); offline
``federate -f`` from a file and stdin; Federated CRD generation from a CRD target's schema
(retainReplicas only with integer spec.replicas); least-privilege RBAC rules; status rows; ``version``
output; usage errors end with ``Error:`` and exit code 2, never a traceback; flags before the verb as
cobra takes them (every verb's flags, the group's ``-v`` after the verb, pflag's bool and short-flag
rules, unknown options still refused).
"""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from kubefedctl._common import CommandError
from kubefedctl._federate import federated_object
from kubefedctl._fedtypes import (
    DEFAULT_TYPES,
    TargetType,
    federated_crd,
    federated_type_config,
    template_schema_from_crd,
)
from kubefedctl._rbac import least_privilege_rules
from kubefedctl._resolve import discover, resolve
from kubefedctl._status import cluster_row, object_rows
from kubefedctl.cli import cli

RESOURCES = [
    (
        "v1",
        {
            "name": "events",
            "singularName": "event",
            "kind": "Event",
            "namespaced": True,
            "shortNames": ["ev"],
        },
        True,
    ),
    (
        "events.k8s.io/v1",
        {
            "name": "events",
            "singularName": "event",
            "kind": "Event",
            "namespaced": True,
            "shortNames": ["ev"],
        },
        True,
    ),
    (
        "v1",
        {
            "name": "configmaps",
            "singularName": "configmap",
            "kind": "ConfigMap",
            "namespaced": True,
            "shortNames": ["cm"],
        },
        True,
    ),
    (
        "apps/v1",
        {
            "name": "deployments",
            "singularName": "deployment",
            "kind": "Deployment",
            "namespaced": True,
            "shortNames": ["deploy"],
        },
        True,
    ),
    (
        "networking.k8s.io/v1",
        {"name": "ingresses", "singularName": "ingress", "kind": "Ingress", "namespaced": True},
        True,
    ),
    (
        "a.example.com/v1",
        {"name": "widgets", "singularName": "widget", "kind": "Widget", "namespaced": True},
        True,
    ),
    (
        "b.example.com/v1",
        {"name": "widgets", "singularName": "widget", "kind": "Widget", "namespaced": True},
        True,
    ),
    (
        "b.example.com/v2",
        {"name": "widgets", "singularName": "widget", "kind": "Widget", "namespaced": True},
        False,
    ),
]


@pytest.mark.parametrize(
    "name", ["deployments", "deployment", "Deployment", "deploy", "deployments.apps", "DEPLOY"]
)
def test_resolve_names_like_kubectl(name: str) -> None:
    assert resolve(name, discover(RESOURCES)).qualified == "deployments.apps"


def test_resolve_core_group_wins_and_ambiguity_is_an_error() -> None:
    assert resolve("events", discover(RESOURCES)).qualified == "events"
    with pytest.raises(CommandError, match="A group-qualified plural name must be provided") as err:
        resolve("widgets", discover(RESOURCES))
    assert "widgets.a.example.com, widgets.b.example.com" in str(err.value)
    assert resolve("widgets.b.example.com", discover(RESOURCES)).version == "v1"
    assert resolve("widgets.b.example.com", discover(RESOURCES, "v2")).version == "v2"
    with pytest.raises(CommandError, match=r'Unable to find api resource named "gizmos"\.'):
        resolve("gizmos", discover(RESOURCES))


def test_resolve_removed_api_uses_successor_with_warning() -> None:
    warnings: list[str] = []
    assert (
        resolve("ingresses.extensions", discover(RESOURCES), warn=warnings.append).qualified
        == "ingresses.networking.k8s.io"
    )
    assert "successor" in warnings[0]


def _ftc(plural: str) -> dict:
    return federated_type_config(next(t for t in DEFAULT_TYPES if t.plural == plural))


def test_federate_service_strips_allocated_fields() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "web",
            "namespace": "demo",
            "labels": {"app": "web"},
            "uid": "u",
            "resourceVersion": "7",
            "annotations": {"a": "b"},
        },
        "spec": {
            "clusterIP": "10.0.0.1",
            "clusterIPs": ["10.0.0.1"],
            "type": "NodePort",
            "ports": [{"name": "http", "port": 80, "nodePort": 30001}],
        },
        "status": {"loadBalancer": {}},
    }
    fed = federated_object(svc, _ftc("services"))
    assert fed == {
        "apiVersion": "types.kubefed.io/v1beta1",
        "kind": "FederatedService",
        "metadata": {"name": "web", "namespace": "demo"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80}]},
            },
            "placement": {"clusterSelector": {"matchLabels": {}}},
        },
    }
    assert svc["spec"]["clusterIP"] == "10.0.0.1"  # input untouched


def test_federate_namespace_and_serviceaccount() -> None:
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "demo"},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
    fed = federated_object(ns, _ftc("namespaces"))
    assert fed["metadata"] == {"name": "demo", "namespace": "demo"}
    assert fed["spec"]["template"] == {}
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": "demo"},
        "secrets": [{"name": "default-token"}],
        "automountServiceAccountToken": False,
    }
    assert federated_object(sa, _ftc("serviceaccounts"))["spec"]["template"] == {
        "automountServiceAccountToken": False
    }
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "r"},
        "rules": [],
    }
    assert federated_object(role, _ftc("clusterroles"))["metadata"] == {"name": "r"}


def test_federated_crd_from_crd_target_schema() -> None:
    spec_schema = {
        "type": "object",
        "properties": {"replicas": {"type": "integer"}, "size": {"type": "string"}},
    }
    crd = {
        "spec": {
            "versions": [
                {
                    "name": "v1",
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": {"type": "object"},
                            },
                        }
                    },
                }
            ]
        }
    }
    template = template_schema_from_crd(crd, "v1")
    assert template is not None and template["properties"]["spec"] == spec_schema
    assert "status" not in template["properties"]
    target = TargetType("example.com", "v1", "Gadget", "gadgets", True, ("gd",))
    fed = federated_crd(target, template_schema=template)
    props = fed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert props["template"]["properties"]["spec"] == spec_schema
    assert props["retainReplicas"] == {"type": "boolean"}
    assert fed["metadata"]["name"] == "federatedgadgets.types.kubefed.io"
    assert fed["spec"]["names"]["shortNames"] == ["fgd"]
    no_replicas = federated_crd(next(t for t in DEFAULT_TYPES if t.plural == "configmaps"))
    assert (
        "retainReplicas"
        not in no_replicas["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
            "properties"
        ]
    )


def test_least_privilege_rules_cover_enabled_types_only() -> None:
    rules = least_privilege_rules([_ftc("deployments"), _ftc("configmaps"), _ftc("secrets")])
    assert {
        "apiGroups": ["apps"],
        "resources": ["deployments"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    } in rules
    assert any(r.get("apiGroups") == [""] and r["resources"] == ["configmaps", "secrets"] for r in rules)
    assert not any("*" in r.get("resources", []) or "*" in r.get("verbs", []) for r in rules)


def test_status_rows() -> None:
    clusters = [
        {
            "metadata": {"name": n, "labels": {"env": "prod"} if n != "c3" else {}},
            "spec": {"apiEndpoint": "https://x"},
        }
        for n in ("c1", "c2", "c3")
    ]
    fed = {
        "kind": "FederatedDeployment",
        "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"placement": {"clusterSelector": {"matchLabels": {"env": "prod"}}}},
        "status": {
            "conditions": [{"type": "Propagation", "status": "False", "reason": "CheckClusters"}],
            "clusters": [
                {"name": "c1", "remoteStatus": {"replicas": 3, "readyReplicas": 2}},
                {"name": "c3", "status": "WaitingForRemoval"},
            ],
        },
    }
    row = object_rows(fed, clusters)
    assert row["propagation"] == "False" and row["reason"] == "CheckClusters"
    assert row["clusters"] == [
        {"cluster": "c1", "state": "Propagated", "replicas": "2/3"},
        {"cluster": "c2", "state": "Pending", "replicas": ""},
        {"cluster": "c3", "state": "WaitingForRemoval", "replicas": ""},
    ]
    kfc = {
        "metadata": {"name": "c1"},
        "spec": {"apiEndpoint": "https://x"},
        "status": {
            "conditions": [{"type": "Offline", "status": "True", "reason": "ClusterNotReachable"}],
            "kubernetesVersion": "v1.30.0",
            "region": "eu",
            "zones": ["a"],
        },
    }
    assert cluster_row(kfc)["ready"] == "Offline" and cluster_row(kfc)["region"] == "eu"


def test_offline_federate_from_file_and_stdin(tmp_path) -> None:
    src = tmp_path / "cm.yaml"
    src.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: b}\n---\n"
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n"
    )
    result = CliRunner().invoke(cli, ["federate", "-f", str(src), "-n", "demo"])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all(result.stdout))
    assert docs[0]["kind"] == "FederatedConfigMap" and docs[0]["metadata"] == {
        "name": "cfg",
        "namespace": "demo",
    }
    assert docs[0]["spec"]["template"] == {"data": {"a": "b"}}
    assert docs[1]["kind"] == "FederatedNamespace" and docs[1]["metadata"]["namespace"] == "demo"
    piped = CliRunner().invoke(cli, ["federate", "-f", "-"], input=src.read_text())
    assert piped.exit_code == 0 and "FederatedConfigMap" in piped.stdout


def test_version_output() -> None:
    result = CliRunner().invoke(cli, ["version"])
    assert result.exit_code == 0
    assert result.stdout.startswith('kubefedctl version: version.Info{Version:"v')


@pytest.mark.parametrize(
    "argv",
    [
        ["federate", "configmaps"],
        ["enable"],
        ["disable", "configmaps", "--version", "v1"],
        ["federate", "-f", "x.yaml", "configmaps", "cfg"],
    ],
)
def test_usage_errors(argv: list[str]) -> None:
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2
    assert "Error:" in result.stderr and "Traceback" not in result.output


def test_missing_kubeconfig_is_one_line_error(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["status", "--kubeconfig", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot read kubeconfig") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            [
                "--kubeconfig",
                "K",
                "--host-cluster-context",
                "host",
                "join",
                "east",
                "--cluster-context",
                "east",
            ],
            ["join", "--kubeconfig=K", "--host-cluster-context=host", "--cluster-context=east", "--", "east"],
        ),
        (["join", "east", "-v", "2", "--dry-run"], ["--v=2", "join", "--dry-run=true", "--", "east"]),
        (["--dry-run", "join", "east"], ["join", "--dry-run=true", "--", "east"]),
        (
            ["join", "--least-privilege", "east", "--error-on-existing=false"],
            ["join", "--least-privilege=true", "--error-on-existing=false", "--", "east"],
        ),
        (
            ["-tc", "-n=demo", "-ojson", "federate", "ns", "demo"],
            [
                "federate",
                "--enable-type=true",
                "--contents=true",
                "--namespace=demo",
                "--output=json",
                "--",
                "ns",
                "demo",
            ],
        ),
        (
            ["--version", "v1", "--delete-crd", "disable", "jobs"],
            ["disable", "--version=v1", "--delete-crd=true", "--", "jobs"],
        ),
        (
            ["-n", "x", "orphaning-deletion", "status", "fcm", "web"],
            ["orphaning-deletion", "--namespace=x", "--", "status", "fcm", "web"],
        ),
        (["--kubeconfig", "K", "version"], ["version", "--kubeconfig=K"]),
        (["-h", "join"], ["join", "--help"]),
        (["--bogus", "join", "east"], ["--bogus", "join", "east"]),
        (["--kubeconfig", "K", "join", "east", "--bogus"], ["join", "--kubeconfig=K", "east", "--bogus"]),
    ],
)
def test_flags_before_the_verb_are_reordered_like_cobra(argv: list[str], expected: list[str]) -> None:
    import click

    assert cli.reorder(click.Context(cli, **cli.context_settings), argv) == expected


def test_every_verb_takes_its_flags_before_the_verb(tmp_path) -> None:
    src = tmp_path / "cm.yaml"
    src.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: b}\n")
    offline = CliRunner().invoke(cli, ["-n", "demo", "-f", str(src), "federate"])
    assert offline.exit_code == 0, offline.stderr
    assert yaml.safe_load(offline.stdout)["metadata"]["namespace"] == "demo"
    missing = str(tmp_path / "nope")
    for argv in (
        ["join", "east", "--cluster-context", "east"],
        ["unjoin", "east"],
        ["enable", "configmaps"],
        ["disable", "configmaps"],
        ["federate", "configmaps", "cfg"],
        ["orphaning-deletion", "status", "fcm", "cfg"],
        ["status"],
    ):
        result = CliRunner().invoke(
            cli, ["--kubeconfig", missing, "--host-cluster-context", "host", "-v", "2", "--dry-run", *argv]
        )
        assert result.exit_code == 1, (argv, result.stderr)
        assert result.stderr.startswith("Error: cannot read kubeconfig"), (argv, result.stderr)
    assert CliRunner().invoke(cli, ["--kubeconfig", missing, "version"]).exit_code == 0
    refused = CliRunner().invoke(cli, ["--no-such-flag", "status"])
    assert refused.exit_code == 2 and "No such option '--no-such-flag'" in refused.stderr


def test_public_surface() -> None:
    import kubefedctl

    assert kubefedctl.__all__ == ["cli", "main"]
    assert sorted(cli.commands) == [
        "disable",
        "enable",
        "explain",
        "federate",
        "join",
        "migrate",
        "orphaning-deletion",
        "preview",
        "status",
        "unjoin",
        "version",
    ]


def test_preview_and_history_rows() -> None:
    from kubefedctl._queries import history_rows, preview_rows
    from shared.messages import ClusterReason, DecisionRecord, ObjectKey, PreviewObject

    key = ObjectKey(resource="federateddeployments.types.kubefed.io", namespace="ns", name="web")
    result = PreviewObject(
        key=key,
        kind="FederatedDeployment",
        input_kind="FederatedDeployment",
        clusters=[
            ClusterReason(cluster="a", selected=True, reason="listed", replicas=2),
            ClusterReason(cluster="b", selected=False, reason="not listed", replicas=None),
            ClusterReason(cluster="c", selected=True, reason="listed", replicas=1),
        ],
        replicas={"a": 2, "c": 1},
        rendered={"a": {}, "c": {}},
        diffs={
            "a": "--- a/now\n+++ a/preview\n",
            "b": "--- b/now\n+++ /dev/null\n",
            "c": "--- /dev/null\n+++ c/preview\n",
        },
    )
    assert preview_rows(result) == [
        ["a", "yes", "2", "updated", "listed"],
        ["b", "no", "", "removed", "not listed"],
        ["c", "yes", "1", "created", "listed"],
    ]
    record = DecisionRecord(
        key=key,
        source="placement",
        decided_at=0.0,
        generation=3,
        reasons=[ClusterReason(cluster="a", selected=True, reason="listed")],
        changes=["clusters added: a"],
        manager="kubectl-patch",
        operation="Update",
        trace_id="ab" * 16,
    )
    assert history_rows([record]) == [
        [
            "1970-01-01T00:00:00Z",
            "placement",
            "gen 3",
            "clusters added: a",
            "kubectl-patch (Update)",
            "ab" * 16,
        ]
    ]
    assert history_rows([record], "a")[0][3] == "clusters added: a | a: listed"
