"""The image, built and run (tier ``container``).

The Dockerfile is built with podman on a Debian base made with debootstrap (``_podman.py``); then:

- ``kubefed --version`` and ``kubefedctl version`` from the image print the project's version;
- the image runs as UID/GID 65532 (the Deployments' ``runAsUser``/``runAsGroup``) and works on a
  read-only root filesystem with only ``/tmp`` writable (the Deployments' ``readOnlyRootFilesystem``
  and ``/tmp`` emptyDir);
- watcher, scheduler, propagator and dns run as four containers of the image (``--network host``,
  read-only root, ``/tmp`` tmpfs, the kubeconfig mounted read-only) against a loopback nats-server
  and simulated host and member clusters over TLS: each becomes Ready on ``/readyz``, the members
  become Ready KubeFedClusters, and a FederatedNamespace and FederatedConfigMap reach both members
  with Propagation=True on the host. Image size and start-to-ready time per service are printed
  (``pytest -m container -s``).
"""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubefed.natsd import NatsServer, free_port
from sim import run_fleet
from tests.container import _podman
from tests.support.objects import namespace_federated_to_all
from tests.support.plane import ControlPlane, cluster_status, eventually, propagation_reason, ready

pytestmark = pytest.mark.timeout(900)

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
SERVICES = ("watcher", "scheduler", "propagator", "dns")
MEMBERS = ("cluster1", "cluster2")
READ_ONLY = ("--read-only", "--read-only-tmpfs=false", "--tmpfs", "/tmp:rw,size=64m,mode=1777")


def run(image: dict[str, Any], *args: str, entrypoint: str | None = None) -> str:
    extra = ["--entrypoint", entrypoint] if entrypoint else []
    return _podman.podman(
        "run", "--rm", "--network", "host", *READ_ONLY, *extra, str(image["tag"]), *args, timeout=120
    ).stdout


def test_image_prints_the_version(image: dict[str, Any]) -> None:
    print(
        f"\nimage {image['tag']}: {image['size'] / 1e6:.0f} MB; base made in {image['base_seconds']:.0f} s, "
        f"image built in {image['build_seconds']:.0f} s"
    )
    assert run(image, "--version").strip() == f"kubefed, version {VERSION}"
    assert f'Version:"v{VERSION}"' in run(image, "version", entrypoint="kubefedctl")
    labels = json.loads(
        _podman.podman("image", "inspect", "--format", "{{json .Labels}}", str(image["tag"])).stdout
    )
    assert labels["org.opencontainers.image.version"] == VERSION


def test_image_runs_as_non_root_on_a_read_only_root(image: dict[str, Any]) -> None:
    user = _podman.podman(
        "image", "inspect", "--format", "{{.Config.User}}", str(image["tag"])
    ).stdout.strip()
    assert user == "65532:65532"
    probe = (
        "import os, json\n"
        "def writable(p):\n"
        "    try:\n"
        "        open(p, 'w').close(); return True\n"
        "    except OSError:\n"
        "        return False\n"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'tmp': writable('/tmp/x'),"
        " 'root': writable('/x'), 'venv': writable('/opt/kubefed/x'), 'etc': writable('/etc/x')}))\n"
    )
    got = json.loads(run(image, "-c", probe, entrypoint="python3"))
    assert got == {"uid": 65532, "gid": 65532, "tmp": True, "root": False, "venv": False, "etc": False}


def _readyz(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


async def test_services_from_the_image_federate_an_object(image: dict[str, Any], tmp_path: Path) -> None:
    nats = NatsServer().start()
    names: list[str] = []
    try:
        async with run_fleet(["host", *MEMBERS], tls=True, kubeconfig_path=tmp_path / "kubeconfig") as fleet:
            cp = ControlPlane(fleet, nats.url, tmp_path)
            await cp.install_kubefed_api({"clusterHealthCheck": {"period": "1s"}})
            for m in MEMBERS:
                await cp.join(m)
            kubeconfig = tmp_path / "kubeconfig"
            kubeconfig.chmod(0o644)  # read by UID 65532 in the containers
            ports = {s: free_port() for s in SERVICES}

            async def start(service: str) -> float:
                """podman run of one service; seconds until its /readyz answers 200."""
                name = f"kubefed-test-{service}-{ports[service]}"
                names.append(name)
                started = time.monotonic()
                await asyncio.to_thread(
                    _podman.podman,
                    "run",
                    "--detach",
                    "--name",
                    name,
                    "--network",
                    "host",
                    *READ_ONLY,
                    "--volume",
                    f"{kubeconfig}:/etc/kubefed/kubeconfig:ro",
                    "--env",
                    "KUBEFED_GRACE_PERIOD=5",
                    str(image["tag"]),
                    service,
                    "--nats",
                    nats.url,
                    "--kubeconfig",
                    "/etc/kubefed/kubeconfig",
                    "--context",
                    "host",
                    "--http-port",
                    str(ports[service]),
                    timeout=60,
                )
                while time.monotonic() - started < 90:
                    if await asyncio.to_thread(_readyz, ports[service]):
                        return time.monotonic() - started
                    await asyncio.sleep(0.1)
                logs = _podman.podman("logs", "--tail", "30", name, check=False)
                raise AssertionError(f"{service} not Ready in 90 s: {logs.stdout}{logs.stderr}")

            to_ready = dict(zip(SERVICES, await asyncio.gather(*(start(s) for s in SERVICES)), strict=True))
            print(
                "\nstart-to-ready (podman run -> /readyz 200): "
                + ", ".join(f"{s} {to_ready[s]:.1f} s" for s in SERVICES)
            )

            await eventually(lambda: all(ready(cp, m) for m in MEMBERS), timeout=60)
            await cp.akubectl(
                "apply",
                "-f",
                "-",
                input=yaml.safe_dump_all(
                    [
                        *namespace_federated_to_all(),
                        {
                            "apiVersion": "types.kubefed.io/v1beta1",
                            "kind": "FederatedConfigMap",
                            "metadata": {"name": "settings", "namespace": "fed"},
                            "spec": {
                                "placement": {"clusterSelector": {}},
                                "template": {"data": {"from": "container"}},
                            },
                        },
                    ]
                ),
            )
            await eventually(
                lambda: all(
                    (cp.member_object(m, "", "configmaps", "fed", "settings") or {}).get("data")
                    == {"from": "container"}
                    for m in MEMBERS
                ),
                timeout=60,
            )
            await eventually(
                lambda: propagation_reason(cp, "federatedconfigmaps", "fed", "settings") == "", timeout=60
            )
            assert cluster_status(cp, "federatedconfigmaps", "fed", "settings") == {m: "" for m in MEMBERS}
            for name in names:
                state = _podman.podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
                assert state == "running", name
    finally:
        for name in names:
            await asyncio.to_thread(
                _podman.podman, "rm", "--force", "--time", "10", name, check=False, timeout=60
            )
        nats.close()
