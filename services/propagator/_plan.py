"""What to do for one object in one member cluster (pure): KubeFed's dispatch rules.

Inputs are the decision, the live managed object (from the cluster's label-selected cache) and the
cluster's readiness; the output is one :class:`Action`. The async shell executes it and handles the
API's answers (AlreadyExists → adopt or refuse, Conflict → retry).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from shared.messages import PlacementDecision
from shared.planning import (
    APPLY_OVERRIDES_FAILED,
    CLUSTER_NOT_READY,
    WAITING_FOR_REMOVAL,
    OverridesError,
    needs_write,
    render_for_cluster,
)

__all__ = ["UNCHANGED", "Action", "kept_decision", "plan", "render", "render_fingerprint"]

ActionKind = Literal["create", "update", "delete", "unlabel", "report"]


@dataclass(frozen=True)
class Action:
    """One step for one (object, cluster); ``report`` only reports ``status``/``op``."""

    kind: ActionKind
    desired: dict[str, Any] | None = None
    status: str = ""
    op: str = ""
    message: str = ""


UNCHANGED = Action("report", op="unchanged")


def kept_decision(decision: PlacementDecision, trace: dict[str, str]) -> PlacementDecision:
    """The decision as the propagator keeps it until the next one: with this process's trace context,
    and its cluster names interned. A decision names every placed cluster and each decoded message
    has its own copy of every name: at 1,000 members that was 1,000 strings (about 55 KB) per object."""
    return msgspec.structs.replace(decision, trace=trace, clusters=[sys.intern(c) for c in decision.clusters])


_overrides_encoder = msgspec.msgpack.Encoder(order="deterministic")


def render_fingerprint(decision: PlacementDecision, cluster: str) -> tuple[str, bytes] | None:
    """What :func:`render` for ``cluster`` depends on besides the live object: the decision's hash
    (its template, overrides, target and retention settings, ``decision_hash``) and the cluster's own
    overrides. Members without overrides share one fingerprint. None when the decision has no hash."""
    if not decision.template_hash:
        return None
    overrides = decision.overrides.get(cluster)
    return (decision.template_hash, _overrides_encoder.encode(overrides) if overrides else b"")


def render(decision: PlacementDecision, cluster: str, live: dict[str, Any] | None) -> dict[str, Any]:
    """The object this cluster should have; raises OverridesError."""
    t = decision.target
    return render_for_cluster(
        decision.template,
        decision.overrides.get(cluster, []),
        api_version=str(decision.template.get("apiVersion") or t.api_version),
        kind=t.kind,
        name=decision.key.name,
        namespace=decision.key.namespace if t.namespaced else None,
        live=live,
        retain_replicas=decision.retain_replicas,
    )


def plan(
    decision: PlacementDecision,
    cluster: str,
    live: dict[str, Any] | None,
    *,
    cluster_ready: bool,
    host_namespace: bool = False,
    verified: bool = False,
) -> Action:
    """Decide the action for ``cluster``; ``live`` is the managed object or None.

    ``verified``: the caller knows that ``live`` is what this decision renders for ``cluster`` (this
    plan said "unchanged" for the same decision and an object of the same content before), so it is
    not rendered and compared again."""
    placed = cluster in decision.clusters and not decision.deleting
    if not cluster_ready:
        if placed or (decision.deleting and cluster in decision.clusters):
            return Action(
                "report", status=CLUSTER_NOT_READY, op="skipped", message=f'cluster "{cluster}" is not ready'
            )
        return Action("report", op="skipped")
    if placed:
        error = decision.cluster_errors.get(cluster)
        if error:
            status, _, message = error.partition(": ")
            return Action("report", status=status or APPLY_OVERRIDES_FAILED, op="failed", message=message)
        if verified and live is not None:
            return UNCHANGED
        try:
            desired = render(decision, cluster, live)
        except OverridesError as exc:
            return Action("report", status=APPLY_OVERRIDES_FAILED, op="failed", message=str(exc))
        if live is None:
            return Action("create", desired=desired)
        if needs_write(desired, live):
            return Action("update", desired=desired)
        return UNCHANGED
    if live is None:
        return Action("report", op="absent")
    if (live.get("metadata") or {}).get("deletionTimestamp"):
        return Action("report", status=WAITING_FOR_REMOVAL, op="deleting")
    if decision.orphan or host_namespace:
        return Action("unlabel")
    return Action("delete")
