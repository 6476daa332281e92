"""Static checks of deploy/kustomize: every kustomization renders with plain ``kubectl kustomize``, and
the rendered objects follow STYLE.md 2.4 (probes on the http port, resources, pod hardening,
recommended labels, least-privilege RBAC with no ``*``), the Deployments' arguments and environment
variables exist in ``kubefed``'s CLI, the NATS StatefulSet is a routed 3-node JetStream cluster, and
the generated CRD/config copies equal the generator's output. Applying to the simulator: test_apply.py.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner

from kubefed.cli import main as kubefed_main
from kubefedctl._crds import render_files
from services.dns._records import RECORD_KINDS
from services.watcher._resources import STATIC_RESOURCES
from shared.k8s import Resource
from tests.deploy._schema import model_name, validate
from tests.support.manifests import (
    COMPONENTS,
    DEPLOY,
    KUSTOMIZATIONS,
    KUSTOMIZE,
    NAMESPACE,
    OVERLAYS,
    RECOMMENDED_LABELS,
    ROOT,
    by_name,
    env_refs,
    labels,
    of_kind,
    render,
    render_with_components,
)

pytestmark = pytest.mark.timeout(60)

ROOT_SERVICES = ROOT / "services"
WORKLOADS = ("Deployment", "StatefulSet")
OWN_KINDS = (
    "Deployment",
    "StatefulSet",
    "Service",
    "ServiceAccount",
    "ConfigMap",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
)
NAMESPACED = (
    "Deployment",
    "StatefulSet",
    "Service",
    "ServiceAccount",
    "ConfigMap",
    "Role",
    "RoleBinding",
    "KubeFedConfig",
    "FederatedTypeConfig",
)


def test_overlays_exist() -> None:
    assert {"default", "regions"} <= set(OVERLAYS)


@pytest.mark.parametrize("rel", KUSTOMIZATIONS)
def test_every_kustomization_renders(rel: str) -> None:
    objs = render(rel)
    assert objs, f"{rel} renders nothing"
    for o in objs:
        assert o.get("apiVersion") and o.get("kind") and o["metadata"].get("name"), o


# -- generated copies ---------------------------------------------------------------------------------
def test_crd_and_config_copies_equal_the_generator() -> None:
    """deploy/kustomize/{crds,config} are `python -m kubefedctl._crds deploy/kustomize` output."""
    generated = render_files()
    for rel, text in generated.items():
        copy = KUSTOMIZE / rel
        assert copy.read_text() == text, (
            f"deploy/kustomize/{rel} is stale: run python -m kubefedctl._crds deploy/kustomize"
        )
        assert copy.read_text() == (DEPLOY / rel).read_text(), (
            f"deploy/kustomize/{rel} differs from deploy/{rel}"
        )
    for sub in ("crds", "config"):
        listed = yaml.safe_load((KUSTOMIZE / sub / "kustomization.yaml").read_text())["resources"]
        assert sorted(listed) == sorted(p.name for p in (DEPLOY / sub).glob("*.yaml")), sub
        assert sorted(listed) == sorted(
            rel.split("/", 1)[1] for rel in generated if rel.startswith(sub + "/")
        )


def test_crds_render_every_crd_of_deploy_crds() -> None:
    want = {
        d["metadata"]["name"]
        for f in (DEPLOY / "crds").glob("*.yaml")
        for d in yaml.safe_load_all(f.read_text())
        if d
    }
    got = {o["metadata"]["name"] for o in render("crds")}
    assert got == want
    for crd in render("crds"):
        assert crd["kind"] == "CustomResourceDefinition" and crd["apiVersion"] == "apiextensions.k8s.io/v1"


def test_overlays_leave_crds_to_their_own_kustomization() -> None:
    """CRDs are applied first (server-side), so no overlay carries them."""
    for overlay in OVERLAYS:
        assert not list(of_kind(render(f"overlays/{overlay}"), "CustomResourceDefinition"))


# -- Kubernetes schemas --------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builtin_objects_match_the_kubernetes_schemas(overlay: str, tmp_path: Path) -> None:
    """Built-in kinds against the Kubernetes 1.36 API models (unknown fields, types, required fields);
    the custom resources are validated by the simulator against the CRDs in test_apply.py."""
    objs = render_with_components(f"overlays/{overlay}", COMPONENTS, tmp_path) + render("crds")
    custom = set()
    for o in objs:
        if model_name(o) is None:
            custom.add(o["kind"])
            continue
        assert validate(o) == [], f"{o['kind']}/{o['metadata']['name']}"
    assert custom == {"KubeFedConfig", "FederatedTypeConfig", "PodMonitor"}


def test_schema_check_rejects_what_the_api_server_would() -> None:
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "replicas": "2",
            "selector": {"matchLabels": {"a": "b"}},
            "strategy": {"tpye": "Recreate"},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"image": "i"}]}},
        },
    }
    errors = validate(bad)
    assert any("replicas: expected int" in e for e in errors)
    assert any("strategy.tpye: unknown field" in e for e in errors)
    assert any("containers[0]" in e and "`name`" in e for e in errors)


# -- labels, namespace --------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_recommended_labels_and_namespace(overlay: str) -> None:
    objs = render(f"overlays/{overlay}")
    for o in objs:
        lab = labels(o)
        assert lab.get("app.kubernetes.io/part-of") == "kubefed", o["metadata"]["name"]
        assert lab.get("app.kubernetes.io/managed-by") == "kustomize", o["metadata"]["name"]
        if o["kind"] in OWN_KINDS:
            missing = [k for k in RECOMMENDED_LABELS if not lab.get(k)]
            assert not missing, f"{o['kind']}/{o['metadata']['name']} lacks {missing}"
        if o["kind"] in NAMESPACED:
            assert o["metadata"].get("namespace") == NAMESPACE, f"{o['kind']}/{o['metadata']['name']}"
    for w in of_kind(objs, *WORKLOADS):
        template_labels = w["spec"]["template"]["metadata"]["labels"]
        selector = w["spec"]["selector"]["matchLabels"]
        assert selector.items() <= template_labels.items(), w["metadata"]["name"]
        assert all(template_labels.get(k) for k in RECOMMENDED_LABELS), w["metadata"]["name"]
        for tsc in w["spec"]["template"]["spec"].get("topologySpreadConstraints") or []:
            assert tsc["labelSelector"]["matchLabels"] == selector, w["metadata"]["name"]
    ns = by_name(objs, "Namespace", NAMESPACE)
    assert labels(ns)["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workload_selectors_do_not_overlap(overlay: str) -> None:
    workloads = list(of_kind(render(f"overlays/{overlay}"), *WORKLOADS))
    for a in workloads:
        for b in workloads:
            if a is b:
                continue
            sel = a["spec"]["selector"]["matchLabels"]
            assert not sel.items() <= b["spec"]["template"]["metadata"]["labels"].items(), (
                f"{a['metadata']['name']} selects pods of {b['metadata']['name']}"
            )


# -- pod hardening, probes, resources -----------------------------------------------------------------
def _port(container: dict[str, Any], ref: int | str) -> int:
    if isinstance(ref, int):
        return ref
    ports = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
    assert ref in ports, f"probe port {ref!r} is not a named port of {container['name']}"
    return int(ports[ref])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pod_hardening_probes_and_resources(overlay: str) -> None:
    objs = render(f"overlays/{overlay}")
    workloads = list(of_kind(objs, *WORKLOADS))
    assert workloads
    for w in workloads:
        name = w["metadata"]["name"]
        pod = w["spec"]["template"]["spec"]
        psc = pod.get("securityContext") or {}
        assert psc.get("runAsNonRoot") is True, name
        assert int(psc.get("runAsUser", 0)) > 0, name
        assert (psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault", name
        assert pod.get("hostNetwork") is not True and pod.get("hostPID") is not True, name
        for c in pod["containers"] + (pod.get("initContainers") or []):
            csc = c.get("securityContext") or {}
            where = f"{name}/{c['name']}"
            assert csc.get("allowPrivilegeEscalation") is False, where
            assert csc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not csc.get("capabilities", {}).get("add"), where
            assert csc.get("privileged") is not True, where
            assert csc.get("readOnlyRootFilesystem") is True, where
            assert csc.get("runAsNonRoot", True) is True, where
            assert (csc.get("seccompProfile") or psc["seccompProfile"])["type"] == "RuntimeDefault", where
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(kind) or {}), f"{where}: resources.{kind}"
            for probe in ("livenessProbe", "readinessProbe"):
                assert c.get(probe, {}).get("httpGet"), f"{where}: {probe}"
            mounts = {m["mountPath"] for m in c.get("volumeMounts") or []}
            volumes = {v["name"] for v in pod.get("volumes") or []} | {
                t["metadata"]["name"] for t in w["spec"].get("volumeClaimTemplates") or []
            }
            assert {m["name"] for m in c.get("volumeMounts") or []} <= volumes, where
            if w["kind"] == "Deployment":
                assert "/tmp" in mounts, f"{where}: read-only root needs /tmp"


def _configmap_env(objs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        ref = src["configMapRef"]["name"]
        env.update(by_name(objs, "ConfigMap", ref)["data"])
    return env


def _help_commands() -> set[str]:
    out = CliRunner().invoke(kubefed_main, ["--help"]).output
    section = out.split("Commands:", 1)[1]
    return {line.split()[0] for line in section.splitlines() if line.strip()}


SERVICE_COMMANDS = {"watcher", "scheduler", "propagator", "dns"}


def _kubefed_deployments(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d
        for d in of_kind(objs, "Deployment")
        if d["spec"]["template"]["spec"]["containers"][0]["image"].startswith("kubefed")
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_deployments_match_the_cli(overlay: str) -> None:
    """Args name a real `kubefed --help` sub-command and its real options; env vars are its envvars;
    probes hit /healthz and /readyz on the --http-port; OTEL variables come from the Downward API."""
    objs = render(f"overlays/{overlay}")
    commands = _help_commands()
    assert SERVICE_COMMANDS <= commands
    deployments = _kubefed_deployments(objs)
    seen = set()
    for d in deployments:
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        args = c["args"]
        assert args[0] in commands and args[0] in SERVICE_COMMANDS, f"{name}: {args}"
        seen.add(args[0])
        assert "command" not in c, f"{name}: the image's ENTRYPOINT is kubefed"
        cmd: click.Command = kubefed_main.commands[args[0]]
        options = {o: p for p in cmd.params for o in p.opts if isinstance(p, click.Option)}
        i = 1
        while i < len(args):
            opt, has_value, _ = args[i].partition("=")
            assert opt in options, f"{name}: {opt} is not an option of kubefed {args[0]}"
            if not has_value and not options[opt].is_flag:
                i += 1
            i += 1
        envvars = {p.envvar for p in cmd.params if isinstance(p, click.Option) and p.envvar}
        env = {e["name"]: e for e in c.get("env") or []}
        from_cm = _configmap_env(objs, c)
        for var in [*env, *from_cm]:
            if var.startswith("KUBEFED_"):
                assert var in envvars, f"{name}: {var} is not read by kubefed {args[0]}"
        assert (
            from_cm.get("KUBEFED_IN_CLUSTER") == "true"
            or env.get("KUBEFED_IN_CLUSTER", {}).get("value") == "true"
        )
        # probes on the http port == --http-port
        http_port = int(from_cm.get("KUBEFED_HTTP_PORT") or options["--http-port"].default)
        assert http_port == options["--http-port"].default == 8081
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        for probe in ("livenessProbe", "readinessProbe"):
            assert _port(c, c[probe]["httpGet"]["port"]) == http_port, f"{name}: {probe} port"
        ann = d["spec"]["template"]["metadata"].get("annotations") or {}
        assert ann.get("prometheus.io/port") == str(http_port) and ann.get("prometheus.io/path") == "/metrics"
        # Downward API and OTLP
        field = {k: (v.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") for k, v in env.items()}
        assert field.get("POD_NAME") == "metadata.name" and field.get("POD_NAMESPACE") == "metadata.namespace"
        assert field.get("KUBEFED_NAMESPACE") == "metadata.namespace"
        attrs = env["OTEL_RESOURCE_ATTRIBUTES"]["value"]
        assert "k8s.pod.name=$(POD_NAME)" in attrs.split(
            ","
        ) and "k8s.namespace.name=$(POD_NAMESPACE)" in attrs.split(",")
        assert env["OTEL_SERVICE_NAME"]["value"] == f"kubefed-{args[0]}"
        assert from_cm.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").startswith("http")
        # $(VAR) only expands variables defined before it
        defined = set(from_cm)
        for e in c.get("env") or []:
            for ref in env_refs(e.get("value", "")):
                assert ref in defined, f"{name}: {e['name']} uses $({ref}) before it is defined"
            defined.add(e["name"])
        # references resolve inside the overlay
        by_name(objs, "ServiceAccount", pod["serviceAccountName"])
        assert pod["serviceAccountName"] == f"kubefed-{args[0]}"
    assert seen == SERVICE_COMMANDS, seen


def test_replica_counts() -> None:
    for overlay in OVERLAYS:
        objs = render(f"overlays/{overlay}")
        assert by_name(objs, "Deployment", "kubefed-watcher")["spec"]["replicas"] == 2
        assert (
            "--lease-name=kubefed-watcher"
            in by_name(objs, "Deployment", "kubefed-watcher")["spec"]["template"]["spec"]["containers"][0][
                "args"
            ]
        )
        assert by_name(objs, "Deployment", "kubefed-scheduler")["spec"]["replicas"] >= 2
        assert by_name(objs, "Deployment", "kubefed-dns")["spec"]["replicas"] == 1


def _propagators(objs: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["args"]
        for d in _kubefed_deployments(objs)
        if d["spec"]["template"]["spec"]["containers"][0]["args"][0] == "propagator"
    }


def test_default_overlay_runs_one_propagator_for_every_cluster() -> None:
    props = _propagators(render("overlays/default"))
    assert list(props) == ["kubefed-propagator"]
    assert not any(a.startswith(("--cluster-selector", "--clusters")) for a in props["kubefed-propagator"])


def test_regions_overlay_runs_one_propagator_per_region() -> None:
    objs = render("overlays/regions")
    props = _propagators(objs)
    assert props.keys() == {"kubefed-propagator-eu", "kubefed-propagator-us"}
    for region in ("eu", "us"):
        d = by_name(objs, "Deployment", f"kubefed-propagator-{region}")
        assert f"--cluster-selector=region={region}" in props[d["metadata"]["name"]]
        assert d["spec"]["selector"]["matchLabels"]["kubefed.io/propagator-set"] == region
        assert d["spec"]["replicas"] == 1 and d["spec"]["strategy"]["type"] == "Recreate"
        env = {e["name"]: e.get("value") for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert f"k8s.deployment.name=kubefed-propagator-{region}" in env["OTEL_RESOURCE_ATTRIBUTES"]
    # the selector string parses as the propagator parses it
    from shared.planning import selector_from_string

    assert selector_from_string("region=eu") == {"matchLabels": {"region": "eu"}}


# -- RBAC -----------------------------------------------------------------------------------------------
FEDERATED = sorted(
    d["spec"]["names"]["plural"]
    for d in yaml.safe_load_all((DEPLOY / "crds" / "types.kubefed.io.yaml").read_text())
    if d
)
R, W = {"get", "list", "watch"}, {"create", "update", "patch", "delete"}

# (binding scope, apiGroup, resource) -> verbs. test_rbac_matches_the_host_calls_in_services derives the
# same table from the host API calls in services/*/, so a new call fails until RBAC is updated.
POLICIES = [
    "clusteroverridepolicies",
    "clusterpropagationpolicies",
    "overridepolicies",
    "propagationpolicies",
]
# the native types the shipped roles let policies select (docs/compatibility.md): Deployments; an operator
# adds a rule per further type (propagateDeps needs ConfigMaps, Secrets, ServiceAccounts, PVCs)
NATIVE = [("apps", "deployments")]
NATIVE_STATUS = [("apps", "deployments")]
EXPECTED: dict[str, dict[tuple[str, str, str], set[str]]] = {
    "watcher": {
        ("ns", "core.kubefed.io", "kubefedconfigs"): {"get", "list", "watch"},
        ("ns", "core.kubefed.io", "kubefedclusters"): {"list", "watch"},
        ("ns", "core.kubefed.io", "federatedtypeconfigs"): {"list", "watch"},
        ("ns", "multiclusterdns.kubefed.io", "domains"): {"list", "watch"},
        ("cluster", "scheduling.kubefed.io", "replicaschedulingpreferences"): {"list", "watch"},
        ("cluster", "multiclusterdns.kubefed.io", "servicednsrecords"): {"list", "watch"},
        ("cluster", "multiclusterdns.kubefed.io", "ingressdnsrecords"): {"list", "watch"},
        **{("cluster", "types.kubefed.io", f): {"list", "watch"} for f in FEDERATED},
        **{("cluster", "policy.karmada.io", p): {"list", "watch"} for p in POLICIES},
        **{("cluster", g, r): {"list", "watch"} for g, r in NATIVE},
        ("cluster", "", "namespaces"): {"get"},
    },
    "scheduler": {
        ("ns", "core.kubefed.io", "kubefedclusters"): {"get", "list"},
        ("ns", "core.kubefed.io", "kubefedclusters/status"): {"update"},
        ("ns", "core.kubefed.io", "federatedtypeconfigs"): {"list"},
        ("ns", "core.kubefed.io", "kubefedconfigs"): {"get"},
        ("cluster", "", "events"): {"create"},
        ("cluster", "scheduling.kubefed.io", "replicaschedulingpreferences"): {"get", "list"},
        **{("cluster", "policy.karmada.io", p): {"list"} for p in POLICIES},
        **{("cluster", g, r): {"get", "list", "patch"} for g, r in NATIVE},
        **{("cluster", g, r + "/status"): {"update"} for g, r in NATIVE_STATUS},
        **{("cluster", "types.kubefed.io", f): {"get", "list", "patch"} for f in FEDERATED},
        **{("cluster", "types.kubefed.io", f + "/status"): {"update"} for f in FEDERATED},
        ("cluster", "", "namespaces"): {"get"},
    },
    "propagator": {
        ("ns", "core.kubefed.io", "kubefedclusters"): {"get", "list"},
        ("ns", "core.kubefed.io", "kubefedconfigs"): {"get"},
        ("ns", "", "secrets"): {"get"},
        ("cluster", "", "namespaces"): {"get"},
    },
    "dns": {
        ("ns", "core.kubefed.io", "kubefedconfigs"): {"get"},
        ("ns", "core.kubefed.io", "kubefedclusters"): {"list"},
        ("ns", "multiclusterdns.kubefed.io", "domains"): {"get"},
        ("cluster", "multiclusterdns.kubefed.io", "servicednsrecords"): {"get", "list"},
        ("cluster", "multiclusterdns.kubefed.io", "ingressdnsrecords"): {"get", "list"},
        ("cluster", "multiclusterdns.kubefed.io", "servicednsrecords/status"): {"update"},
        ("cluster", "multiclusterdns.kubefed.io", "ingressdnsrecords/status"): {"update"},
        ("cluster", "multiclusterdns.kubefed.io", "dnsendpoints"): {"get", "create", "patch", "delete"},
        ("cluster", "", "events"): {"create"},
    },
}


def _permissions(objs: list[dict[str, Any]], sa: str) -> dict[tuple[str, str, str], set[str]]:
    roles = {(o["kind"], o["metadata"]["name"]): o for o in of_kind(objs, "Role", "ClusterRole")}
    perms: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for b in of_kind(objs, "RoleBinding", "ClusterRoleBinding"):
        if not any(
            s["kind"] == "ServiceAccount" and s["name"] == sa and s.get("namespace") == NAMESPACE
            for s in b["subjects"]
        ):
            continue
        role = roles.get((b["roleRef"]["kind"], b["roleRef"]["name"]))
        assert role is not None, (
            f"{b['kind']}/{b['metadata']['name']} binds a role the overlay does not define"
        )
        scope = "ns" if b["kind"] == "RoleBinding" else "cluster"
        for rule in role["rules"]:
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    perms[(scope, g, r)] |= set(rule["verbs"])
    return dict(perms)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rbac_is_explicit(overlay: str) -> None:
    objs = render(f"overlays/{overlay}")
    for role in of_kind(objs, "Role", "ClusterRole"):
        assert "aggregationRule" not in role
        for rule in role["rules"]:
            where = f"{role['kind']}/{role['metadata']['name']}: {rule}"
            assert rule.get("apiGroups") is not None and rule.get("resources") and rule.get("verbs"), where
            assert "nonResourceURLs" not in rule and "resourceNames" not in rule, where
            for field in ("apiGroups", "resources", "verbs"):
                assert not any("*" in v for v in rule[field]), where
            assert set(rule["verbs"]) <= R | W, where
    for b in of_kind(objs, "RoleBinding", "ClusterRoleBinding"):
        assert b["roleRef"]["name"].startswith("kubefed-"), "no built-in roles (cluster-admin, edit, ...)"
        for s in b["subjects"]:
            assert s["kind"] == "ServiceAccount" and s["namespace"] == NAMESPACE
        if b["kind"] == "RoleBinding":
            assert b["roleRef"]["kind"] == "Role"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_rbac_is_what_each_service_calls(overlay: str) -> None:
    objs = render(f"overlays/{overlay}")
    for service, expected in EXPECTED.items():
        assert _permissions(objs, f"kubefed-{service}") == expected, service
    # Secrets: get, in the system namespace, for the propagator only
    for service in EXPECTED:
        for (scope, group, res), verbs in _permissions(objs, f"kubefed-{service}").items():
            if group == "" and res == "secrets":
                assert service == "propagator" and scope == "ns" and verbs == {"get"}
    # the watcher never writes
    assert not any(v & W for v in _permissions(objs, "kubefed-watcher").values())
    # NATS gets no API access at all
    assert _permissions(objs, "kubefed-nats") == {}
    assert by_name(objs, "ServiceAccount", "kubefed-nats")["automountServiceAccountToken"] is False


_HOST_CALL = re.compile(r"\bhost\.(get_or_none|get|list|watch|create|patch|replace|delete)\(\s*([\w.]+)")
# an informer on the host client lists and watches its resource (shared/runtime/_informer.py)
_HOST_INFORMER = re.compile(r"\bInformer\(\s*[\w.]*\bhost,\s*([\w.]+)")
_VERB = {
    "get_or_none": "get",
    "get": "get",
    "list": "list",
    "watch": "watch",
    "create": "create",
    "patch": "patch",
    "replace": "update",
    "delete": "delete",
}
# KubeFed reads these only from its system namespace; the rest are read wherever the objects live.
_SYSTEM_NAMESPACE_ONLY = {"kubefedclusters", "kubefedconfigs", "federatedtypeconfigs", "domains"}
_SYSTEM_NAMESPACE_ARGS = ("self.namespace", "self.state.namespace", "kubefed_namespace")
# calls of opt-in features, off by default, so absent from the shipped RBAC (docs/deploy.md lists what
# enabling them adds): the scheduler's --propagated-versions, the dns service's extra --dnsendpoint-group
_OPT_IN_CALLS = {
    ("scheduler", "version_resource"): "propagatedversions",
    ("dns", "endpoint_resource"): "dnsendpoints",
}
# shared helpers that call the host on a service's behalf: what they need
_SHARED_HOST_CALLS = {
    "read_kubefed_config": [
        (("ns", "core.kubefed.io", "kubefedconfigs"), "get")
    ],  # shared/runtime/_config.py
    "read_host_identity": [(("cluster", "", "namespaces"), "get")],  # shared/runtime/_host.py
}


def test_opt_in_rbac_is_documented() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text()
    for plural in ("propagatedversions", "clusterpropagatedversions", "dnsendpoints.externaldns.k8s.io"):
        assert plural in text, plural


def _call_text(src: str, open_paren: int) -> str:
    depth = 0
    for i in range(open_paren, len(src)):
        depth += {"(": 1, ")": -1}.get(src[i], 0)
        if depth == 0:
            return src[open_paren : i + 1]
    raise AssertionError("unbalanced call")


def _code_permissions(service: str) -> dict[tuple[str, str, str], set[str]]:
    """The RBAC a service needs, from the ``host.<verb>(RESOURCE, ...)`` calls in services/<service>/."""
    perms: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for path in sorted((ROOT_SERVICES / service).glob("*.py")):
        src = path.read_text()
        module = importlib.import_module(f"services.{service}.{path.stem}")
        calls = [(m.group(1), m.group(2), m.start()) for m in _HOST_CALL.finditer(src)]
        calls += [
            (verb, m.group(1), m.start()) for m in _HOST_INFORMER.finditer(src) for verb in ("list", "watch")
        ]
        for method, arg, start in calls:
            call = _call_text(src, src.index("(", start))
            targets: list[tuple[str, str, str]]  # scope, group, plural
            if arg == "fed_type.resource":
                targets = [("cluster", "types.kubefed.io", f) for f in FEDERATED]
            elif arg == "ns_type.resource":
                targets = [("cluster", "types.kubefed.io", "federatednamespaces")]
            elif arg == "resource" and service == "watcher":
                targets = [
                    ("ns" if system_only else "cluster", r.group, r.plural)
                    for r, system_only in STATIC_RESOURCES
                ]
                targets += [("cluster", "types.kubefed.io", f) for f in FEDERATED]
                targets += [("cluster", g, r) for g, r in NATIVE]
            elif arg == "policy_resource":
                targets = [("cluster", "policy.karmada.io", p) for p in POLICIES]
            elif arg == "native.resource":
                status_call = method == "replace" and 'subresource="status"' in call
                targets = [("cluster", g, r) for g, r in (NATIVE_STATUS if status_call else NATIVE)]
            elif arg == "resource" and service == "dns":
                targets = [("cluster", r.group, r.plural) for r, _, _ in RECORD_KINDS.values()]
            elif (service, arg) == ("dns", "endpoint_resource"):
                targets = [("cluster", "multiclusterdns.kubefed.io", "dnsendpoints")]  # the default group
            elif (service, arg) in _OPT_IN_CALLS:
                continue
            else:
                res = getattr(module, arg, None)
                assert isinstance(res, Resource), (
                    f"{path.name}: host.{method}({arg}, ...) - map it to RBAC in this test"
                )
                ns = res.plural in _SYSTEM_NAMESPACE_ONLY or any(a in call for a in _SYSTEM_NAMESPACE_ARGS)
                targets = [("ns" if ns and res.namespaced else "cluster", res.group, res.plural)]
            status = method == "replace" and 'subresource="status"' in call
            for scope, group, plural in targets:
                perms[(scope, group, plural + ("/status" if status else ""))].add(_VERB[method])
        for helper, needs in _SHARED_HOST_CALLS.items():
            if re.search(rf"\b{helper}\(", src):
                for target, verb in needs:
                    perms[target].add(verb)
    return dict(perms)


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_rbac_matches_the_host_calls_in_services(service: str) -> None:
    """Least privilege, derived from the code: exactly the verbs the service's host calls use."""
    assert _code_permissions(service) == EXPECTED[service]


def test_rbac_covers_every_federated_crd() -> None:
    """A Federated<Kind> added to deploy/crds must be added to the watcher and scheduler roles."""
    assert len(FEDERATED) >= 10 and all(f.startswith("federated") for f in FEDERATED)


# -- NATS -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nats_jetstream_cluster(overlay: str, tmp_path: Path) -> None:
    objs = render(f"overlays/{overlay}")
    sts = by_name(objs, "StatefulSet", "kubefed-nats")
    spec = sts["spec"]
    assert spec["replicas"] == 3
    headless = by_name(objs, "Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    assert headless["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    (c,) = spec["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/data"
    cm_name = next(v["configMap"]["name"] for v in spec["template"]["spec"]["volumes"] if "configMap" in v)
    conf = by_name(objs, "ConfigMap", cm_name)["data"]["nats.conf"]
    assert re.search(r"store_dir:\s*/data\b", conf)
    routes = re.findall(r"nats://([\w.-]+):6222", conf)
    assert routes == [f"kubefed-nats-{i}.{headless['metadata']['name']}" for i in range(3)]
    assert c["args"] == ["--config", f"{mounts['config']}/nats.conf"]
    # the services' URL points at the client Service, and streams are replicated at most 3 times
    env = by_name(
        objs,
        "ConfigMap",
        next(
            src["configMapRef"]["name"]
            for src in by_name(objs, "Deployment", "kubefed-watcher")["spec"]["template"]["spec"][
                "containers"
            ][0]["envFrom"]
        ),
    )["data"]
    m = re.fullmatch(r"nats://([\w-]+):(\d+)", env["KUBEFED_NATS_URL"])
    assert m is not None
    client = by_name(objs, "Service", m.group(1))
    assert int(m.group(2)) in {p["port"] for p in client["spec"]["ports"]}
    assert client["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    assert 1 <= int(env["KUBEFED_STREAM_REPLICAS"]) <= spec["replicas"]
    # nats-server itself accepts the configuration (same version as the tests' server)
    nats_server = Path(sys.executable).parent / "nats-server"
    if not nats_server.exists():
        pytest.skip("nats-server not installed")
    (tmp_path / "nats.conf").write_text(conf)
    proc = subprocess.run(
        [str(nats_server), "-c", str(tmp_path / "nats.conf"), "-t"],
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "SERVER_NAME": "kubefed-nats-0"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["path"].startswith("/healthz"), probe
        assert _port(c, c[probe]["httpGet"]["port"]) == 8222
    assert re.search(r"^http:\s*0\.0\.0\.0:8222", conf, re.M)


# -- optional components --------------------------------------------------------------------------------
def _selected(objs: list[dict[str, Any]], selector: dict[str, str]) -> list[dict[str, Any]]:
    return [
        w
        for w in of_kind(objs, *WORKLOADS)
        if selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_components_render_with_every_overlay(overlay: str, tmp_path: Path) -> None:
    """PDBs, NetworkPolicies and the PodMonitor select the pods they are meant for (not applied: the
    simulator serves neither policy/v1, NetworkPolicies nor monitoring.coreos.com)."""
    assert set(COMPONENTS) == {
        "components/disruption-budgets",
        "components/nats-auth",
        "components/nats-leafnodes",
        "components/network-policies",
        "components/prometheus-operator",
    }
    objs = render_with_components(f"overlays/{overlay}", COMPONENTS, tmp_path)
    base = render(f"overlays/{overlay}")
    assert len(objs) == len(base) + 7  # nats-leafnodes adds its Service
    for o in of_kind(objs, "PodDisruptionBudget", "NetworkPolicy", "PodMonitor"):
        assert all(labels(o).get(k) for k in RECOMMENDED_LABELS), o["metadata"]["name"]
        assert o["metadata"]["namespace"] == NAMESPACE
    for pdb in of_kind(objs, "PodDisruptionBudget"):
        (w,) = _selected(objs, pdb["spec"]["selector"]["matchLabels"])
        replicas = w["spec"]["replicas"]
        assert replicas >= 2, pdb["metadata"]["name"]
        available = pdb["spec"].get("minAvailable", replicas - pdb["spec"].get("maxUnavailable", 0))
        assert 1 <= available < replicas, pdb["metadata"]["name"]
        if w["kind"] == "StatefulSet":
            assert available > replicas // 2, "keep a NATS quorum"
    for np in of_kind(objs, "NetworkPolicy"):
        selected = _selected(objs, np["spec"]["podSelector"]["matchLabels"])
        assert selected, np["metadata"]["name"]
        for w in selected:
            ports = {
                p["containerPort"]
                for c in w["spec"]["template"]["spec"]["containers"]
                for p in c.get("ports") or []
            }
            allowed = {p["port"] for rule in np["spec"]["ingress"] for p in rule.get("ports") or []}
            assert allowed <= ports and allowed, (np["metadata"]["name"], w["metadata"]["name"])
        for rule in np["spec"]["ingress"]:
            for peer in rule.get("from") or []:
                assert _selected(objs, peer["podSelector"]["matchLabels"]), np["metadata"]["name"]
    (pm,) = of_kind(objs, "PodMonitor")
    scraped = _selected(objs, pm["spec"]["selector"]["matchLabels"])
    assert {w["metadata"]["name"] for w in scraped} == {
        d["metadata"]["name"] for d in _kubefed_deployments(objs)
    }
    for w in scraped:
        ports = {p["name"] for p in w["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert all(e["port"] in ports and e["path"] == "/metrics" for e in pm["spec"]["podMetricsEndpoints"])
