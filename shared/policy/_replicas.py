"""How many replicas each selected cluster runs: Karmada's ``replicaScheduling`` on KubeFed's planner.

* No ``replicaScheduling``, or ``replicaSchedulingType: Duplicated``: every cluster runs the template's
  replicas (``None`` is returned: nothing to divide).
* ``Divided`` (also a ``replicaScheduling`` without a type, Karmada's default) with ``Weighted``
  (or no preference):

  - ``weightPreference.dynamicWeight: AvailableReplicas`` (wins over a static list, as in Karmada):
    each cluster's weight is the number of replicas it can still run (``available``); clusters that
    can run none get none, and if all of them together cannot run the replicas the division fails;
  - ``staticWeightList``: a cluster's weight is the highest weight among the entries whose
    ``targetCluster`` matches it; clusters no entry matches get no replicas; if no cluster has a
    weight, all weigh the same;
  - no weightPreference: all weigh the same.

  The replicas are then split by :func:`shared.planning.plan_replicas`, KubeFed's RSP planner (the
  same rounding as Karmada in proportion; a remainder replica goes by KubeFed's FNV order, where
  Karmada's goes to the alphabetically first of equally weighted clusters). Clusters that get no
  replica are left out of the result, as Karmada leaves them out of the placement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from shared.karmada_api import ReplicaSchedulingStrategy
from shared.planning import ClusterPreference, plan_replicas

from ._clusters import PolicyCluster, cluster_matches

__all__ = ["ReplicaDivisionError", "divide_replicas", "is_divided"]


class ReplicaDivisionError(ValueError):
    """The replicas cannot be divided as the policy asks (e.g. not enough available replicas)."""


def is_divided(strategy: ReplicaSchedulingStrategy | None) -> bool:
    return strategy is not None and strategy.replicaSchedulingType != "Duplicated"


def _static_weights(strategy: ReplicaSchedulingStrategy, clusters: Sequence[PolicyCluster]) -> dict[str, int]:
    entries = strategy.weightPreference.staticWeightList if strategy.weightPreference else None
    if not entries:
        return {c.name: 1 for c in clusters}
    weights = {
        c.name: max((e.weight for e in entries if cluster_matches(e.targetCluster, c)), default=0)
        for c in clusters
    }
    if not any(weights.values()):
        return {c.name: 1 for c in clusters}
    return weights


def divide_replicas(
    strategy: ReplicaSchedulingStrategy | None,
    replicas: int,
    clusters: Sequence[PolicyCluster],
    *,
    key: str,
    available: Mapping[str, int] | None = None,
) -> dict[str, int] | None:
    """Replicas per selected cluster (``clusters``: the candidates), or None when duplicated.

    ``key`` is ``"<namespace>/<name>"`` (the planner's tie-break); ``available`` is the number of
    replicas each cluster can still run, needed for ``dynamicWeight: AvailableReplicas``.

    Raises:
        ReplicaDivisionError: dynamic weights without ``available``, or too few available replicas.
    """
    if not is_divided(strategy):
        return None
    assert strategy is not None
    if not clusters:
        return {}
    if replicas <= 0:
        return {c.name: 0 for c in clusters}
    capacity: dict[str, int] | None = None
    if (
        strategy.weightPreference is not None
        and strategy.weightPreference.dynamicWeight == "AvailableReplicas"
    ):
        if available is None:
            raise ReplicaDivisionError(
                "dynamicWeight AvailableReplicas needs the clusters' available replicas"
            )
        capacity = {c.name: max(0, available.get(c.name, 0)) for c in clusters}
        if sum(capacity.values()) < replicas:
            raise ReplicaDivisionError(
                f"{replicas} replicas wanted, {sum(capacity.values())} available "
                f"in clusters {sorted(capacity)}"
            )
        weights = capacity
    else:
        weights = _static_weights(strategy, clusters)
    prefs = {name: ClusterPreference(weight=w) for name, w in weights.items() if w > 0}
    plan, _overflow = plan_replicas(
        total=replicas,
        preferences=prefs,
        clusters=sorted(prefs),
        key=key,
        capacity=capacity,
        capacity_aware=capacity is not None,
    )
    return {name: n for name, n in sorted(plan.items()) if n > 0}
