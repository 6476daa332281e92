"""``propagateDeps``: what a workload's pod template needs in a member cluster, and when it stops needing it.

Karmada's dependencies distributor, for the four kinds a pod template references by name in its own
namespace: ConfigMaps (volumes, projected volumes, ``env[].valueFrom.configMapKeyRef``,
``envFrom[].configMapRef``), Secrets (the same places plus ``imagePullSecrets``), the ServiceAccount
(``serviceAccountName``, except ``default``, which every namespace has) and PersistentVolumeClaims
(volumes). Containers, init containers and ephemeral containers are all read. Pod templates are
found in Pods, Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs.

A dependency follows every propagated workload that references it to that workload's clusters
(:func:`plan_dependencies`: the union, with the workloads that require it), and is removed from a
cluster once no propagated workload placed there references it (:func:`dependency_removals`). A
dependency that a policy also selects directly keeps that placement; the caller merges the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Dependency", "DependencyPlacement", "dependencies_of", "dependency_removals", "plan_dependencies"]

DependencyKind = Literal["ConfigMap", "Secret", "ServiceAccount", "PersistentVolumeClaim"]


@dataclass(frozen=True, order=True)
class Dependency:
    kind: DependencyKind
    namespace: str
    name: str


@dataclass(frozen=True)
class DependencyPlacement:
    clusters: frozenset[str]
    required_by: tuple[str, ...]


def _pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    elif kind not in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
        return None
    return (spec.get("template") or {}).get("spec") or {}


def _names(items: Iterable[Any], *path: str) -> Iterable[str]:
    for item in items:
        node = item
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, str) and node:
            yield node


def dependencies_of(obj: Mapping[str, Any]) -> frozenset[Dependency]:
    """The ConfigMaps, Secrets, ServiceAccount and PVCs ``obj``'s pod template references."""
    pod = _pod_spec(obj)
    if pod is None:
        return frozenset()
    ns = str((obj.get("metadata") or {}).get("namespace") or "")
    found: set[Dependency] = set()

    def add(kind: DependencyKind, names: Iterable[str]) -> None:
        found.update(Dependency(kind, ns, n) for n in names)

    volumes = list(pod.get("volumes") or [])
    sources = [s for v in volumes for s in ((v.get("projected") or {}).get("sources") or [])]
    add("ConfigMap", _names(volumes, "configMap", "name"))
    add("ConfigMap", _names(sources, "configMap", "name"))
    add("Secret", _names(volumes, "secret", "secretName"))
    add("Secret", _names(sources, "secret", "name"))
    add("PersistentVolumeClaim", _names(volumes, "persistentVolumeClaim", "claimName"))
    add("Secret", _names(pod.get("imagePullSecrets") or [], "name"))
    containers = [
        c for key in ("containers", "initContainers", "ephemeralContainers") for c in pod.get(key) or []
    ]
    env = [e for c in containers for e in c.get("env") or []]
    env_from = [e for c in containers for e in c.get("envFrom") or []]
    add("ConfigMap", _names(env, "valueFrom", "configMapKeyRef", "name"))
    add("Secret", _names(env, "valueFrom", "secretKeyRef", "name"))
    add("ConfigMap", _names(env_from, "configMapRef", "name"))
    add("Secret", _names(env_from, "secretRef", "name"))
    account = pod.get("serviceAccountName") or pod.get("serviceAccount")
    if isinstance(account, str) and account and account != "default":
        add("ServiceAccount", [account])
    return frozenset(found)


def plan_dependencies(
    workloads: Mapping[str, tuple[frozenset[Dependency], frozenset[str]]],
) -> dict[Dependency, DependencyPlacement]:
    """Placement of each dependency: ``workloads`` maps a workload key to (its dependencies, its clusters)."""
    clusters: dict[Dependency, set[str]] = {}
    required: dict[Dependency, set[str]] = {}
    for key, (deps, placed) in workloads.items():
        for dep in deps:
            clusters.setdefault(dep, set()).update(placed)
            required.setdefault(dep, set()).add(key)
    return {
        dep: DependencyPlacement(frozenset(clusters[dep]), tuple(sorted(required[dep])))
        for dep in sorted(clusters)
    }


def dependency_removals(
    previous: Mapping[Dependency, frozenset[str]], current: Mapping[Dependency, DependencyPlacement]
) -> dict[Dependency, frozenset[str]]:
    """Clusters each dependency must be removed from: placed there before, no longer required there."""
    removals = {}
    for dep, before in previous.items():
        gone = before - (current[dep].clusters if dep in current else frozenset())
        if gone:
            removals[dep] = frozenset(gone)
    return removals
