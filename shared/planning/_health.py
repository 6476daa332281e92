"""Member-cluster health: probe result → KubeFedCluster conditions (contract §2.2).

Condition sets are KubeFed's (``pkg/controller/kubefedcluster/clusterclient.go``), all
stamped with the probe time:

* unreachable → ``Offline=True`` ``ClusterNotReachable`` "cluster is not reachable"
  (the probe error is appended after ": ", as in v0.9.2+); no Ready condition;
* reachable, body not ``ok`` → ``Ready=False`` ``ClusterNotReady`` "/healthz responded without
  ok" and ``Offline=False`` ``ClusterReachable`` "cluster is reachable";
* ``ok`` → ``Ready=True`` ``ClusterReady`` "/healthz responded with ok";
* client cannot be built → ``ConfigMalformed=True`` ``ClusterConfigMalformed``
  "cluster's configuration may be malformed".

Threshold smoothing and the quirk we deliberately fix: KubeFed's ``resultRun`` counts
probes since the last *reported* change, whatever the probes said, so a cluster that has
been Ready for three or more probes is reported not-ready on its very first failed probe,
and alternating results can flip it back and forth. We implement what the thresholds are
documented to mean: a readiness change is reported only after ``failure_threshold``
(resp. ``success_threshold``) *consecutive* probes disagree with the reported state. Here
``ClusterHealth.run`` is the length of that streak of disagreeing probes (0 when the last
probe agreed). Set ``HealthThresholds(kubefed_run_counting=True)`` to get KubeFed's exact
behaviour, where ``run`` is KubeFed's ``resultRun``.

Held results keep the previous conditions with only ``lastProbeTime`` refreshed; when a new
result is reported but readiness is unchanged, the previous ``lastTransitionTime`` is kept.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

CLUSTER_READY_REASON = "ClusterReady"
HEALTHZ_OK_MSG = "/healthz responded with ok"
CLUSTER_NOT_READY_REASON = "ClusterNotReady"
HEALTHZ_NOT_OK_MSG = "/healthz responded without ok"
CLUSTER_NOT_REACHABLE_REASON = "ClusterNotReachable"
CLUSTER_NOT_REACHABLE_MSG = "cluster is not reachable"
CLUSTER_REACHABLE_REASON = "ClusterReachable"
CLUSTER_REACHABLE_MSG = "cluster is reachable"
CLUSTER_CONFIG_MALFORMED_REASON = "ClusterConfigMalformed"
CLUSTER_CONFIG_MALFORMED_MSG = "cluster's configuration may be malformed"


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one ``GET /healthz`` against a member cluster."""

    reachable: bool
    healthy: bool
    error: str = ""
    config_malformed: bool = False


@dataclass(frozen=True)
class HealthThresholds:
    """``KubeFedConfig.spec.clusterHealthCheck`` thresholds."""

    failure_threshold: int = 3
    success_threshold: int = 1
    kubefed_run_counting: bool = False


@dataclass(frozen=True)
class ClusterHealth:
    """What is reported in ``KubeFedCluster.status.conditions`` plus the smoothing counter."""

    conditions: tuple[dict[str, Any], ...]
    ready: bool
    run: int


def _condition(ctype: str, status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {
        "type": ctype,
        "status": status,
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def probe_conditions(probe: ProbeResult, now: str) -> tuple[dict[str, Any], ...]:
    """The raw (unsmoothed) conditions KubeFed derives from one probe."""
    if probe.config_malformed:
        return (
            _condition(
                "ConfigMalformed", "True", CLUSTER_CONFIG_MALFORMED_REASON, CLUSTER_CONFIG_MALFORMED_MSG, now
            ),
        )
    if not probe.reachable:
        msg = f"{CLUSTER_NOT_REACHABLE_MSG}: {probe.error}" if probe.error else CLUSTER_NOT_REACHABLE_MSG
        return (_condition("Offline", "True", CLUSTER_NOT_REACHABLE_REASON, msg, now),)
    if not probe.healthy:
        return (
            _condition("Ready", "False", CLUSTER_NOT_READY_REASON, HEALTHZ_NOT_OK_MSG, now),
            _condition("Offline", "False", CLUSTER_REACHABLE_REASON, CLUSTER_REACHABLE_MSG, now),
        )
    return (_condition("Ready", "True", CLUSTER_READY_REASON, HEALTHZ_OK_MSG, now),)


def conditions_ready(conditions: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> bool:
    """KubeFed's ``IsClusterReady``: a ``Ready`` condition with status True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _with_time(conditions: tuple[dict[str, Any], ...], key: str, value: Any) -> tuple[dict[str, Any], ...]:
    out = []
    for c in conditions:
        c2 = copy.deepcopy(c)
        c2[key] = value
        out.append(c2)
    return tuple(out)


def _transition_time(previous: ClusterHealth) -> Any:
    return previous.conditions[0].get("lastTransitionTime") if previous.conditions else None


def _kubefed(previous: ClusterHealth, fresh: ClusterHealth, th: HealthThresholds, now: str) -> ClusterHealth:
    threshold = th.success_threshold if fresh.ready else th.failure_threshold
    if previous.run < threshold:
        reported = ClusterHealth(_with_time(previous.conditions, "lastProbeTime", now), previous.ready, 0)
    elif fresh.ready == previous.ready:
        conditions = _with_time(fresh.conditions, "lastTransitionTime", _transition_time(previous))
        reported = ClusterHealth(conditions, fresh.ready, 0)
    else:
        reported = fresh
    run = previous.run + 1 if reported.ready == previous.ready else 1
    return ClusterHealth(reported.conditions, reported.ready, run)


def next_cluster_health(
    previous: ClusterHealth | None,
    probe: ProbeResult,
    thresholds: HealthThresholds,
    now: str,
) -> ClusterHealth:
    """Fold one probe into the reported health of a member cluster."""
    conditions = probe_conditions(probe, now)
    fresh = ClusterHealth(conditions, conditions_ready(conditions), 0)
    if previous is None:
        return ClusterHealth(fresh.conditions, fresh.ready, 1 if thresholds.kubefed_run_counting else 0)
    if thresholds.kubefed_run_counting:
        return _kubefed(previous, fresh, thresholds, now)
    if fresh.ready == previous.ready:
        # Same readiness: report the fresh conditions (reasons may differ, e.g. Offline vs
        # ConfigMalformed) but keep the time of the last readiness transition.
        kept = _with_time(fresh.conditions, "lastTransitionTime", _transition_time(previous))
        return ClusterHealth(kept, fresh.ready, 0)
    streak = previous.run + 1
    threshold = thresholds.success_threshold if fresh.ready else thresholds.failure_threshold
    if streak >= threshold:
        return ClusterHealth(fresh.conditions, fresh.ready, 0)
    held = _with_time(previous.conditions, "lastProbeTime", now)
    return ClusterHealth(held, previous.ready, streak)
