"""Why a federated object is (not) in each cluster, what changed between two decisions, who changed it.

The reasons travel with every decision into the per-object history (``kubefed.history.…``) that
``kubefedctl explain`` prints; they restate the placement rules of :mod:`._placement` (KubeFed's
``ComputePlacement``: ``clusters`` beats ``clusterSelector``, an absent placement selects nothing, the
FederatedNamespace's placement narrows namespaced objects) one cluster at a time. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._placement import ClusterInfo
from ._selectors import SelectorError, match_label_selector

__all__ = ["decision_changes", "last_manager", "placement_reasons"]


def _selector_text(selector: Mapping[str, Any]) -> str:
    labels = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    exprs = [
        f"{e.get('key')} {e.get('operator')} {list(e.get('values') or [])}"
        for e in selector.get("matchExpressions") or []
        if isinstance(e, Mapping)
    ]
    return ", ".join(labels + exprs) or "{} (every cluster)"


def placement_reasons(
    placement: Mapping[str, Any] | None,
    clusters: Sequence[ClusterInfo],
    *,
    selected: frozenset[str],
    namespace_placement: frozenset[str] | None = None,
    namespace_rule: bool = False,
    error: str = "",
) -> dict[str, str]:
    """One sentence per cluster saying why it is in ``selected`` (the decision's clusters) or not.

    ``namespace_rule`` says the FederatedNamespace's placement (``namespace_placement``, None = the
    namespace is not federated) narrowed the object.
    """
    reasons: dict[str, str] = {}
    explicit = (placement or {}).get("clusters")
    selector = (placement or {}).get("clusterSelector")
    listed = (
        {e.get("name") for e in explicit or [] if isinstance(e, Mapping)} if explicit is not None else set()
    )
    for cluster in sorted(clusters, key=lambda c: c.name):
        name = cluster.name
        if error:
            rule, matched = f"placement invalid: {error}", False
        elif not placement:
            rule, matched = "no spec.placement: selects no cluster", False
        elif explicit is not None:
            matched = name in listed
            rule = "listed in spec.placement.clusters" if matched else "not listed in spec.placement.clusters"
            if selector is not None:
                rule += " (clusters beats clusterSelector)"
        elif isinstance(selector, Mapping):
            try:
                matched = match_label_selector(selector, cluster.labels)
            except SelectorError as exc:
                rule, matched = f"clusterSelector invalid: {exc}", False
            else:
                verb = "match" if matched else "do not match"
                rule = f"labels {verb} clusterSelector {_selector_text(selector)}"
        else:
            rule, matched = "no clusterSelector: selects no cluster", False
        if matched and name not in selected:
            if namespace_rule and namespace_placement is None:
                rule += "; but the namespace is not federated"
            elif namespace_rule:
                rule += "; but not in the FederatedNamespace's placement"
            else:
                rule += "; but left out"
        if name in selected and not cluster.ready:
            rule += " (cluster not Ready: status ClusterNotReady until it is)"
        reasons[name] = rule
    return reasons


def last_manager(obj: Mapping[str, Any]) -> tuple[str, str]:
    """``(manager, operation)`` of the most recent ``metadata.managedFields`` entry that changed the
    object itself ("" when none).

    Entries of a subresource (``subresource: status``: our own status writes) changed no field a
    decision reads, and their time is only to the second: a status write in the same second as the
    change would otherwise be named as its author (a real kube-apiserver orders equal times by manager
    name, not by when they wrote). Entries carry a ``time`` (RFC 3339, so string order is time order);
    the latest wins, ties go to the later entry."""
    best: tuple[str, int] = ("", -1)
    found = ("", "")
    for index, entry in enumerate((obj.get("metadata") or {}).get("managedFields") or []):
        if not isinstance(entry, Mapping) or entry.get("subresource"):
            continue
        stamp = (str(entry.get("time") or ""), index)
        if stamp >= best:
            best = stamp
            found = (str(entry.get("manager") or ""), str(entry.get("operation") or ""))
    return found


def decision_changes(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """What changed between two decision summaries (``clusters``, ``replicas``, ``template``,
    ``overrides`` per cluster, ``generation``, ``evicted``), as short sentences; the first decision
    says so and lists what it placed."""
    if previous is None:
        first = ["first decision"]
        replicas = dict(current.get("replicas") or {})
        if replicas:
            first.append("replicas " + ", ".join(f"{c}={n}" for c, n in sorted(replicas.items())))
        elif current.get("clusters"):
            first.append("clusters " + ", ".join(sorted(current.get("clusters") or [])))
        return first
    out: list[str] = []
    before, after = set(previous.get("clusters") or []), set(current.get("clusters") or [])
    if after - before:
        out.append("clusters added: " + ", ".join(sorted(after - before)))
    if before - after:
        out.append("clusters removed: " + ", ".join(sorted(before - after)))
    old_r, new_r = dict(previous.get("replicas") or {}), dict(current.get("replicas") or {})
    moved = [
        f"{c} {old_r.get(c, 0)}→{new_r.get(c, 0)}"
        for c in sorted(set(old_r) | set(new_r))
        if old_r.get(c, 0) != new_r.get(c, 0)
    ]
    if moved:
        out.append("replicas " + ", ".join(moved))
    if previous.get("template") != current.get("template"):
        out.append("template changed")
    old_o, new_o = dict(previous.get("overrides") or {}), dict(current.get("overrides") or {})
    touched = sorted(c for c in set(old_o) | set(new_o) if old_o.get(c) != new_o.get(c))
    if touched:
        out.append("overrides changed for " + ", ".join(touched))
    evicted = sorted(set(current.get("evicted") or []) - set(previous.get("evicted") or []))
    if evicted:
        out.append("evicted: " + ", ".join(evicted))
    back = sorted(set(previous.get("evicted") or []) - set(current.get("evicted") or []))
    if back:
        out.append("eviction ended: " + ", ".join(back))
    returned = sorted(set(current.get("returned") or []) - set(previous.get("returned") or []))
    if returned:
        out.append("Ready again after eviction: " + ", ".join(returned))
    if not out and previous.get("generation") != current.get("generation"):
        out.append(
            f"no change in placement (generation {previous.get('generation')}→{current.get('generation')})"
        )
    return out or ["no change in placement"]
