"""From a federated object and the cluster set to a :class:`PlacementDecision` (pure).

KubeFed's sync controller interleaves this with member I/O; here it is one function of host state
only: placement (``clusters`` beats ``clusterSelector``, intersected with existing clusters and with
the FederatedNamespace's placement), overrides grouped and validated per cluster, and the deletion
mode (orphan annotation, delete options). Member-dependent steps (retention, adoption) happen in the
propagators, which have the live objects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from shared.messages import ObjectKey, PlacementDecision, TargetType
from shared.planning import (
    APPLY_OVERRIDES_FAILED,
    COMPUTE_PLACEMENT_FAILED,
    ClusterInfo,
    OverridesError,
    SelectorError,
    apply_overrides,
    compute_placement,
    content_hash,
    is_orphaning,
    narrow_by_namespace,
    object_for_cluster,
    parse_delete_options,
    parse_overrides,
)

__all__ = ["HASH_EXCLUDED", "SYSTEM_NAMESPACES", "decide", "decision_hash", "target_from_ftc"]

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "default"})


def target_from_ftc(ftc: Mapping[str, Any]) -> TargetType:
    """The target type of a FederatedTypeConfig, with KubeFed's defaulting from its name."""
    spec = ftc.get("spec") or {}
    t = spec.get("targetType") or {}
    name = (ftc.get("metadata") or {}).get("name", "")
    plural, _, group = name.partition(".")
    return TargetType(
        group=t.get("group", group) or "",
        version=t.get("version") or "v1",
        kind=t.get("kind") or "",
        plural=t.get("pluralName") or plural,
        namespaced=(t.get("scope") or "Namespaced") == "Namespaced",
    )


# Decision fields that are bookkeeping, not something a propagator acts on. Every other field of
# PlacementDecision is hashed, so a field added later reaches the propagators unless it is listed here.
HASH_EXCLUDED = frozenset(
    {
        "schema",  # the message's schema version
        "key",  # the subject already names the object
        "generation",  # advances observedGeneration; republished on its own (Reconciler._publish)
        "source_rv",  # for people only: resourceVersions are opaque
        "template_hash",  # the hash itself
        "decided_at",  # latency measurement
        "trace",  # trace context
    }
)


def decision_hash(d: PlacementDecision) -> str:
    """What must change for propagators to act: every field except :data:`HASH_EXCLUDED`.

    The source object's UID and the host's identity are part of it: a new object under an old name, or
    the same name on another host, is re-verified in every member and gets status of its own.
    """
    hashed = {f: getattr(d, f) for f in d.__struct_fields__ if f not in HASH_EXCLUDED}
    return content_hash(msgspec.to_builtins(hashed))


def decide(
    *,
    fed: Mapping[str, Any],
    key: ObjectKey,
    target: TargetType,
    clusters: Sequence[ClusterInfo],
    namespace_placement: frozenset[str] | None,
    namespaced_scope: bool,
    adopt: bool,
    collect_status: bool,
    previous: PlacementDecision | None,
    trace: dict[str, str],
    host_uid: str = "",
) -> PlacementDecision:
    """Decide placement, overrides and deletion mode for one federated object of host ``host_uid``."""
    meta = fed.get("metadata") or {}
    spec = fed.get("spec") or {}
    deleting = bool(meta.get("deletionTimestamp"))
    reason = ""
    try:
        placement = compute_placement(spec.get("placement"), clusters)
    except SelectorError:
        placement, reason = frozenset(), COMPUTE_PLACEMENT_FAILED
    if target.kind != "Namespace" and target.namespaced and not reason:
        placement, ns_reason = narrow_by_namespace(
            placement, namespace_placement, namespaced_scope=namespaced_scope
        )
        reason = reason or ns_reason
    if target.kind == "Namespace" and key.name in SYSTEM_NAMESPACES:
        placement = frozenset()
    errors: dict[str, str] = {}
    overrides: dict[str, list[dict[str, Any]]] = {}
    template = dict(spec.get("template") or {})
    try:
        grouped = parse_overrides(spec.get("overrides"))
    except OverridesError as exc:
        errors = {c: f"{APPLY_OVERRIDES_FAILED}: {exc}" for c in placement}
    else:
        overrides = {c: ops for c, ops in grouped.items() if c in placement}
        probe = object_for_cluster(
            template,
            api_version=target.api_version,
            kind=target.kind,
            name=key.name,
            namespace=key.namespace if target.namespaced else None,
        )
        for cluster, ops in overrides.items():
            try:
                apply_overrides(probe, ops)
            except OverridesError as exc:
                errors[cluster] = f"{APPLY_OVERRIDES_FAILED}: {exc}"
    try:
        delete_options = (
            parse_delete_options((meta.get("annotations") or {}).get("kubefed.io/deleteoption")) or None
        )
    except ValueError:
        delete_options = None
    targets = placement
    if deleting:
        targets = placement | frozenset(previous.clusters if previous else ())
    return PlacementDecision(
        key=key,
        target=target,
        template=template,
        clusters=sorted(targets),
        overrides=overrides,
        cluster_errors=errors,
        retain_replicas=bool(spec.get("retainReplicas")),
        adopt=adopt,
        deleting=deleting,
        orphan=deleting and is_orphaning(fed),
        delete_options=delete_options,
        collect_status=collect_status,
        generation=int(meta.get("generation") or 0),
        source_rv=str(meta.get("resourceVersion") or ""),
        source_uid=str(meta.get("uid") or ""),
        host_uid=host_uid,
        aggregate_reason=reason,
        trace=trace,
    )
