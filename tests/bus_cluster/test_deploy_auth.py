"""The shipped NATS permissions are the tested ones, and the component wires them into every service.

Covers ``deploy/kustomize/components/nats-auth``: ``permissions.conf`` is the output of
``shared/bus/_permissions.py``; its ``nats.conf`` is the base one plus the ``include``; rendered into
``overlays/default`` and ``overlays/regions`` with kubectl kustomize, every kubefed Deployment logs in as
a user of ``auth.conf`` with its own password key and inbox prefix (``--no-secrets`` propagators as
``kubefed-propagator-nosecrets``), the NATS servers get the password Secret, and nats-server accepts the
rendered configuration; only the scheduler may create streams and nobody may subscribe to
``kubefed.>`` or another user's inbox.
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

from shared.bus._permissions import USERS, permissions_for, render_conf, render_leaf_conf
from tests.bus_cluster._credentials import Operator
from tests.support.bus_plane import AUTH_DIR, password_env
from tests.support.plane import ROOT

KUSTOMIZE = ROOT / "deploy" / "kustomize"
KUBECTL = str(Path(sys.executable).parent / "kubectl")
NATS_SERVER = str(Path(sys.executable).parent / "nats-server")


def test_permissions_conf_is_generated() -> None:
    assert (AUTH_DIR / "permissions.conf").read_text() == render_conf()
    leaf_dir = KUSTOMIZE / "components" / "nats-leafnodes"
    assert (leaf_dir / "leaf-permissions.conf").read_text() == render_leaf_conf()


def test_component_nats_conf_is_the_base_plus_auth() -> None:
    base = (KUSTOMIZE / "nats" / "nats.conf").read_text()
    component = (AUTH_DIR / "nats.conf").read_text()
    assert component.startswith(base)
    assert [line for line in component[len(base) :].splitlines() if line and not line.startswith("#")] == [
        "include auth.conf"
    ]


def test_auth_conf_names_every_user_once() -> None:
    users = re.findall(
        r"\{ user: ([\w-]+), password: \$KUBEFED_NATS_PASSWORD_(\w+), permissions: \$(\w+) \}",
        (AUTH_DIR / "auth.conf").read_text(),
    )
    assert [u for u, _, _ in users] == list(USERS)
    for user, key, variable in users:
        assert key == user.removeprefix("kubefed-").upper().replace("-", "_")
        assert variable == user.upper().replace("-", "_") + "_PERMISSIONS"


def test_only_the_scheduler_defines_streams_and_every_user_reads_only_its_inbox() -> None:
    for user in USERS:
        p = permissions_for(user)
        defines = [
            s
            for s in p.publish
            if ".STREAM.CREATE." in s or ".STREAM.UPDATE." in s or s.startswith("$JS.API.STREAM.PURGE")
        ]
        assert bool(defines) == (user == "kubefed-scheduler"), user
        if user == "kubefed-scheduler":  # it answers kubefedctl's queries (and only it may reply)
            assert p.subscribe == (f"_INBOX.{user}.>", "kubefed.query.*") and p.allow_responses
        else:
            assert p.subscribe == (f"_INBOX.{user}.>",) and not p.allow_responses
        assert not any(s in (">", "$JS.>", "$JS.API.>", "kubefed.>") for s in p.publish)
        if user in ("kubefed-dns", "kubefed-propagator-nosecrets"):
            assert not any("SECRET" in s.upper() for s in p.publish), user


def _render(overlay: str, tmp: Path) -> list[dict[str, Any]]:
    root = tmp / overlay
    root.mkdir(parents=True)
    rel = os.path.relpath(KUSTOMIZE, root)
    (root / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [f"{rel}/overlays/{overlay}"],
                "components": [f"{rel}/components/nats-auth"],
            }
        )
    )
    out = subprocess.run(
        [KUBECTL, "kustomize", str(root)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


@pytest.mark.kubectl
@pytest.mark.parametrize("overlay", ["default", "regions"])
def test_component_wires_users_into_every_service(overlay: str, tmp_path: Path) -> None:
    objs = _render(overlay, tmp_path)
    deployments = [d for d in objs if d["kind"] == "Deployment"]
    assert deployments
    for d in deployments:
        c = d["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in c["env"]}
        user = env["KUBEFED_NATS_USER"]["value"]
        assert user in USERS
        component = d["metadata"]["labels"]["app.kubernetes.io/component"]
        no_secrets = "--no-secrets" in c.get("args", [])
        assert user == f"kubefed-{component}" + ("-nosecrets" if no_secrets else ""), d["metadata"]["name"]
        ref = env["KUBEFED_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref == {
            "name": "kubefed-nats-users",
            "key": "KUBEFED_NATS_PASSWORD_" + user.removeprefix("kubefed-").upper().replace("-", "_"),
        }
        assert env["KUBEFED_NATS_INBOX_PREFIX"]["value"] == f"_INBOX.{user}"
    sts = next(d for d in objs if d["kind"] == "StatefulSet")
    nats = sts["spec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": "kubefed-nats-users"}} in nats["envFrom"]
    cm_name = next(
        v["configMap"]["name"] for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == "config"
    )
    data = next(d for d in objs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == cm_name)["data"]
    assert set(data) == {"nats.conf", "auth.conf", "permissions.conf"}
    for name, text in data.items():
        (tmp_path / name).write_text(text)
    env = {**os.environ, "SERVER_NAME": "kubefed-nats-0", **password_env()}
    r = subprocess.run(
        [NATS_SERVER, "-c", str(tmp_path / "nats.conf"), "-t"],
        capture_output=True,
        text=True,
        timeout=20,
        env=env,
        check=False,
    )
    assert r.returncode == 0, r.stderr


def test_every_operator_mode_jwt_fits_the_connect_line(tmp_path: Path) -> None:
    """In operator mode the user JWT travels in CONNECT, which nats-server caps at max_control_line
    (4 KiB by default): measured, a JWT of 3,782 characters connects and one of 3,836 does not. The
    scheduler's, the longest, must keep a margin (see the filter counts in ``_permissions._scheduler``)."""
    op = Operator(tmp_path / "op")
    for user in USERS:
        jwt = op.creds(user).read_text().split("\n")[1]
        assert len(jwt) <= 3700, (user, len(jwt))
