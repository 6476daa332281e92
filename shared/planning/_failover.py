"""Cluster failover for divided replicas (RSP): which not-Ready clusters lose their replicas, and when.

Beyond KubeFed, whose replica scheduler drops a cluster from the plan the moment it is not Ready.
Modelled on Karmada's taint-based eviction (``--default-not-ready-toleration-seconds=300``,
``--resource-eviction-rate``, ``--unhealthy-cluster-threshold``):

- a member that is not Ready keeps its share for ``toleration`` seconds (from the ``lastTransitionTime``
  of its ``Ready`` condition): a short blip moves nothing;
- after that its replicas are planned onto the remaining clusters (*evicted*), at most as many
  evictions as the fleet-wide :class:`EvictionBudget` allows; the rest wait and are retried;
- no eviction at all while more than ``max_unhealthy_fraction`` of the clusters is not Ready: a
  partition that large is more likely the control plane's own network (the *guard*);
- an evicted cluster that is Ready again becomes a candidate again; with ``rebalance`` the planner
  spreads replicas back at once, without it the replicas stay where they went (its stale replica count
  is read as 0 until the member has none left, so KubeFed's "keep what runs" pre-allocation does not
  hand them back).

Evictions are remembered in :data:`EVICTIONS_ANNOTATION` on the federated object (a restart forgets
nothing). Everything here is pure: ``now`` is an argument.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "EVICTIONS_ANNOTATION",
    "ClusterReadiness",
    "EvictionBudget",
    "EvictionRecord",
    "FailoverPlan",
    "FailoverSettings",
    "decode_evictions",
    "encode_evictions",
    "failover_settings",
    "not_ready_since",
    "placed_replicas",
    "plan_failover",
]

EVICTIONS_ANNOTATION = "scheduling.kubefed.io/evicted-clusters"

DEFAULT_TOLERATION = 300.0
DEFAULT_EVICTIONS_PER_MINUTE = 30  # Karmada's --resource-eviction-rate 0.5/s
DEFAULT_MAX_UNHEALTHY_PERCENT = 55  # Karmada's --unhealthy-cluster-threshold 0.55


@dataclass(frozen=True)
class FailoverSettings:
    """Failover parameters of one RSP (KubeFedConfig ``spec.failover``, RSP ``spec.failover``)."""

    toleration: float = DEFAULT_TOLERATION
    evictions_per_minute: int = DEFAULT_EVICTIONS_PER_MINUTE
    max_unhealthy_fraction: float = DEFAULT_MAX_UNHEALTHY_PERCENT / 100


def _number(section: Mapping[str, Any], key: str, default: float) -> float:
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value)


def failover_settings(config_spec: Mapping[str, Any], rsp_spec: Mapping[str, Any]) -> FailoverSettings:
    """The settings of one RSP: KubeFedConfig ``spec.failover`` defaults, RSP ``spec.failover`` overrides
    ``tolerationSeconds``. Fields: ``tolerationSeconds``, ``evictionsPerMinute``,
    ``maxUnhealthyClusterPercent`` (the CRD schemas bound them)."""
    fleet = config_spec.get("failover")
    fleet = fleet if isinstance(fleet, Mapping) else {}
    own = rsp_spec.get("failover")
    own = own if isinstance(own, Mapping) else {}
    toleration = _number(fleet, "tolerationSeconds", DEFAULT_TOLERATION)
    toleration = _number(own, "tolerationSeconds", toleration)
    return FailoverSettings(
        toleration=max(toleration, 0.0),
        evictions_per_minute=max(int(_number(fleet, "evictionsPerMinute", DEFAULT_EVICTIONS_PER_MINUTE)), 1),
        max_unhealthy_fraction=min(
            max(_number(fleet, "maxUnhealthyClusterPercent", DEFAULT_MAX_UNHEALTHY_PERCENT), 0.0), 100.0
        )
        / 100,
    )


@dataclass(frozen=True)
class ClusterReadiness:
    """A member as failover sees it: Ready or not, and since when not (epoch seconds; None = unknown)."""

    name: str
    ready: bool
    not_ready_since: float | None = None


@dataclass(frozen=True)
class EvictionRecord:
    """One cluster whose replicas were moved away: when, why, and whether it has been Ready since."""

    at: float
    reason: str
    returned: bool = False


def decode_evictions(annotations: Mapping[str, Any] | None) -> dict[str, EvictionRecord]:
    """The evictions remembered on a federated object (a malformed annotation reads as none)."""
    raw = (annotations or {}).get(EVICTIONS_ANNOTATION) or ""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    out: dict[str, EvictionRecord] = {}
    for cluster, entry in data.items() if isinstance(data, dict) else ():
        if not isinstance(entry, dict):
            continue
        try:
            out[str(cluster)] = EvictionRecord(
                at=float(entry["at"]),
                reason=str(entry.get("reason") or ""),
                returned=bool(entry.get("returned")),
            )
        except (KeyError, TypeError, ValueError):
            continue
    return out


def encode_evictions(evictions: Mapping[str, EvictionRecord]) -> str | None:
    """The annotation value for ``evictions`` (None removes the annotation)."""
    if not evictions:
        return None
    return json.dumps(
        {
            c: {"at": r.at, "reason": r.reason, **({"returned": True} if r.returned else {})}
            for c, r in sorted(evictions.items())
        },
        sort_keys=True,
    )


@dataclass
class EvictionBudget:
    """The fleet-wide eviction rate limit: a token bucket refilled at ``per_minute`` (burst 1).

    Stateful but clock-free: the caller passes ``now`` (seconds, any monotonic origin)."""

    per_minute: int
    tokens: float = 1.0
    updated: float | None = None

    def available(self, now: float) -> int:
        self._refill(now)
        return int(self.tokens)

    def take(self, count: int, now: float) -> None:
        self._refill(now)
        self.tokens = max(self.tokens - count, 0.0)

    def wait(self, now: float) -> float:
        """Seconds until the next token."""
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) * 60.0 / self.per_minute

    def _refill(self, now: float) -> None:
        if self.updated is not None and now > self.updated:
            self.tokens = min(1.0, self.tokens + (now - self.updated) * self.per_minute / 60.0)
        self.updated = now if self.updated is None else max(self.updated, now)


@dataclass(frozen=True)
class FailoverPlan:
    """What failover decided for one RSP.

    ``candidates`` are the clusters the replica planner may use; ``evict`` the clusters evicted now
    (each is one Event and takes one token of the budget); ``returned`` evicted clusters seen Ready
    again now (one Event each); ``zero_current`` clusters whose replica count the planner must read as
    0; ``assumed_current`` the replica counts the planner must read instead of the observed ones (None:
    the observed ones); ``reasons`` why each cluster is (not) a candidate; ``evictions`` the record to
    keep; ``recheck_after`` when to look again (toleration ending, budget refilled), None = no need.
    """

    candidates: tuple[str, ...]
    evict: tuple[str, ...] = ()
    returned: tuple[str, ...] = ()
    zero_current: frozenset[str] = frozenset()
    assumed_current: Mapping[str, int] | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)
    evictions: Mapping[str, EvictionRecord] = field(default_factory=dict)
    recheck_after: float | None = None
    guard_holds: bool = False


def _soonest(current: float | None, value: float) -> float:
    return value if current is None else min(current, value)


def plan_failover(
    *,
    clusters: Sequence[ClusterReadiness],
    placed: Mapping[str, int],
    previous: Mapping[str, EvictionRecord],
    observed_current: Mapping[str, int],
    settings: FailoverSettings,
    rebalance: bool,
    budget: int,
    now: float,
    budget_wait: float = 0.0,
) -> FailoverPlan:
    """Decide candidates and evictions (pure).

    Args:
        clusters: every member cluster with its readiness.
        placed: replicas each cluster holds in the federated object's current plan.
        previous: evictions remembered on the federated object.
        observed_current: running replicas per cluster as the propagators last observed them.
        settings: toleration, rate, guard.
        rebalance: the RSP's ``spec.rebalance``.
        budget: evictions the fleet-wide rate limit allows now.
        now: the current time (epoch seconds, the clock of ``not_ready_since``).
        budget_wait: seconds until the budget has a token again (for ``recheck_after``).
    """
    names = {c.name for c in clusters}
    unhealthy = [c for c in clusters if not c.ready]
    fraction = len(unhealthy) / len(clusters) if clusters else 0.0
    guard = fraction > settings.max_unhealthy_fraction
    guard_text = (
        f"{len(unhealthy)}/{len(clusters)} clusters not Ready, more than "
        f"{settings.max_unhealthy_fraction:.0%}: eviction suspended"
    )
    candidates: list[str] = []
    evict: list[str] = []
    returned: list[str] = []
    zero: set[str] = set()
    reasons: dict[str, str] = {}
    evictions: dict[str, EvictionRecord] = {c: r for c, r in previous.items() if c in names}
    recheck: float | None = None
    stay_where_they_went = False
    for cluster in sorted(clusters, key=lambda c: c.name):
        name = cluster.name
        record = evictions.get(name)
        if cluster.ready:
            candidates.append(name)
            if record is None:
                reasons[name] = "cluster Ready"
                continue
            if not record.returned:
                returned.append(name)
            if rebalance:
                del evictions[name]
                reasons[name] = "Ready again after eviction: rebalance brings replicas back"
                continue
            stay_where_they_went = True
            if observed_current.get(name, 0) > 0:
                evictions[name] = EvictionRecord(at=record.at, reason=record.reason, returned=True)
                zero.add(name)
                reasons[name] = "Ready again after eviction: no rebalance, its old replicas count as 0"
            else:
                del evictions[name]
                reasons[name] = "Ready again after eviction: no rebalance, replicas stay where they went"
            continue
        if record is not None:
            if record.returned:  # not Ready again before its old replicas were gone: still evicted
                evictions[name] = EvictionRecord(at=record.at, reason=record.reason)
            reasons[name] = f"evicted: {record.reason}"
            continue
        if placed.get(name, 0) <= 0:
            reasons[name] = "not Ready and holds no replicas"
            continue
        since = cluster.not_ready_since if cluster.not_ready_since is not None else now
        left = since + settings.toleration - now
        if left > 0:
            candidates.append(name)
            reasons[name] = f"not Ready for {now - since:.0f}s, tolerated for {settings.toleration:.0f}s"
            recheck = _soonest(recheck, left)
        elif guard:
            candidates.append(name)
            reasons[name] = guard_text
        elif budget > len(evict):
            evict.append(name)
            reason = (
                f"not Ready for {now - since:.0f}s, longer than the toleration of {settings.toleration:.0f}s"
            )
            evictions[name] = EvictionRecord(at=now, reason=reason)
            reasons[name] = f"evicted: {reason}"
        else:
            candidates.append(name)
            reasons[name] = "eviction waits for the fleet-wide eviction rate limit"
            recheck = _soonest(recheck, max(budget_wait, 0.1))
    # without rebalance the replicas stay where the eviction put them: the plan on the object, not the
    # observations, which lag it (a survivor not yet seen scaled up would read as having room, and the
    # returned cluster would get replicas back)
    assumed = None
    if stay_where_they_went:
        assumed = {c: 0 if c in zero else max(placed.get(c, 0), 0) for c in candidates}
    return FailoverPlan(
        candidates=tuple(candidates),
        evict=tuple(evict),
        returned=tuple(returned),
        zero_current=frozenset(zero),
        assumed_current=assumed,
        reasons=reasons,
        evictions=evictions,
        recheck_after=recheck,
        guard_holds=guard and any(reasons[c.name] == guard_text for c in unhealthy),
    )


def not_ready_since(kfc: Mapping[str, Any]) -> float | None:
    """When a KubeFedCluster stopped being Ready (epoch seconds); None when it is Ready or the time is
    unknown. KubeFed's health check replaces the conditions as a whole (an unreachable cluster has only
    ``Offline``, an unhealthy one ``Ready=False``) and keeps their ``lastTransitionTime`` while readiness
    does not change, so the first condition's time is when the cluster left Ready."""
    conditions = [c for c in (kfc.get("status") or {}).get("conditions") or [] if isinstance(c, Mapping)]
    if not conditions or any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
        return None
    value = conditions[0].get("lastTransitionTime")
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def placed_replicas(fed: Mapping[str, Any]) -> dict[str, int]:
    """Replicas per cluster in a federated object's current plan: its ``/spec/replicas`` override for
    each cluster of ``spec.placement.clusters`` (a cluster placed without one counts as holding some)."""
    spec = fed.get("spec") or {}
    placement = spec.get("placement") or {}
    placed = {
        str(c.get("name")): 1
        for c in placement.get("clusters") or []
        if isinstance(c, Mapping) and c.get("name")
    }
    for entry in spec.get("overrides") or []:
        if not isinstance(entry, Mapping) or entry.get("clusterName") not in placed:
            continue
        for op in entry.get("clusterOverrides") or []:
            if (
                isinstance(op, Mapping)
                and op.get("path") == "/spec/replicas"
                and op.get("op") in (None, "replace", "add")
            ):
                try:
                    placed[str(entry["clusterName"])] = int(op.get("value") or 0)
                except (TypeError, ValueError):
                    pass
    return placed
