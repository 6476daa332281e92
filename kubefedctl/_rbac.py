"""The RBAC objects ``join`` grants the host's service account in a member cluster.

KubeFed grants ``*`` on ``*/*`` (cluster scope) or everything in the system namespace (namespaced
scope) — its users' most common security complaint. ``--least-privilege`` instead grants exactly what
our control plane does in a member: read/write the enabled target types, read namespaces and nodes,
and ``GET /healthz`` and ``/version`` for health checks. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["RBAC_GROUP", "cluster_role_rules", "healthcheck_rules", "least_privilege_rules", "role_name"]

RBAC_GROUP = "rbac.authorization.k8s.io"
_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]


def role_name(sa_name: str) -> str:
    return f"kubefed-controller-manager:{sa_name}"


def healthcheck_name(ns: str, sa_name: str) -> str:
    return f"kubefed-controller-manager:{ns}:healthcheck-{sa_name}"


def cluster_role_rules() -> list[dict[str, Any]]:
    """KubeFed's cluster-admin-like rules."""
    return [
        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
        {"nonResourceURLs": ["*"], "verbs": ["get"]},
    ]


def namespace_role_rules() -> list[dict[str, Any]]:
    return [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]


def healthcheck_rules() -> list[dict[str, Any]]:
    return [
        {"nonResourceURLs": ["/healthz"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]},
    ]


def least_privilege_rules(ftcs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rules covering the target types of the given FederatedTypeConfigs, plus health checks."""
    by_group: dict[str, set[str]] = {}
    for ftc in ftcs:
        target = (ftc.get("spec") or {}).get("targetType") or {}
        plural = target.get("pluralName")
        if plural:
            by_group.setdefault(str(target.get("group") or ""), set()).add(str(plural))
    rules: list[dict[str, Any]] = [
        {"apiGroups": [group], "resources": sorted(plurals), "verbs": list(_WRITE)}
        for group, plurals in sorted(by_group.items())
    ]
    rules += [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
        {"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version"], "verbs": ["get"]},
    ]
    return rules


def binding(
    kind: str, name: str, role_kind: str, sa_name: str, sa_ns: str, ns: str | None = None
) -> dict[str, Any]:
    """A (Cluster)RoleBinding of the service account to a (Cluster)Role of the same name."""
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {
        "apiVersion": f"{RBAC_GROUP}/v1",
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_ns}],
    }


def role(kind: str, name: str, rules: list[dict[str, Any]], ns: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": f"{RBAC_GROUP}/v1", "kind": kind, "metadata": meta, "rules": rules}
