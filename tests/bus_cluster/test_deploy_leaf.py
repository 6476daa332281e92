"""The shipped leaf-node configuration is the tested one.

Covers ``deploy/kustomize/region-leaf`` (a region's cluster) and ``components/nats-leafnodes`` (the hub: its
users are nats-auth's plus ``kubefed-region`` for leaf node connections only, with generated permissions):
nats-server accepts both rendered configurations; the region's leaf node keeps reports local exactly as
``test_leaf.py`` does (the same deny lists), logs in as the user the hub accepts, and uses the region's
name as its JetStream domain, which the hub's ``KUBEFED_NATS_REGIONS`` lists; the hub's ``nats.conf`` is
the base one plus the domain and the includes of ``nats-auth`` and ``nats-leafnodes``; the region's
propagator connects to the leaf node's Service, mirrors from the hub's domain, selects the region's clusters
and reaches the host with the mounted kubeconfig; the hub's
leaf node Service targets a port the NATS servers listen on.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.bus._permissions import LEAF_USER, render_leaf_conf, variable_name
from tests.bus_cluster.test_leaf import REPORTS
from tests.support.bus_plane import AUTH_DIR, password_env
from tests.support.plane import ROOT

KUSTOMIZE = ROOT / "deploy" / "kustomize"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
NATS_SERVER = str(Path(sys.executable).parent / "nats-server")

pytestmark = pytest.mark.kubectl


def _render(
    path: Path, *, components: list[str] | None = None, tmp: Path | None = None
) -> list[dict[str, Any]]:
    target = path
    if components:
        assert tmp is not None
        rel = os.path.relpath(KUSTOMIZE, tmp)
        (tmp / "kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": [f"{rel}/{path.relative_to(KUSTOMIZE)}"],
                    "components": [f"{rel}/{c}" for c in components],
                }
            )
        )
        target = tmp
    out = subprocess.run(
        [KUBECTL, "kustomize", str(target)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _one(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The object of ``kind`` named ``name`` (generated ConfigMaps: plus their hash; ``name-``: any
    suffix)."""

    def fits(actual: str) -> bool:
        return (
            actual == name
            or re.fullmatch(re.escape(name) + r"-[a-z0-9]{10}", actual) is not None
            or (name.endswith("-") and actual.startswith(name))
        )

    (found,) = [o for o in objs if o["kind"] == kind and fits(o["metadata"]["name"])]
    return found


def _nats_accepts(folder: Path, conf: str, env: dict[str, str]) -> None:
    r = subprocess.run(
        [NATS_SERVER, "-c", str(folder / conf), "-t"],
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, **env},
        check=False,
    )
    assert r.returncode == 0, r.stderr + r.stdout


def test_region_and_hub_configurations_fit_together(tmp_path: Path) -> None:
    region = _render(KUSTOMIZE / "region-leaf")
    (tmp_path / "hub").mkdir()
    hub = _render(
        KUSTOMIZE / "overlays" / "regions",
        components=["components/nats-auth", "components/nats-leafnodes"],
        tmp=tmp_path / "hub",
    )

    # the region's leaf node
    region_cfg = _one(region, "ConfigMap", "kubefed-region")["data"]
    leaf_conf = _one(region, "ConfigMap", "kubefed-nats-leaf-config")["data"]["nats-leaf.conf"]
    (tmp_path / "nats-leaf.conf").write_text(leaf_conf)
    _nats_accepts(
        tmp_path,
        "nats-leaf.conf",
        {
            "SERVER_NAME": "kubefed-nats-0",
            "KUBEFED_REGION": region_cfg["KUBEFED_REGION"],
            "KUBEFED_HUB_LEAFNODE_URL": "nats-leaf://kubefed-region:pw@127.0.0.1:7422",
        },
    )
    for key in ("deny_exports", "deny_imports"):
        listed = re.search(rf"{key}: \[([^\]]*)\]", leaf_conf)
        assert listed is not None and [x.strip().strip('"') for x in listed.group(1).split(",")] == list(
            REPORTS
        )
    sts = _one(region, "StatefulSet", "kubefed-nats")
    env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    url = env["KUBEFED_HUB_LEAFNODE_URL"]["value"]
    assert url.startswith("nats-leaf://kubefed-region:$(KUBEFED_NATS_LEAF_PASSWORD)@")
    names = list(env)
    assert names.index("KUBEFED_NATS_LEAF_PASSWORD") < names.index(
        "KUBEFED_HUB_LEAFNODE_URL"
    )  # $(VAR) needs it first

    # the region's propagator
    dep = _one(region, "Deployment", "kubefed-propagator-")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    penv = _one(region, "ConfigMap", "kubefed-env")["data"]
    assert f"--cluster-selector=region={region_cfg['KUBEFED_REGION']}" in c["args"]
    service = re.fullmatch(r"nats://([\w-]+):4222", penv["KUBEFED_NATS_URL"])
    assert (
        service is not None
        and _one(region, "Service", service.group(1))["spec"]["selector"].items()
        <= sts["spec"]["template"]["metadata"]["labels"].items()
    )
    hub_conf = (KUSTOMIZE / "components" / "nats-leafnodes" / "nats.conf").read_text()
    assert re.search(rf"^\s*domain: {penv['KUBEFED_NATS_HUB_DOMAIN']}$", hub_conf, re.M)
    base_conf = (KUSTOMIZE / "nats" / "nats.conf").read_text()
    assert hub_conf.replace(
        re.search(r"  # The hub's JetStream domain.*?domain: hub\n", hub_conf, re.S).group(0), ""
    ).startswith(base_conf)
    assert "KUBEFED_IN_CLUSTER" not in penv and pod["automountServiceAccountToken"] is False
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert str(Path(penv["KUBECONFIG"]).parent) in mounts

    # the hub
    hub_sts = _one(hub, "StatefulSet", "kubefed-nats")
    hub_c = hub_sts["spec"]["template"]["spec"]["containers"][0]
    leaf_svc = _one(hub, "Service", "kubefed-nats-leafnodes")
    assert leaf_svc["spec"]["ports"][0]["targetPort"] in {p["name"] for p in hub_c["ports"]}
    cm_name = next(
        v["configMap"]["name"] for v in hub_sts["spec"]["template"]["spec"]["volumes"] if "configMap" in v
    )
    data = _one(hub, "ConfigMap", cm_name)["data"]
    # the leaf node logs in as kubefed-region of auth.conf (leaf node connections only, least privilege):
    # nats-auth's auth.conf plus that user, and its permissions generated next to it
    assert "authorization" not in re.sub(r"#.*", "", data["leafnodes.conf"])
    auth_lines = (AUTH_DIR / "auth.conf").read_text().splitlines()
    region_user = (
        f"    {{ user: {LEAF_USER}, password: $KUBEFED_NATS_LEAF_PASSWORD, "
        f'permissions: ${variable_name(LEAF_USER)}, allowed_connection_types: ["LEAFNODE"] }}'
    )
    dns_line = next(i for i, line in enumerate(auth_lines) if "user: kubefed-dns" in line)
    expected = [*auth_lines[: dns_line + 1], region_user, *auth_lines[dns_line + 1 :]]
    expected.insert(expected.index("include permissions.conf") + 1, "include leaf-permissions.conf")
    shipped = [line for line in data["auth.conf"].splitlines() if not line.startswith("#")]
    assert shipped == [line for line in expected if not line.startswith("#")]
    assert data["leaf-permissions.conf"] == render_leaf_conf()
    assert re.search(
        r"^\s*no_advertise: true$", data["leafnodes.conf"], re.M
    )  # as test_leaf.py's hub: no bypass of the link
    (tmp_path / "hubconf").mkdir()
    for name, text in data.items():
        (tmp_path / "hubconf" / name).write_text(text)
    _nats_accepts(
        tmp_path / "hubconf",
        "nats.conf",
        {"SERVER_NAME": "kubefed-nats-0", "KUBEFED_NATS_LEAF_PASSWORD": "pw", **password_env()},
    )
    hub_env = next(
        o for o in hub if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("kubefed-env")
    )["data"]
    assert region_cfg["KUBEFED_REGION"] in hub_env["KUBEFED_NATS_REGIONS"].split(",")
