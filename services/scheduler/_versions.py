"""KubeFed's PropagatedVersion records, written on request (``kubefed scheduler --propagated-versions``).

KubeFed's sync controller keeps one ``PropagatedVersion`` (``ClusterPropagatedVersion`` for cluster-scoped
federated types) per federated object: the md5 of its template and of its overrides as Go's JSON encoder
writes them, and the version of the object in each member cluster (``gen:N`` or ``rv:X``). Our services do
not need it (decisions carry their own hashes), and writing it costs one host write per change, so it is
off by default. Tools written against KubeFed read it, KubeFed's own e2e suite first of all.

The hashes are pure functions below; :class:`VersionRecorder` merges per-cluster versions into the record
on the host (the record itself is the memory, so a restarted scheduler loses nothing) and writes it only
when it changed. Its owner reference to the federated object lets the garbage collector remove it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from services.scheduler._state import FederatedType
from shared.errors import AlreadyExistsError, ConflictError, NotFoundError
from shared.k8s import KubeClient, Resource
from shared.messages import REMOVED_OPS, ClusterOutcome
from shared.telemetry import get_logger

__all__ = ["VersionRecorder", "override_hash", "propagated_version_name", "template_hash"]

log = get_logger(__name__)

PROPAGATED_VERSIONS = Resource("core.kubefed.io", "v1alpha1", "propagatedversions", kind="PropagatedVersion")
CLUSTER_PROPAGATED_VERSIONS = Resource(
    "core.kubefed.io",
    "v1alpha1",
    "clusterpropagatedversions",
    namespaced=False,
    kind="ClusterPropagatedVersion",
)
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _sorted(value: Any) -> Any:
    """``value`` with every map's keys in sorted order (Go encodes maps sorted, structs in field order)."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def go_json(value: Any) -> bytes:
    """What Go's ``json.NewEncoder(w).Encode`` writes: no spaces, ``<>&`` and U+2028/9 escaped, a trailing
    newline. Dict order is kept, so maps must be passed through :func:`_sorted` and structs built in field
    order."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in _GO_ESCAPES.items():
        text = text.replace(raw, escaped)
    return (text + "\n").encode()


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()  # KubeFed's choice of hash


def template_hash(fed: Mapping[str, Any]) -> str:
    """KubeFed's GetTemplateHash: md5 of ``spec.template`` ("" without one)."""
    template = (fed.get("spec") or {}).get("template")
    if not isinstance(template, dict):
        return ""
    return _md5(go_json(_sorted(template)))


def _override_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """GenericOverrideItem in Go's field order: clusterName, clusterOverrides (omitempty) of {op
    (omitempty), path, value (omitempty)}."""
    out: dict[str, Any] = {"clusterName": item.get("clusterName", "")}
    overrides = []
    for o in item.get("clusterOverrides") or []:
        entry: dict[str, Any] = {}
        if o.get("op"):
            entry["op"] = o["op"]
        entry["path"] = o.get("path", "")
        if o.get("value") is not None:
            entry["value"] = _sorted(o["value"])
        overrides.append(entry)
    if overrides:
        out["clusterOverrides"] = overrides
    return out


def override_hash(fed: Mapping[str, Any]) -> str:
    """KubeFed's GetOverrideHash: md5 of ``{"overrides": spec.overrides}`` ("" without a spec)."""
    spec = fed.get("spec")
    if not isinstance(spec, dict):
        return ""
    items = [_override_item(i) for i in spec.get("overrides") or []]
    return _md5(go_json({"overrides": items or None}))


def propagated_version_name(target_kind: str, name: str) -> str:
    return f"{target_kind.lower()}-{name}"


def merge_cluster_versions(
    old: list[Mapping[str, Any]], outcomes: Mapping[str, ClusterOutcome], placed: set[str]
) -> list[dict[str, str]]:
    """The record's clusterVersions after these outcomes: a success sets the cluster's version, a removal
    drops it, anything else keeps what was recorded; clusters no longer placed are dropped. Sorted by
    cluster, as KubeFed sorts them."""
    versions = {str(v.get("clusterName")): str(v.get("version")) for v in old if v.get("clusterName")}
    for cluster, o in outcomes.items():
        if o.op in REMOVED_OPS and not o.status:
            versions.pop(cluster, None)
        elif o.version and not o.status:
            versions[cluster] = o.version
    return [{"clusterName": c, "version": versions[c]} for c in sorted(versions) if c in placed]


class VersionRecorder:
    """Writes one PropagatedVersion per federated object from the outcomes the status writer merges."""

    def __init__(self, host: KubeClient) -> None:
        self.host = host

    async def record(
        self,
        fed_type: FederatedType,
        fed: Mapping[str, Any],
        outcomes: Mapping[str, ClusterOutcome],
        placed: set[str],
    ) -> None:
        meta = fed.get("metadata") or {}
        is_namespace = fed_type.target.kind == "Namespace" and fed_type.target.group == ""
        version_resource = (
            PROPAGATED_VERSIONS if fed_type.resource.namespaced else CLUSTER_PROPAGATED_VERSIONS
        )
        namespace = (
            (meta.get("name") if is_namespace else meta.get("namespace"))
            if fed_type.resource.namespaced
            else None
        )
        name = propagated_version_name(fed_type.target.kind, meta.get("name", ""))
        for _attempt in range(3):
            existing = await self.host.get_or_none(version_resource, name, namespace)
            old = (existing or {}).get("status") or {}
            status = {
                "templateVersion": template_hash(fed),
                "overridesVersion": override_hash(fed),
                "clusterVersions": merge_cluster_versions(old.get("clusterVersions") or [], outcomes, placed),
            }
            if existing is not None and status == {**{"clusterVersions": []}, **old}:
                return
            try:
                if existing is None:
                    existing = await self.host.create(
                        version_resource,
                        {
                            "apiVersion": version_resource.api_version,
                            "kind": version_resource.kind,
                            "metadata": {
                                "name": name,
                                **({"namespace": namespace} if namespace else {}),
                                "ownerReferences": [
                                    {
                                        "apiVersion": fed.get("apiVersion", ""),
                                        "kind": fed.get("kind", ""),
                                        "name": meta.get("name", ""),
                                        "uid": meta.get("uid", ""),
                                    }
                                ],
                            },
                        },
                        namespace,
                    )
                await self.host.replace(
                    version_resource, {**existing, "status": status}, subresource="status"
                )
                return
            except (ConflictError, AlreadyExistsError):
                continue
            except NotFoundError:
                return  # the namespace (or the federated object) is going away
        log.info("PropagatedVersion kept conflicting", propagatedVersion=f"{namespace or ''}/{name}")
