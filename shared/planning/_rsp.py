"""ReplicaSchedulingPreference: KubeFed's replica planner and its inputs/outputs (§2.7).

``plan_replicas`` reproduces ``pkg/controller/util/planner/planner.go`` step by step so a
given RSP spreads replicas exactly as KubeFed would (users' capacity plans depend on it):

1. each candidate takes its own preference, else ``"*"``, else gets 0 and is left out;
2. order by weight descending, ties broken by the FNV-32 (not 32a) hash of
   ``clusterName + key`` ascending (``key`` is ``"<namespace>/<name>"``);
3. every cluster first receives ``min(minReplicas, remaining, capacity)``;
4. with ``rebalance=False`` a cluster running more than planned pre-allocates up to
   ``min(current, maxReplicas, capacity)``, bounded by what remains;
5. rounds of weighted distribution (``ceil(remainingAtRoundStart * weight / weightSum)``,
   consuming pre-allocation first, capped by maxReplicas and capacity, the excess above
   capacity recorded as ``overflow``) until nothing remains or nothing changes;
6. with ``rebalance=False`` each overflow is trimmed to the replicas left unplaced.

Opt-in beyond KubeFed, ``capacity_aware=True``: KubeFed already hands the replicas a full
cluster cannot run to the other weighted clusters, yet still reports the full excess as
overflow, which the scheduler adds on top of the plan, so the federation runs more than
``totalReplicas``. In capacity-aware mode overflow is limited to the replicas nobody could
take (given out in preference order), so plan + overflow sums to ``totalReplicas``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

REPLICAS_PATH = "/spec/replicas"
_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


@dataclass(frozen=True)
class ClusterPreference:
    """One entry of ``spec.clusters`` of a ReplicaSchedulingPreference."""

    min_replicas: int = 0
    max_replicas: int | None = None
    weight: int = 0


def fnv32(data: bytes) -> int:
    """FNV-1 32-bit hash (Go's ``hash/fnv.New32``): multiply, then xor."""
    h = _FNV32_OFFSET
    for byte in data:
        h = (h * _FNV32_PRIME) & 0xFFFFFFFF
        h ^= byte
    return h


def _cap(value: int, limit: int | None) -> int:
    return value if limit is None else min(value, limit)


def plan_replicas(
    *,
    total: int,
    preferences: Mapping[str, ClusterPreference],
    clusters: Sequence[str],
    key: str,
    current: Mapping[str, int] | None = None,
    capacity: Mapping[str, int] | None = None,
    rebalance: bool = True,
    capacity_aware: bool = False,
) -> tuple[dict[str, int], dict[str, int]]:
    """Split ``total`` replicas over ``clusters``; returns ``(plan, overflow)``."""
    prefs = dict(preferences) or {"*": ClusterPreference(weight=1)}
    current = current or {}
    capacity = capacity or {}
    plan: dict[str, int] = {}
    overflow: dict[str, int] = {}
    ordered: list[tuple[str, ClusterPreference]] = []
    for name in dict.fromkeys(clusters):
        pref = prefs.get(name) or prefs.get("*")
        if pref is None:
            plan[name] = 0
        else:
            ordered.append((name, pref))
    ordered.sort(key=lambda np: (-np[1].weight, fnv32((np[0] + key).encode("utf-8"))))

    remaining = total
    for name, pref in ordered:
        first = _cap(min(pref.min_replicas, remaining), capacity.get(name))
        remaining -= first
        plan[name] = first

    preallocated: dict[str, int] = {}
    if not rebalance:
        for name, pref in ordered:
            planned = plan[name]
            count = current.get(name)
            if count is not None and count > planned:
                target = _cap(_cap(count, pref.max_replicas), capacity.get(name))
                extra = max(min(target - planned, remaining), 0)
                remaining -= extra
                preallocated[name] = extra
                plan[name] = planned + extra

    open_prefs = ordered
    modified = True
    while modified and remaining > 0:
        modified = False
        weight_sum = sum(p.weight for _, p in open_prefs)
        if weight_sum <= 0:
            break
        still_open: list[tuple[str, ClusterPreference]] = []
        at_round_start = remaining
        for name, pref in open_prefs:
            # Weight-0 clusters stay in the loop with no extra, as in KubeFed; that matters
            # only when minReplicas > maxReplicas, where the loop trims them down to max.
            start = plan[name]
            extra = min(-(-at_round_start * pref.weight // weight_sum), remaining)
            used_prealloc = min(extra, preallocated.get(name, 0))
            preallocated[name] = preallocated.get(name, 0) - used_prealloc
            extra -= used_prealloc
            if used_prealloc > 0:
                modified = True
            new_total = start + extra
            full = False
            if pref.max_replicas is not None and new_total > pref.max_replicas:
                new_total = pref.max_replicas
                full = True
            cap = capacity.get(name)
            if cap is not None and new_total > cap:
                overflow[name] = new_total - cap
                new_total = cap
                full = True
            if not full:
                still_open.append((name, pref))
            remaining -= new_total - start
            plan[name] = new_total
            if new_total > start:
                modified = True
        open_prefs = still_open

    if capacity_aware:
        trimmed: dict[str, int] = {}
        left = max(remaining, 0)
        for name, _ in ordered:
            take = min(overflow.get(name, 0), left)
            if take > 0:
                trimmed[name] = take
                left -= take
        overflow = trimmed
    elif not rebalance:
        overflow = {n: min(v, remaining) for n, v in overflow.items() if min(v, remaining) > 0}
    return plan, overflow


def scheduling_result(
    plan: Mapping[str, int], overflow: Mapping[str, int], *, clusters_with_objects: Sequence[str] = ()
) -> dict[str, int]:
    """KubeFed's per-cluster result: 0 for clusters holding an object, + plan, + overflow."""
    result = dict.fromkeys(clusters_with_objects, 0)
    for name, n in plan.items():
        result[name] = result.get(name, 0) + n
    for name, n in overflow.items():
        result[name] = result.get(name, 0) + n
    return result


def rsp_preferences_from_spec(spec: Mapping[str, Any]) -> dict[str, ClusterPreference]:
    """Decode ``spec.clusters`` of an RSP (an empty map means ``{"*": weight 1}``)."""
    raw = spec.get("clusters") or {}
    if not isinstance(raw, Mapping):
        raise ValueError("spec.clusters must be an object")
    prefs: dict[str, ClusterPreference] = {}
    for name, entry in raw.items():
        entry = entry or {}
        max_replicas = entry.get("maxReplicas")
        prefs[str(name)] = ClusterPreference(
            min_replicas=int(entry.get("minReplicas") or 0),
            max_replicas=None if max_replicas is None else int(max_replicas),
            weight=int(entry.get("weight") or 0),
        )
    return prefs or {"*": ClusterPreference(weight=1)}


def _pod_condition(pod: Mapping[str, Any], ctype: str) -> Mapping[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(cond, Mapping) and cond.get("type") == ctype:
            return cond
    return None


def count_running_ready(pods: Sequence[Mapping[str, Any]]) -> int:
    """KubeFed's "current" count: Running pods with a Ready condition (status not checked)."""
    return sum(
        1
        for pod in pods
        if (pod.get("status") or {}).get("phase") == "Running" and _pod_condition(pod, "Ready") is not None
    )


def _parse_time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def estimate_capacity(
    *,
    replicas: int,
    pods: Sequence[Mapping[str, Any]],
    now: float,
    unschedulable_after: float = 60.0,
) -> tuple[int | None, bool]:
    """Estimate a member's capacity from its pods (§2.7 step 3).

    Pods that are not Running and carry ``PodScheduled=False`` reason ``Unschedulable`` for
    longer than ``unschedulable_after`` seconds reduce capacity to ``replicas - unschedulable``.
    Younger ones ask for a recheck instead (KubeFed retries after 10 s).

    Returns:
        ``(capacity or None if unconstrained, needs_recheck)``.
    """
    unschedulable = 0
    recheck = False
    for pod in pods:
        if (pod.get("status") or {}).get("phase") == "Running":
            continue
        cond = _pod_condition(pod, "PodScheduled")
        if cond is None or cond.get("status") != "False" or cond.get("reason") != "Unschedulable":
            continue
        since = _parse_time(cond.get("lastTransitionTime"))
        if since is not None and now - since > unschedulable_after:
            unschedulable += 1
        else:
            recheck = True
    if unschedulable > 0:
        return max(replicas - unschedulable, 0), recheck
    return None, recheck


def _matches_labels(pod: Mapping[str, Any], match_labels: Mapping[str, Any]) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in match_labels.items())


def member_replica_state(
    *,
    workload: Mapping[str, Any],
    pods: Sequence[Mapping[str, Any]],
    now: float,
    unschedulable_after: float = 60.0,
) -> tuple[int, int | None, bool]:
    """Current replicas and capacity of one member Deployment/ReplicaSet (§2.7 step 3).

    When ``spec.replicas`` equals ``status.readyReplicas`` the pods are not looked at.
    Otherwise the pods are filtered by ``spec.selector.matchLabels`` only (KubeFed ignores
    matchExpressions) and counted with :func:`count_running_ready` and
    :func:`estimate_capacity`.

    Returns:
        ``(current, capacity or None, needs_recheck)``.
    """
    spec = workload.get("spec") or {}
    replicas = int(spec.get("replicas") or 0)
    ready = int((workload.get("status") or {}).get("readyReplicas") or 0)
    if replicas == ready:
        return ready, None, False
    match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    selected = [pod for pod in pods if _matches_labels(pod, match_labels)]
    capacity, recheck = estimate_capacity(
        replicas=replicas, pods=selected, now=now, unschedulable_after=unschedulable_after
    )
    return count_running_ready(selected), capacity, recheck


def apply_rsp_result(fed_obj: Mapping[str, Any], result: Mapping[str, int]) -> dict[str, Any] | None:
    """Write a scheduling result into a federated object's spec, KubeFed's way.

    ``spec.placement.clusters`` becomes the result's clusters when the set differs
    (clusterSelector is left as is, shadowed); each result cluster gets a ``/spec/replicas``
    override (updated in place when present), clusters outside the result lose theirs, and
    all other overrides are kept. Returns the new spec, or ``None`` if nothing changed.
    """
    old_spec = fed_obj.get("spec") or {}
    spec: dict[str, Any] = copy.deepcopy(dict(old_spec))
    placement = dict(spec.get("placement") or {})
    existing = {c.get("name") for c in placement.get("clusters") or [] if isinstance(c, Mapping)}
    if existing != set(result):
        placement["clusters"] = [{"name": n} for n in sorted(result)]
        spec["placement"] = placement

    overrides: list[dict[str, Any]] = [dict(o) for o in spec.get("overrides") or [] if isinstance(o, Mapping)]
    seen: set[str] = set()
    new_overrides: list[dict[str, Any]] = []
    for entry in overrides:
        name = str(entry.get("clusterName") or "")
        ops = [dict(op) for op in entry.get("clusterOverrides") or []]
        if name in result:
            seen.add(name)
            for op in ops:
                if op.get("path") == REPLICAS_PATH:
                    op["value"] = result[name]
                    break
            else:
                ops.append({"path": REPLICAS_PATH, "value": result[name]})
        else:
            ops = [op for op in ops if op.get("path") != REPLICAS_PATH]
        entry["clusterOverrides"] = ops
        new_overrides.append(entry)
    for name in sorted(set(result) - seen):
        new_overrides.append(
            {"clusterName": name, "clusterOverrides": [{"path": REPLICAS_PATH, "value": result[name]}]}
        )
    if new_overrides or "overrides" in spec:
        spec["overrides"] = new_overrides
    return None if spec == old_spec else spec
