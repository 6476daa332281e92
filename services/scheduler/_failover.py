"""Failover of divided replicas, the I/O side: readiness times, the fleet-wide budget, Events.

The decisions are :func:`shared.planning.plan_failover` (pure); this keeps what must outlive one
reconcile in this process — the eviction budget (token bucket, fleet-wide per scheduler replica) and the
first time a cluster without a ``lastTransitionTime`` was seen not Ready — and turns a plan into Events
on the federated object: ``ReplicasEvicted`` (Warning) for each eviction, ``ClusterReturned`` for an
evicted cluster Ready again, ``FailoverSuspended`` (Warning, once per episode) while the unhealthy
fraction guard holds evictions back. The clock is injectable so tests need not wait 300 seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from services.scheduler._events import build_event
from shared.kubefed_api import KubeFedConfigSpec
from shared.planning import (
    ClusterInfo,
    ClusterReadiness,
    EvictionBudget,
    FailoverPlan,
    decode_evictions,
    failover_settings,
    placed_replicas,
    plan_failover,
)
from shared.timefmt import now_rfc3339

__all__ = ["Failover", "failover_events"]


class Failover:
    """Plans failover for RSPs; one per scheduler process (the budget is fleet-wide)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.budget = EvictionBudget(per_minute=30)
        self._first_seen: dict[str, float] = {}
        self._suspended: set[tuple[str, str]] = set()

    def plan(
        self,
        *,
        fed: Mapping[str, Any],
        rsp_spec: Mapping[str, Any],
        config: KubeFedConfigSpec | None,
        clusters: Sequence[ClusterInfo],
        observed_current: Mapping[str, int],
        reserve: bool = True,
    ) -> FailoverPlan:
        """Plan failover for one RSP; with ``reserve`` evictions take their tokens from the budget at once
        (a preview reserves nothing)."""
        now = self.clock()
        fleet = msgspec.to_builtins(config) if config is not None else {}
        settings = failover_settings(fleet, rsp_spec)
        self.budget.per_minute = settings.evictions_per_minute
        readiness: list[ClusterReadiness] = []
        for cluster in clusters:
            since = cluster.not_ready_since
            if cluster.ready:
                self._first_seen.pop(cluster.name, None)
            elif since is None:
                since = self._first_seen.setdefault(cluster.name, now)
            readiness.append(ClusterReadiness(name=cluster.name, ready=cluster.ready, not_ready_since=since))
        plan = plan_failover(
            clusters=readiness,
            placed=placed_replicas(fed),
            previous=decode_evictions((fed.get("metadata") or {}).get("annotations")),
            observed_current=observed_current,
            settings=settings,
            rebalance=bool(rsp_spec.get("rebalance")),
            budget=self.budget.available(now),
            now=now,
            budget_wait=self.budget.wait(now),
        )
        if plan.evict and reserve:
            self.budget.take(len(plan.evict), now)
        return plan

    def announce_guard(self, key: tuple[str, str], holds: bool) -> bool:
        """True the first time the guard holds for ``key`` in an episode."""
        if not holds:
            self._suspended.discard(key)
            return False
        if key in self._suspended:
            return False
        self._suspended.add(key)
        return True


def failover_events(
    fed: dict[str, Any],
    plan: FailoverPlan,
    *,
    placed: Mapping[str, int],
    result: Mapping[str, int],
    rebalance: bool,
    guard_announced: bool,
    traceparent: str,
) -> list[dict[str, Any]]:
    """The Events of one failover plan on the federated object ``fed`` (pure but for the timestamp)."""
    now = now_rfc3339()
    split = ", ".join(f"{c}={n}" for c, n in sorted(result.items()) if n > 0) or "no cluster"
    events: list[dict[str, Any]] = []
    for cluster in plan.evict:
        record = plan.evictions[cluster]
        message = (
            f"Cluster {cluster} {record.reason}: its {placed.get(cluster, 0)} replicas are planned onto the "
            f"remaining clusters ({split})"
        )
        events.append(build_event(fed, "ReplicasEvicted", "Warning", message, traceparent, now))
    for cluster in plan.returned:
        if rebalance:
            message = (
                f"Cluster {cluster} is Ready again; rebalance is set, replicas are planned back ({split})"
            )
        else:
            message = (
                f"Cluster {cluster} is Ready again; rebalance is not set, replicas stay where they are "
                f"({split})"
            )
        events.append(build_event(fed, "ClusterReturned", "Normal", message, traceparent, now))
    if guard_announced:
        held = sorted(c for c, r in plan.reasons.items() if "eviction suspended" in r)
        message = (
            f"{plan.reasons[held[0]]}; replicas stay on {', '.join(held)}" if held else "eviction suspended"
        )
        events.append(build_event(fed, "FailoverSuspended", "Warning", message, traceparent, now))
    return events
