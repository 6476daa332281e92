"""The Helm chart deploy/helm/kubefed-ng (tier ``helm``).

- ``helm lint --strict`` passes with the default values and with ci/three-regions-values.yaml;
- ``helm template`` with the defaults equals, in substance, ``kubectl kustomize overlays/default``
  (``_compare``: everything but the labels only one tool writes, kustomize's ConfigMap hash suffixes,
  Helm's checksum annotations and nats.conf comments), and a two-region values set equals
  ``overlays/regions``;
- the three-region values render three propagator sets with their selectors, one through a NATS leaf
  node URL, plus PodDisruptionBudgets, NetworkPolicies, a ServiceMonitor and a PrometheusRule holding
  deploy/prometheus/kubefed-rules.yaml; password and creds auth and TLS wire every service;
- the chart's CRDs, config, rules and NATS users are relative symbolic links to their sources in
  deploy/ (``helm package`` stores their contents), and the chart's version is the project's;
- a real kube-apiserver (sim.real, v1.37) accepts every rendered object of every values set with
  server-side apply ``--dry-run=server --validate=strict`` (the Prometheus Operator's CRDs installed
  so that every type is served), and ``helm install`` / ``helm upgrade`` / ``helm uninstall`` of the
  chart succeed against it.
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.real import RealFleet, all_built
from sim.testing import find_kubectl
from tests.helm._compare import differences
from tests.support.manifests import render
from tests.support.tools import missing_tool

pytestmark = [pytest.mark.helm, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "kubefed-ng"
REGIONS = CHART / "ci" / "three-regions-values.yaml"
NS = "kube-federation-system"
KUBE_VERSION = "1.37.2"
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "three-regions": ["-f", str(REGIONS)],
    "password-tls": [
        "--set",
        "nats.auth.mode=password",
        "--set",
        "nats.tls.enabled=true",
        "--set",
        "nats.tls.clientCert=true",
        "--set",
        "propagators[0].noSecrets=true",
    ],
    "external-nats-creds": [
        "--set",
        "nats.enabled=false",
        "--set",
        "nats.url=tls://nats.nats.svc:4222",
        "--set",
        "nats.auth.mode=creds",
        "--set",
        "nats.tls.enabled=true",
        "--set",
        "dns.enabled=false",
        "--set",
        "otlp.endpoint=",
    ],
}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "HTTPS_PROXY", "HTTP_PROXY")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


def template(helm: str, *args: str) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [helm, "template", "kubefed", str(CHART), "--namespace", NS, "--kube-version", KUBE_VERSION, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def kinds(objs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    c = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env") or []}


# -- lint and template ----------------------------------------------------------------------------
@pytest.mark.parametrize("values", [[], ["--values", str(REGIONS)]], ids=["default", "three-regions"])
def test_helm_lint(helm: str, values: list[str]) -> None:
    proc = subprocess.run(
        [helm, "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART), *values],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in proc.stdout


def test_default_rendering_equals_the_kustomize_default_overlay(helm: str) -> None:
    chart = template(helm, "--set", "namespace.create=true")
    assert not differences(render("overlays/default"), chart)
    # without namespace.create (the default: `helm install --create-namespace`) only the Namespace is missing
    plain = template(helm)
    assert [d for d in differences(render("overlays/default"), plain)] == [
        f"only in the first: ('Namespace', '', '{NS}')"
    ]


def test_two_region_values_equal_the_kustomize_regions_overlay(helm: str) -> None:
    chart = template(
        helm,
        "--set",
        "namespace.create=true",
        "--set",
        "propagators[0].name=eu",
        "--set",
        "propagators[0].clusterSelector=region=eu",
        "--set",
        "propagators[1].name=us",
        "--set",
        "propagators[1].clusterSelector=region=us",
    )
    assert not differences(render("overlays/regions"), chart)


def test_three_regions(helm: str) -> None:
    objs = template(helm, "-f", str(REGIONS))
    deployments = kinds(objs, "Deployment")
    propagators = {n: d for n, d in deployments.items() if "propagator" in n}
    assert set(propagators) == {"kubefed-propagator-eu", "kubefed-propagator-us", "kubefed-propagator-ap"}
    for region in ("eu", "us", "ap"):
        d = propagators[f"kubefed-propagator-{region}"]
        c = d["spec"]["template"]["spec"]["containers"][0]
        assert c["args"] == ["propagator", f"--cluster-selector=region={region}"]
        assert d["spec"]["selector"]["matchLabels"]["kubefed.io/propagator-set"] == region
        assert d["spec"]["strategy"] == {"type": "Recreate"} and d["spec"]["replicas"] == 1
        assert f"kubefed.propagator.set={region}" in env_of(d)["OTEL_RESOURCE_ATTRIBUTES"]
    # the ap set reaches the bus through its leaf node; the others through the shared URL (envFrom)
    ap = env_of(propagators["kubefed-propagator-ap"])
    assert (ap["KUBEFED_NATS_URL"], ap["KUBEFED_NATS_HUB_DOMAIN"]) == (
        "nats://nats-leaf.ap.example.com:4222",
        "hub",
    )
    assert not {"KUBEFED_NATS_URL", "KUBEFED_NATS_HUB_DOMAIN"} & set(
        env_of(propagators["kubefed-propagator-eu"])
    )
    # the hub's report streams source the leaf node's domain (the region's name)
    assert kinds(objs, "ConfigMap")["kubefed-env"]["data"]["KUBEFED_NATS_REGIONS"] == "ap"
    # selectors of the sets never overlap (a Deployment must not adopt another's pods)
    selectors = [tuple(sorted(d["spec"]["selector"]["matchLabels"].items())) for d in propagators.values()]
    assert len(set(selectors)) == 3
    pdbs = kinds(objs, "PodDisruptionBudget")
    assert set(pdbs) == {"kubefed-watcher", "kubefed-scheduler", "kubefed-nats"}
    assert pdbs["kubefed-watcher"]["spec"]["minAvailable"] == 1
    assert set(kinds(objs, "NetworkPolicy")) == {"kubefed-nats", "kubefed-services"}
    (monitor,) = kinds(objs, "ServiceMonitor").values()
    metrics_service = kinds(objs, "Service")["kubefed-metrics"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= metrics_service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == metrics_service["spec"]["ports"][0]["name"] == "http"
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True  # the metrics' own `service` label
    for d in deployments.values():  # the metrics Service selects every kubefed pod
        assert (
            metrics_service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        )
    (rule,) = kinds(objs, "PrometheusRule").values()
    assert rule["spec"] == yaml.safe_load((ROOT / "deploy" / "prometheus" / "kubefed-rules.yaml").read_text())


def test_nats_credentials_and_tls(helm: str) -> None:
    objs = template(helm, *VARIANTS["password-tls"])
    env = kinds(objs, "ConfigMap")["kubefed-env"]["data"]
    assert env["KUBEFED_NATS_URL"] == "tls://kubefed-nats:4222"
    for name, d in kinds(objs, "Deployment").items():
        user = name.removeprefix("kubefed-") + ("-nosecrets" if name == "kubefed-propagator" else "")
        e = env_of(d)
        assert e["KUBEFED_NATS_USER"] == f"kubefed-{user}"
        assert e["KUBEFED_NATS_PASSWORD"]["secretKeyRef"] == {
            "name": "kubefed-nats-users",
            "key": f"KUBEFED_NATS_PASSWORD_{user.upper().replace('-', '_')}",
        }
        assert e["KUBEFED_NATS_INBOX_PREFIX"] == f"_INBOX.kubefed-{user}"
        assert (e["KUBEFED_NATS_TLS_CA"], e["KUBEFED_NATS_TLS_CERT"]) == (
            "/etc/kubefed/nats-tls/ca.crt",
            "/etc/kubefed/nats-tls/tls.crt",
        )
        spec = d["spec"]["template"]["spec"]
        assert {"name": "nats-tls", "secret": {"secretName": "kubefed-nats-tls"}} in spec["volumes"]
    assert (
        "--no-secrets"
        in kinds(objs, "Deployment")["kubefed-propagator"]["spec"]["template"]["spec"]["containers"][0][
            "args"
        ]
    )
    nats_config = kinds(objs, "ConfigMap")["kubefed-nats-config"]["data"]
    assert "include auth.conf" in nats_config["nats.conf"] and "verify: true" in nats_config["nats.conf"]
    assert (
        nats_config["auth.conf"].strip() == (CHART / "files" / "nats-auth" / "auth.conf").read_text().strip()
    )
    sts = kinds(objs, "StatefulSet")["kubefed-nats"]["spec"]["template"]["spec"]["containers"][0]
    assert sts["envFrom"] == [{"secretRef": {"name": "kubefed-nats-users"}}]

    external = template(helm, *VARIANTS["external-nats-creds"])
    assert not kinds(external, "StatefulSet") and "kubefed-dns" not in kinds(external, "Deployment")
    data = kinds(external, "ConfigMap")["kubefed-env"]["data"]
    assert (
        data["KUBEFED_NATS_URL"] == "tls://nats.nats.svc:4222" and "OTEL_EXPORTER_OTLP_ENDPOINT" not in data
    )
    for name, d in kinds(external, "Deployment").items():
        assert (
            env_of(d)["KUBEFED_NATS_CREDS"]
            == f"/etc/kubefed/nats-creds/{name.removeprefix('kubefed-')}.creds"
        )


def test_missing_nats_url_and_bad_auth_mode_are_refused(helm: str) -> None:
    for args, message in (
        (["--set", "nats.enabled=false"], "nats.url is required"),
        (["--set", "nats.auth.mode=token"], "nats.auth.mode must be none, password or creds"),
    ):
        proc = subprocess.run(
            [helm, "template", "kubefed", str(CHART), "--kube-version", KUBE_VERSION, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(),
        )
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_chart_files_are_links_to_their_sources_and_versions_agree() -> None:
    """The CRDs, config, rules and NATS users are symbolic links into deploy/ (Helm follows them and
    `helm package` stores their contents), so the chart never drifts from its sources."""
    pairs = [
        (ROOT / "deploy" / "crds", CHART / "crds"),
        (ROOT / "deploy" / "config", CHART / "files" / "config"),
        (ROOT / "deploy" / "kustomize" / "components" / "nats-auth", CHART / "files" / "nats-auth"),
    ]
    for source, links in pairs:
        for f in links.iterdir():
            assert f.is_symlink() and not Path(os.readlink(f)).is_absolute(), f
            assert f.resolve() == (source / f.name).resolve(), f
    assert {f.name for f in (CHART / "crds").iterdir()} == {
        f.name for f in (ROOT / "deploy" / "crds").glob("*.yaml")
    }
    rules = CHART / "files" / "kubefed-rules.yaml"
    assert (
        rules.is_symlink()
        and rules.resolve() == (ROOT / "deploy" / "prometheus" / "kubefed-rules.yaml").resolve()
    )
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert chart["version"] == chart["appVersion"] == version


def test_helm_package_stores_the_linked_files(helm: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [helm, "package", str(CHART), "--destination", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert proc.returncode == 0, proc.stderr
    (archive,) = tmp_path.glob("kubefed-ng-*.tgz")
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        crd = members["kubefed-ng/crds/core.kubefed.io.yaml"]
        assert crd.isfile()
        assert tar.extractfile(crd).read() == (ROOT / "deploy" / "crds" / "core.kubefed.io.yaml").read_bytes()  # type: ignore[union-attr]
        assert members["kubefed-ng/files/kubefed-rules.yaml"].isfile()


# -- a real kube-apiserver ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealFleet]:
    if not all_built():
        missing_tool("tier 'helm' needs the real Kubernetes programs (make real-k8s)")
    tmp = tmp_path_factory.mktemp("helm-real")
    fleet = RealFleet(["host"], kubeconfig_path=tmp / "kubeconfig", workdir=tmp / "fleet")
    fleet.start()
    try:
        yield fleet
    finally:
        fleet.close()


def kubectl(fleet: RealFleet, *args: str, input: str | None = None) -> str:
    proc = subprocess.run(
        [find_kubectl(), "--kubeconfig", str(fleet.kubeconfig_path), "--context", "host", *args],
        capture_output=True,
        text=True,
        input=input,
        timeout=120,
        env=_env(),
    )
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def test_a_real_apiserver_accepts_every_rendered_object(
    helm: str, operator_crds: list[Path], apiserver: RealFleet, tmp_path: Path
) -> None:
    for crd in [*sorted((CHART / "crds").glob("*.yaml")), *operator_crds]:
        kubectl(apiserver, "apply", "--server-side", "--field-manager=kubefed-test", "-f", str(crd))
    kubectl(apiserver, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    namespace = [o for o in template(helm, "--set", "namespace.create=true") if o["kind"] == "Namespace"]
    kubectl(apiserver, "apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(namespace))
    for name, args in VARIANTS.items():
        objs = template(helm, *args)
        out = kubectl(
            apiserver,
            "apply",
            "--server-side",
            "--dry-run=server",
            "--validate=strict",
            "--field-manager=helm",
            "-f",
            "-",
            input=yaml.safe_dump_all(objs),
        )
        accepted = [line for line in out.splitlines() if "(server dry run)" in line]
        assert len(accepted) == len(objs), (name, out)


def test_helm_install_upgrade_uninstall_on_a_real_apiserver(
    helm: str, operator_crds: list[Path], apiserver: RealFleet
) -> None:
    for crd in operator_crds:
        kubectl(apiserver, "apply", "--server-side", "--field-manager=kubefed-test", "-f", str(crd))
    base = [
        helm,
        "--kubeconfig",
        str(apiserver.kubeconfig_path),
        "--kube-context",
        "host",
        "--namespace",
        "kubefed-helm",
    ]

    def run(*args: str) -> str:
        proc = subprocess.run([*base, *args], capture_output=True, text=True, timeout=180, env=_env())
        assert proc.returncode == 0, f"helm {' '.join(args)}: {proc.stdout}{proc.stderr}"
        return proc.stdout

    run("install", "kubefed", str(CHART), "--create-namespace", "-f", str(REGIONS))
    stored = kubectl(apiserver, "-n", "kubefed-helm", "get", "deployments", "-o", "name")
    assert set(stored.split()) == {
        f"deployment.apps/kubefed-{n}"
        for n in ("watcher", "scheduler", "dns", "propagator-eu", "propagator-us", "propagator-ap")
    }
    assert kubectl(apiserver, "-n", "kubefed-helm", "get", "prometheusrule", "kubefed", "-o", "name")
    config = kubectl(apiserver, "-n", "kubefed-helm", "get", "kubefedconfig", "kubefed", "-o", "yaml")
    assert "namespace: kubefed-helm" in config
    bindings = yaml.safe_load(
        kubectl(apiserver, "get", "clusterrolebinding", "kubefed-scheduler", "-o", "yaml")
    )
    assert bindings["subjects"] == [
        {"kind": "ServiceAccount", "name": "kubefed-scheduler", "namespace": "kubefed-helm"}
    ]
    run("upgrade", "kubefed", str(CHART), "--reset-values")  # the defaults: one propagator for every cluster
    stored = kubectl(apiserver, "-n", "kubefed-helm", "get", "deployments", "-o", "name")
    assert "deployment.apps/kubefed-propagator" in stored.split() and "propagator-eu" not in stored
    assert "deployed" in run("status", "kubefed")
    run("uninstall", "kubefed", "--wait")
    assert not kubectl(apiserver, "-n", "kubefed-helm", "get", "deployments", "-o", "name").strip()
