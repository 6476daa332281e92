"""Aggregated status of a native resource template from its members' statuses (pure).

As Karmada's default resource interpreter (``AggregateStatus``) does for the common kinds, written
back to the template's ``status`` on the host; the per-cluster breakdown goes beside it
(:data:`MEMBER_STATUS_ANNOTATION`, a JSON object by cluster) because built-in status schemas have no
room for it.

* Deployment, StatefulSet, DaemonSet: the replica counters are summed; ``observedGeneration`` is the
  template's generation once every member reported and each member's controller has observed its
  own latest generation, otherwise it is left out (the caller keeps the previous value).
* Job: ``active``/``succeeded``/``failed`` summed; ``startTime`` the earliest; condition ``Complete``
  once every member completed (``completionTime`` the latest), ``Failed`` as soon as one failed,
  naming the clusters.
* Service (type LoadBalancer) and Ingress: ``status.loadBalancer.ingress`` is every member's entries,
  cluster by cluster in name order, without duplicates.

A member that has not reported (``None``) counts as zero and holds back ``observedGeneration`` and
Job completion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = ["AGGREGATED_KINDS", "MEMBER_STATUS_ANNOTATION", "aggregate_status", "breakdown_annotation"]

MEMBER_STATUS_ANNOTATION = "kubefed.io/member-status"

_COUNTERS: dict[str, tuple[str, ...]] = {
    "Deployment": (
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
    ),
    "StatefulSet": ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"),
    "DaemonSet": (
        "currentNumberScheduled",
        "desiredNumberScheduled",
        "numberAvailable",
        "numberMisscheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberUnavailable",
    ),
    "Job": ("active", "succeeded", "failed"),
}
AGGREGATED_KINDS = frozenset({*_COUNTERS, "Service", "Ingress"})

Member = Mapping[str, Any] | None


def _status(member: Member) -> Mapping[str, Any]:
    return (member or {}).get("status") or {}


def _caught_up(member: Member) -> bool:
    if member is None:
        return False
    generation = (member.get("metadata") or {}).get("generation")
    observed = _status(member).get("observedGeneration")
    return generation is None or (isinstance(observed, int) and observed >= generation)


def _condition(status: Mapping[str, Any], ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in status.get("conditions") or ())


def _job(members: Mapping[str, Member], status: dict[str, Any]) -> None:
    starts = [s["startTime"] for s in map(_status, members.values()) if s.get("startTime")]
    if starts:
        status["startTime"] = min(starts)
    failed = sorted(c for c, m in members.items() if _condition(_status(m), "Failed"))
    complete = bool(members) and all(
        m is not None and _condition(_status(m), "Complete") for m in members.values()
    )
    conditions = []
    if failed:
        conditions.append(
            {
                "type": "Failed",
                "status": "True",
                "reason": "JobFailed",
                "message": f"Job executed failed in member cluster {', '.join(failed)}",
            }
        )
    elif complete:
        conditions.append(
            {"type": "Complete", "status": "True", "reason": "Completed", "message": "Job completed"}
        )
        ends = [s["completionTime"] for s in map(_status, members.values()) if s.get("completionTime")]
        if ends:
            status["completionTime"] = max(ends)
    if conditions:
        status["conditions"] = conditions


def _ingress(member: Member) -> list[dict[str, Any]]:
    entries = (_status(member).get("loadBalancer") or {}).get("ingress") or []
    return [dict(e) for e in entries if isinstance(e, Mapping)]


def aggregate_status(
    kind: str, members: Mapping[str, Member], *, template_generation: int | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``(status for the template, per-cluster breakdown)``; ``members``: member object by cluster.

    Raises:
        ValueError: ``kind`` is not one of :data:`AGGREGATED_KINDS`.
    """
    if kind not in AGGREGATED_KINDS:
        raise ValueError(f"no status aggregation for kind {kind!r}")
    status: dict[str, Any] = {}
    breakdown: dict[str, dict[str, Any]] = {}
    if kind in ("Service", "Ingress"):
        seen: list[dict[str, Any]] = []
        for cluster in sorted(members):
            entries = _ingress(members[cluster])
            breakdown[cluster] = {"ingress": entries} if members[cluster] is not None else {}
            seen.extend(e for e in entries if e not in seen)
        if seen:
            status["loadBalancer"] = {"ingress": seen}
        return status, breakdown
    counters = _COUNTERS[kind]
    for name in counters:
        status[name] = sum(int(_status(m).get(name) or 0) for m in members.values())
    for cluster in sorted(members):
        member_status = _status(members[cluster])
        breakdown[cluster] = (
            {n: int(member_status.get(n) or 0) for n in counters} if members[cluster] is not None else {}
        )
    if kind == "Job":
        _job(members, status)
    elif template_generation is not None and members and all(map(_caught_up, members.values())):
        status["observedGeneration"] = template_generation
    return status, breakdown


def breakdown_annotation(breakdown: Mapping[str, Mapping[str, Any]]) -> str:
    """The per-cluster breakdown as the compact, key-sorted JSON stored in the annotation."""
    return msgspec.json.encode({c: dict(sorted(v.items())) for c, v in sorted(breakdown.items())}).decode()
