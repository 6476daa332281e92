"""Rendering deploy/kustomize with the pinned kubectl, and small helpers over the rendered objects."""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from sim.testing import find_kubectl

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUSTOMIZE = DEPLOY / "kustomize"
OVERLAYS = sorted(p.parent.name for p in (KUSTOMIZE / "overlays").glob("*/kustomization.yaml"))
# Every kustomization directory (overlays, bases, the per-region pieces), relative to deploy/kustomize,
# and the optional components (kind: Component, rendered only as part of an overlay).
_ALL = {
    str(p.parent.relative_to(KUSTOMIZE)): yaml.safe_load(p.read_text())
    for p in KUSTOMIZE.rglob("kustomization.yaml")
}
KUSTOMIZATIONS = sorted(k for k, v in _ALL.items() if v.get("kind", "Kustomization") == "Kustomization")
COMPONENTS = sorted(k for k, v in _ALL.items() if v.get("kind") == "Component")
NAMESPACE = "kube-federation-system"
RECOMMENDED_LABELS = tuple(
    f"app.kubernetes.io/{k}" for k in ("name", "instance", "component", "part-of", "managed-by")
)


def kubectl_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "HTTPS_PROXY", "HTTP_PROXY")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    return env


@functools.cache
def render_text(rel: str) -> str:
    """``kubectl kustomize deploy/kustomize/<rel>`` (default load restrictions, no plugins)."""
    proc = subprocess.run(
        [find_kubectl(), "kustomize", str(KUSTOMIZE / rel)],
        capture_output=True,
        text=True,
        timeout=60,
        env=kubectl_env(),
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"kubectl kustomize {rel} failed: {proc.stderr.strip()}")
    return proc.stdout


def render(rel: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render_text(rel)) if d]


def render_with_components(overlay: str, components: list[str], workdir: Path) -> list[dict[str, Any]]:
    """An overlay plus components, the way docs/deploy.md tells users to add them."""
    rel = os.path.relpath(KUSTOMIZE, workdir)
    (workdir / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [f"{rel}/{overlay}"],
                "components": [f"{rel}/{c}" for c in components],
            }
        )
    )
    proc = subprocess.run(
        [find_kubectl(), "kustomize", str(workdir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=kubectl_env(),
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"kubectl kustomize {overlay} + {components} failed: {proc.stderr.strip()}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def of_kind(objs: list[dict[str, Any]], *kinds: str) -> Iterator[dict[str, Any]]:
    return (o for o in objs if o["kind"] in kinds)


def by_name(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def labels(obj: dict[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def env_refs(value: str) -> list[str]:
    """The ``$(VAR)`` references Kubernetes expands in an env value."""
    return _VAR_REF.findall(value)
