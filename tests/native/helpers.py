"""What the native-resource suites share: applying manifests, reading member copies and decisions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from shared import subjects
from shared.bus import Bus
from shared.messages import PlacementDecision, decode
from tests.support.plane import ControlPlane, StatusTap
from tests.support.waiting import eventually

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "karmada-samples"
DEPLOYMENTS = "deployments.apps"


async def apply(cp: ControlPlane, *docs: dict[str, Any], namespace: str = "default") -> None:
    await cp.akubectl("apply", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))


async def apply_sample(cp: ControlPlane, name: str, namespace: str = "default") -> None:
    """A Karmada sample file, unchanged."""
    await cp.akubectl("apply", "-n", namespace, "-f", str(SAMPLES / name))


def member_deployment(
    cp: ControlPlane, cluster: str, name: str, ns: str = "default"
) -> dict[str, Any] | None:
    return cp.member_object(cluster, "apps", "deployments", ns, name)


def replicas_in(cp: ControlPlane, clusters: list[str], name: str, ns: str = "default") -> dict[str, int]:
    """``spec.replicas`` of the member copies that exist, by cluster."""
    out = {}
    for cluster in clusters:
        obj = member_deployment(cp, cluster, name, ns)
        if obj is not None:
            out[cluster] = int((obj.get("spec") or {}).get("replicas", 1))
    return out


async def decision(bus: Bus, resource: str, ns: str, name: str) -> PlacementDecision | None:
    last = await bus.get_last(subjects.STREAM_DESIRED, subjects.desired_subject(resource, ns, name))
    msg = decode(last[0]) if last else None
    return msg if isinstance(msg, PlacementDecision) else None


async def settled(
    bus: Bus,
    tap: StatusTap,
    name: str,
    clusters: list[str],
    ns: str = "default",
    where: Callable[[PlacementDecision], bool] = lambda d: True,
) -> PlacementDecision:
    """The current decision of Deployment ``ns/name`` once every cluster's propagator reported on it: the
    positive sign that a cluster left out really holds no copy (its propagator looked and found none)."""

    async def check() -> PlacementDecision | None:
        d = await decision(bus, DEPLOYMENTS, ns, name)
        if d is None or not where(d):
            return None
        reported = {
            o.cluster for o in tap.outcomes if o.key.name == name and o.template_hash == d.template_hash
        }
        return d if reported >= set(clusters) else None

    result: PlacementDecision = await eventually(check, timeout=30)
    return result


def host_events(cp: ControlPlane, name: str, ns: str = "default") -> list[dict[str, Any]]:
    return [
        e
        for e in cp.fleet["host"].list_objects("", "events", ns)
        if (e.get("involvedObject") or {}).get("name") == name
    ]


def nginx(
    name: str = "nginx", replicas: int = 1, image: str = "nginx", labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, **(labels or {})}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "nginx", "image": image}]},
            },
        },
    }


def policy(
    name: str,
    clusters: list[str] | None = None,
    *,
    kind: str = "PropagationPolicy",
    selector: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    placement = spec.pop("placement", None) or {}
    if clusters is not None:
        placement = {**placement, "clusterAffinity": {"clusterNames": clusters}}
    return {
        "apiVersion": "policy.karmada.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {
            "resourceSelectors": [
                selector or {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nginx"}
            ],
            "placement": placement,
            **spec,
        },
    }
