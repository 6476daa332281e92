"""Every overlay applies cleanly to the simulated host with the real kubectl, in the documented order.

CRDs first (server-side apply, then wait for Established), then the overlay: a server-side dry run
with strict field validation (the simulator checks custom resources against the CRDs' structural
schemas strictly; built-in kinds are checked against the Kubernetes API models in test_manifests.py),
the real apply, a second apply that must change nothing, and a server-side re-apply of the CRDs (the
upgrade path). That the services run with exactly these permissions is proven in
test_rbac_runtime.py, against a simulator that enforces RBAC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from sim import Fleet, run_fleet
from sim.testing import Kubectl
from tests.support.manifests import NAMESPACE, OVERLAYS, render, render_text

pytestmark = [pytest.mark.kubectl, pytest.mark.timeout(60)]


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[Fleet]:
    async with run_fleet(
        ["host"], tls=True, kubeconfig_path=tmp_path / "kubeconfig", pod_ready_delay=0.02
    ) as fleet:
        yield fleet


@pytest.fixture
def kubectl(host: Fleet, tmp_path: Path) -> Kubectl:
    return Kubectl(host.kubeconfig_path, tmp_path / "kubectl-cache", context="host")


async def _install_crds(kubectl: Kubectl) -> None:
    crds = render_text("crds")
    out = (
        await kubectl.run("apply", "--server-side", "--field-manager=kubefed-install", "-f", "-", input=crds)
    ).stdout
    assert out.count("serverside-applied") == crds.count("kind: CustomResourceDefinition")
    await kubectl.run(
        "wait",
        "--for=condition=Established",
        "crd",
        "-l",
        "app.kubernetes.io/part-of=kubefed",
        "--timeout=30s",
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
async def test_overlay_applies_cleanly(overlay: str, kubectl: Kubectl, host: Fleet) -> None:
    await _install_crds(kubectl)
    manifest = render_text(f"overlays/{overlay}")
    objects = render(f"overlays/{overlay}")
    # A server-side dry run needs the namespace to exist (as on a real cluster): apply it alone first.
    namespace = next(o for o in objects if o["kind"] == "Namespace" and o["metadata"]["name"] == NAMESPACE)
    await kubectl.run("apply", "-f", "-", input=yaml.safe_dump(namespace))

    dry = await kubectl.run("apply", "--dry-run=server", "--validate=strict", "-f", "-", input=manifest)
    assert dry.stdout.count("(server dry run)") == len(objects), dry.stdout
    assert "Warning" not in dry.stderr, dry.stderr

    applied = await kubectl.run("apply", "--validate=strict", "-f", "-", input=manifest)
    assert "Warning" not in applied.stderr, applied.stderr
    assert len(applied.stdout.strip().splitlines()) == len(objects)
    again = await kubectl.run("apply", "--validate=strict", "-f", "-", input=manifest)
    changed = [line for line in again.stdout.splitlines() if not line.endswith(" unchanged")]
    assert not changed, f"second apply changed {changed}"

    # every object is stored, with the rendered labels
    stored = (await kubectl.run("get", "-f", "-", "-o", "json", input=manifest)).json()
    items = stored.get("items", [stored])
    assert [(i["kind"], i["metadata"]["name"]) for i in items] == [
        (o["kind"], o["metadata"]["name"]) for o in objects
    ]
    for got, o in zip(items, objects, strict=True):
        assert o["metadata"]["labels"].items() <= got["metadata"]["labels"].items(), o["metadata"]["name"]

    # the simulated controllers roll the workloads out (pods pass the simulator's admission)
    await kubectl.run(
        "wait", "--for=condition=Available", "deployment", "--all", "-n", NAMESPACE, "--timeout=30s"
    )
    deployments = {o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"}
    pods = (await kubectl.run("get", "pods", "-n", NAMESPACE, "-o", "json")).json()["items"]
    owners = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods}
    assert {"watcher", "scheduler", "propagator", "dns"} <= owners, owners
    for p in pods:
        assert p["spec"]["securityContext"]["runAsNonRoot"] is True

    # CRD upgrade path: server-side apply again with the same field manager conflicts with nothing
    await _install_crds(kubectl)
    assert len(deployments) >= 4
